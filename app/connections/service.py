"""Connections: create, read, change and remove, with credentials encrypted at rest.

Two rules guard where a connection's secrets go. A store or Zoho URL must be an allowed target
(app/integrations/targets.py: in production, public addresses only). And a change that points a
section somewhere else (`REPOINTING`) must carry that section's stored secrets again: the stored
ones were given for the old address, and whoever holds the API token must not be able to send
them to a host of their choosing. Either refusal is the API's usual 422 naming the fields.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.links import clear_reconnect, link_state
from app.connections.schemas import (
    REDACTED,
    ConnectionCreate,
    ConnectionRead,
    ConnectionSettings,
    ConnectionUpdate,
    WooRead,
    ZohoRead,
)
from app.core.crypto import Keyring
from app.core.errors import NotFound
from app.integrations.targets import TargetPolicy, TargetRefused
from app.models import Connection

SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "zoho": ("client_id", "client_secret", "refresh_token"),
    "woocommerce": ("consumer_key", "consumer_secret", "wp_application_password"),
}
PLAIN_COLUMNS: dict[str, dict[str, str | None]] = {
    "zoho": {"organization_id": "zoho_organization_id", "data_center": "zoho_data_center",
             "api_base_url": "zoho_api_base_url", "accounts_base_url": "zoho_accounts_base_url"},
    "woocommerce": {"base_url": "store_base_url", "verify_tls": "store_verify_tls", "wp_username": None},
}
# Fields whose change re-points a section (verify_tls too: without it, anyone on the path could
# pose as the store), and the URLs the target policy checks.
REPOINTING = {"zoho": ("data_center", "api_base_url", "accounts_base_url"), "woocommerce": ("base_url", "verify_tls")}
# The secrets a re-pointing change must carry again, when stored (client_id alone opens nothing).
REPOINT_SECRETS = {"zoho": ("client_secret", "refresh_token"),
                   "woocommerce": ("consumer_key", "consumer_secret", "wp_application_password")}
TARGET_URLS = {"zoho": ("api_base_url", "accounts_base_url"), "woocommerce": ("base_url",)}


async def create_connection(session: AsyncSession, data: ConnectionCreate, *, keyring: Keyring,
                            targets: TargetPolicy) -> Connection:
    """Store a new connection; secrets go into the encrypted blob only, sealed for its id (so
    the id is chosen here, not at flush)."""
    _refuse(await _target_problems(data, targets))
    credentials = _collect_secrets(data.zoho, "zoho") | _collect_secrets(data.woocommerce, "woocommerce")
    credentials["wp_username"] = data.woocommerce.wp_username
    connection_id = uuid.uuid4()
    connection = Connection(
        id=connection_id,
        name=data.name,
        zoho_organization_id=data.zoho.organization_id,
        zoho_data_center=data.zoho.data_center,
        zoho_api_base_url=_url(data.zoho.api_base_url),
        zoho_accounts_base_url=_url(data.zoho.accounts_base_url),
        store_base_url=_url(data.woocommerce.base_url) or "",
        store_verify_tls=data.woocommerce.verify_tls,
        credentials=keyring.seal(credentials, connection_id=connection_id, purpose="credentials"),
        settings=data.settings.model_dump(mode="json"),
    )
    session.add(connection)
    await session.flush()
    await session.refresh(connection)
    return connection


async def create_unlinked(session: AsyncSession, *, name: str, store_url: str, platform: str, keyring: Keyring,
                          targets: TargetPolicy) -> Connection:
    """A connection with a name, a store URL and a platform only, to be linked by signing in
    (app/connections/links.py): no Zoho grant, no store keys, default settings. A store URL the
    target policy refuses is the usual 422 naming `woocommerce.base_url`."""
    url = _url(store_url) or ""
    try:
        await targets.check_url(url)
    except TargetRefused as exc:
        raise _invalid([("woocommerce.base_url", str(exc))]) from exc
    connection_id = uuid.uuid4()
    connection = Connection(
        id=connection_id, name=name, zoho_organization_id=None, zoho_data_center="com", platform=platform,
        store_base_url=url, store_verify_tls=True,
        credentials=keyring.seal({}, connection_id=connection_id, purpose="credentials"),
        settings=ConnectionSettings().model_dump(mode="json"),
    )
    session.add(connection)
    await session.flush()
    await session.refresh(connection)
    return connection


async def get_connection(session: AsyncSession, connection_id: uuid.UUID) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise NotFound(f"connection {connection_id} does not exist")
    return connection


async def list_connections(session: AsyncSession) -> list[Connection]:
    return list((await session.scalars(select(Connection).order_by(Connection.created_at))).all())


async def update_connection(session: AsyncSession, connection: Connection, data: ConnectionUpdate, *,
                            keyring: Keyring, targets: TargetPolicy) -> Connection:
    """Apply a partial update; settings sent are merged into the current settings. Nothing
    changes when any part is refused."""
    credentials = credentials_of(connection, keyring=keyring)
    _refuse(_missing_secrets(connection, credentials, data) + await _target_problems(data, targets))
    settings = _merged_settings(connection, data)
    if data.name is not None:
        connection.name = data.name
    for section in ("zoho", "woocommerce"):
        patch = getattr(data, section)
        if patch is not None:
            _apply_section(connection, credentials, section, patch)
    if data.zoho is not None and "refresh_token" in data.zoho.model_fields_set:
        clear_reconnect(connection)  # a new grant, typed in: Zoho is asked again at the next run
    connection.credentials = keyring.seal(credentials, connection_id=connection.id, purpose="credentials")
    connection.settings = settings
    await session.flush()
    await session.refresh(connection)
    return connection


async def delete_connection(session: AsyncSession, connection: Connection) -> None:
    await session.delete(connection)
    await session.flush()


def connection_settings(connection: Connection) -> ConnectionSettings:
    return ConnectionSettings.model_validate(connection.settings)


def credentials_of(connection: Connection, *, keyring: Keyring) -> dict[str, Any]:
    return keyring.open(connection.credentials, connection_id=connection.id, purpose="credentials")


async def store_credentials(session: AsyncSession, connection: Connection, values: dict[str, str], *,
                            keyring: Keyring) -> None:
    """Lay `values` over the connection's sealed credentials: what a connect flow received (a
    store's key, a WordPress application password). Only the credential names manual set-up
    uses are taken, so both ways fill the same fields."""
    known = {name for names in SECRET_FIELDS.values() for name in names} | {"wp_username"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"not a credential: {', '.join(unknown)}")
    credentials = credentials_of(connection, keyring=keyring) | values
    connection.credentials = keyring.seal(credentials, connection_id=connection.id, purpose="credentials")
    await session.flush()


def to_read(connection: Connection, *, keyring: Keyring) -> ConnectionRead:
    """The API view: every secret redacted."""
    credentials = credentials_of(connection, keyring=keyring)
    state = link_state(connection, credentials)
    return ConnectionRead(
        id=connection.id,
        name=connection.name,
        zoho=ZohoRead(
            organization_id=connection.zoho_organization_id,
            organization_name=connection.zoho_organization_name,
            data_center=connection.zoho_data_center,
            api_base_url=connection.zoho_api_base_url,
            accounts_base_url=connection.zoho_accounts_base_url,
            linked=state.zoho_linked,
            needs_reconnect=state.needs_reconnect,
            reconnect_reason=state.reconnect_reason,
            reconnect_since=state.reconnect_since,
        ),
        woocommerce=WooRead(
            base_url=connection.store_base_url,
            verify_tls=connection.store_verify_tls,
            wp_username=credentials.get("wp_username"),
            wp_application_password=REDACTED if credentials.get("wp_application_password") else None,
            linked=state.store_linked,
        ),
        linked=state.zoho_linked and state.store_linked,
        needs_reconnect=state.needs_reconnect,
        settings=connection_settings(connection),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _apply_section(connection: Connection, credentials: dict[str, Any], section: str, patch: BaseModel) -> None:
    """Write the fields sent: secrets and the WordPress user into `credentials`, the rest into
    their columns."""
    sent = patch.model_fields_set
    credentials |= {k: v for k, v in _collect_secrets(patch, section).items() if k in sent}
    for field, column in PLAIN_COLUMNS[section].items():
        if field not in sent:
            continue
        if column is None:
            credentials[field] = getattr(patch, field)
        else:
            setattr(connection, column, _plain_value(patch, field))


def _missing_secrets(connection: Connection, credentials: dict[str, Any],
                     data: ConnectionUpdate) -> list[tuple[str, str]]:
    """The stored secrets that a re-pointing change left out, as (field, problem).

    A value equal to the stored one (URLs compared after normalisation, so a trailing slash is
    no change) does not re-point. A WordPress password sent as null counts as sent: it is
    cleared, so nothing stored goes to the new address.
    """
    problems: list[tuple[str, str]] = []
    for section, fields in REPOINTING.items():
        patch = getattr(data, section)
        sent = patch.model_fields_set if patch is not None else set()
        changed = [f"{section}.{f}" for f in fields
                   if f in sent and _plain_value(patch, f) != getattr(connection, str(PLAIN_COLUMNS[section][f]))]
        if not changed:
            continue
        problem = (f"must be sent again when {' and '.join(changed)} changes, so stored secrets never reach "
                   "a new address")
        problems += [(f"{section}.{secret}", problem) for secret in REPOINT_SECRETS[section]
                     if secret not in sent and credentials.get(secret)]
    return problems


async def _target_problems(data: ConnectionCreate | ConnectionUpdate, targets: TargetPolicy) -> list[tuple[str, str]]:
    """The store and Zoho URLs sent that the target policy refuses, as (field, reason)."""
    problems: list[tuple[str, str]] = []
    for section, fields in TARGET_URLS.items():
        values = getattr(data, section)
        for field in fields:
            url = getattr(values, field, None)
            if url is None:
                continue
            try:
                await targets.check_url(str(url))
            except TargetRefused as exc:
                problems.append((f"{section}.{field}", str(exc)))
    return problems


def _merged_settings(connection: Connection, data: ConnectionUpdate) -> dict[str, Any]:
    """The stored settings with those sent laid over them, validated as a whole."""
    if data.settings is None:
        return connection.settings
    merged = connection.settings | data.settings.model_dump(mode="json", exclude_unset=True)
    try:
        return ConnectionSettings.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:  # a stored value that today's rules refuse, or a rule across fields
        raise _invalid([(".".join(["settings", *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]) from exc


def _refuse(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise _invalid(problems)


def _invalid(problems: list[tuple[str, str]]) -> RequestValidationError:
    """The API's 422 for these (field, problem) pairs: app/main.py lists each field in `fields`."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", *field.split(".")), "msg": message}
                                   for field, message in problems])


def _plain_value(patch: BaseModel, field: str) -> Any:
    value = getattr(patch, field)
    return _url(value) if field.endswith("url") else value


def _collect_secrets(section: Any, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in SECRET_FIELDS[name]:
        value = getattr(section, field, None)
        out[field] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return out


def _url(value: Any) -> str | None:
    return str(value).rstrip("/") if value is not None else None
