"""Connections: create, read, change and remove, with credentials encrypted at rest."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
from app.models import Connection

SECRET_FIELDS = {
    "zoho": ("client_id", "client_secret", "refresh_token"),
    "woocommerce": ("consumer_key", "consumer_secret", "wp_application_password"),
}
PLAIN_COLUMNS = {
    "zoho": {"organization_id": "zoho_organization_id", "data_center": "zoho_data_center",
             "api_base_url": "zoho_api_base_url", "accounts_base_url": "zoho_accounts_base_url"},
    "woocommerce": {"base_url": "woo_base_url", "verify_tls": "woo_verify_tls", "wp_username": None},
}


async def create_connection(session: AsyncSession, data: ConnectionCreate, *, keyring: Keyring) -> Connection:
    """Store a new connection; secrets go into the encrypted blob only, sealed for its id (so
    the id is chosen here, not at flush)."""
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
        woo_base_url=_url(data.woocommerce.base_url) or "",
        woo_verify_tls=data.woocommerce.verify_tls,
        credentials=keyring.seal(credentials, connection_id=connection_id, purpose="credentials"),
        settings=data.settings.model_dump(mode="json"),
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
                            keyring: Keyring) -> Connection:
    """Apply a partial update; settings sent are merged into the current settings."""
    if data.name is not None:
        connection.name = data.name
    credentials = credentials_of(connection, keyring=keyring)
    for section in ("zoho", "woocommerce"):
        patch = getattr(data, section)
        if patch is None:
            continue
        sent = patch.model_dump(exclude_unset=True)
        credentials |= {k: v for k, v in _collect_secrets(patch, section).items() if k in sent}
        for field, column in PLAIN_COLUMNS[section].items():
            if field not in sent:
                continue
            value = getattr(patch, field)
            if column is None:
                credentials[field] = value
            else:
                setattr(connection, column, _url(value) if field.endswith("url") else value)
    connection.credentials = keyring.seal(credentials, connection_id=connection.id, purpose="credentials")
    if data.settings is not None:
        merged = connection.settings | data.settings.model_dump(mode="json", exclude_unset=True)
        connection.settings = ConnectionSettings.model_validate(merged).model_dump(mode="json")
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


def to_read(connection: Connection, *, keyring: Keyring) -> ConnectionRead:
    """The API view: every secret redacted."""
    credentials = credentials_of(connection, keyring=keyring)
    return ConnectionRead(
        id=connection.id,
        name=connection.name,
        zoho=ZohoRead(
            organization_id=connection.zoho_organization_id,
            data_center=connection.zoho_data_center,
            api_base_url=connection.zoho_api_base_url,
            accounts_base_url=connection.zoho_accounts_base_url,
        ),
        woocommerce=WooRead(
            base_url=connection.woo_base_url,
            verify_tls=connection.woo_verify_tls,
            wp_username=credentials.get("wp_username"),
            wp_application_password=REDACTED if credentials.get("wp_application_password") else None,
        ),
        settings=connection_settings(connection),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _collect_secrets(section: Any, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in SECRET_FIELDS[name]:
        value = getattr(section, field, None)
        out[field] = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return out


def _url(value: Any) -> str | None:
    return str(value).rstrip("/") if value is not None else None
