"""What the intake reads from a Zoho delivery: the item's id and SKU, or why it is not an item."""

from __future__ import annotations

import json

import pytest

from app.integrations.zoho.webhooks import as_digest, item_of, sign, verify


@pytest.mark.parametrize(("body", "expected"), [
    ({"item": {"item_id": "460000000012345", "sku": "MUG-1"}}, ("460000000012345", "MUG-1")),
    ({"item_id": " 460000000012345 ", "sku": ""}, ("460000000012345", None)),  # a bare item, padded id
    ({"item": {"item_id": 42, "sku": 7}}, ("42", "7")),
    ({"item": {"item_id": "1", "sku": "S" * 300}}, ("1", "S" * 200)),
    ({"item": {"name": "no id"}}, (None, None)),
    ({"item": {"item_id": "12-34"}}, (None, "the item_id is not a Zoho id")),
    ({"item": {"item_id": "9" * 65}}, (None, "the item_id is not a Zoho id")),
    (["not", "an", "object"], (None, None)),
])
def test_the_item_of_a_delivery(body: object, expected: tuple[str | None, str | None]) -> None:
    assert item_of(json.dumps(body).encode()) == expected


def test_a_body_that_is_not_json_says_so() -> None:
    assert item_of(b"item_id=1") == (None, "the body is not JSON")


def test_the_signature_covers_the_sorted_query_then_the_body() -> None:
    body = b'{"item": {"item_id": "1"}}'
    signature = sign("s3cret", [("b", "2"), ("a", "1")], body)
    assert as_digest(signature.upper()) == signature.encode()
    assert verify("s3cret", [("a", "1"), ("b", "2")], body, signature)
    assert not verify("s3cret", [("a", "1")], body, signature)
    assert not verify("other", [("a", "1"), ("b", "2")], body, signature)
