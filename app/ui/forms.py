"""Console forms read as the REST API's request bodies, and the API's validation errors placed
back at the form's fields.

A form is turned into the JSON body the API would receive and validated by the API's own
models (app/connections/schemas.py) and service: the console has no rules of its own. Text is
stripped at both ends (a pasted key or token with a trailing space or newline is a mistake,
never a meaning); an empty field is "not sent", so a required one reads "Field required".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from starlette.datastructures import FormData

from app.connections.service import SECRET_FIELDS

# The manual fields of `POST /api/v1/connections`, named by their dotted path in its body.
CONNECTION_FIELDS = ("name", "zoho.data_center", "zoho.organization_id", "zoho.client_id", "zoho.client_secret",
                     "zoho.refresh_token", "zoho.api_base_url", "zoho.accounts_base_url", "woocommerce.base_url",
                     "woocommerce.consumer_key", "woocommerce.consumer_secret", "woocommerce.verify_tls",
                     "woocommerce.wp_username", "woocommerce.wp_application_password")
CHECKBOXES = frozenset({"woocommerce.verify_tls"})
# Never written back into a page: the service's secrets (the API redacts the same ones).
SECRETS = frozenset(f"{section}.{name}" for section, names in SECRET_FIELDS.items() for name in names)
assert SECRETS <= set(CONNECTION_FIELDS)

# A request body's root validator names the value it refused at the front of its message
# (app/api/params.py `storable`): "name: text must not contain a NUL character".
_ROOT_PROBLEM = re.compile(r"^(?:Value error, )?(?P<path>[\w.]+): (?P<msg>.+)$", re.DOTALL)


def text(form: Mapping[str, Any], name: str) -> str:
    """A posted text field, stripped; a missing field or an uploaded file reads as empty."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def connection_body(form: Mapping[str, Any]) -> dict[str, Any]:
    """The add-connection form as the body of `POST /api/v1/connections` (default settings)."""
    body: dict[str, Any] = {"zoho": {}, "woocommerce": {}}
    for name in CONNECTION_FIELDS:
        value: Any = name in form if name in CHECKBOXES else text(form, name)
        if value == "":
            continue
        section, _, field = name.rpartition(".")
        (body[section] if section else body)[field] = value
    return body


def connection_values(form: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the add form shows: the posted fields except the secrets, or the defaults."""
    if form is None:
        return {"zoho.data_center": "com", "woocommerce.verify_tls": True}
    return {name: (name in form if name in CHECKBOXES else text(form, name))
            for name in CONNECTION_FIELDS if name not in SECRETS}


def placed(errors: Iterable[Mapping[str, Any]], fields: Collection[str],
           *, prefix: str = "") -> tuple[dict[str, str], list[str]]:
    """Validation errors (pydantic's, or the service's RequestValidationError) as a message per
    form field, the first per field, plus those no field of the form holds. A location inside a
    field (`sync_fields.0`) belongs to the field; `prefix` is dropped from every location."""
    at: dict[str, str] = {}
    elsewhere: list[str] = []
    for error in errors:
        path = ".".join(str(part) for part in error["loc"] if part != "body")
        message = str(error["msg"]).removeprefix("Value error, ")
        if not path and (root := _ROOT_PROBLEM.match(message)):
            path, message = root["path"], root["msg"]
        path = path.removeprefix(prefix)
        field = next((f for f in sorted(fields, key=len, reverse=True) if path == f or path.startswith(f + ".")), None)
        if field is None:
            elsewhere.append(f"{path}: {message}" if path else message)
        else:
            at.setdefault(field, message)
    return at, elsewhere


def many(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (a group of checkboxes)."""
    return [v.strip() for v in form.getlist(name) if isinstance(v, str)]
