"""Request bodies for Zoho's webhook and workflow-rule endpoints, kept in one place.

Uncertain: Inventory does not document these resources. The webhook body follows the shape a
third party (ECGrid) posts to /inventory/v1/settings/webhooks and Zoho Books v3 documents; the
item entity name ("item") and the workflow rule type for "created or edited" ("add_or_edit")
are inferred, not confirmed. `raw_data: ${JSONString}` asks Zoho to post the whole record.
"""

from __future__ import annotations

from typing import Any

ITEM_ENTITY = "item"
CREATED_OR_EDITED = "add_or_edit"


def webhook_body(name: str, url: str, secret: str) -> dict[str, Any]:
    return {
        "webhook_name": name[:50],
        "entity": ITEM_ENTITY,
        "method": "POST",
        "url": url,
        "headers": [],
        "description": "skubridge real-time sync",
        "query_parameters": [],
        "body_type": "application/json",
        "raw_data": "${JSONString}",
        "form_data": [],
        "secret": secret,
    }


def workflow_body(name: str, webhook_id: str) -> dict[str, Any]:
    return {
        "workflow_name": name[:50],
        "entity": ITEM_ENTITY,
        "rule_type": CREATED_OR_EDITED,
        "apply_rule_always": True,
        "instant_actions": [{"action_type": "webhook", "action_id": webhook_id}],
    }


def id_of(body: dict[str, Any], kind: str) -> str:
    """The new record's id from `{"webhook": {"webhook_id": ...}}` (or the same for workflows)."""
    nested = body.get(kind)
    record: dict[str, Any] = nested if isinstance(nested, dict) else body
    value = record.get(f"{kind}_id") or record.get("id")
    if not value:
        raise ValueError(f"Zoho's answer carries no {kind} id")
    return str(value)
