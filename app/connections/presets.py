"""The README's settings presets ("Settings presets"): each is a partial settings object, applied
as a PATCH of `settings` (merged into the stored settings, every other setting kept).

"Ongoing (webhook)" is the settings half of that preset: turning real-time sync on calls Zoho
and is left to the operator (the status page's "Enable real-time sync"), after a manual sync,
as the README recommends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.connections.schemas import ALL_SYNC_FIELDS


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    settings: dict[str, Any]
    then: str  # what the operator does next, in words


_NO_CREATION = {"create_missing_products": False, "create_missing_variations": False}
_ALL_FIELDS = {"create_missing_products": True, "create_missing_variations": True,
               "sync_fields": list(ALL_SYNC_FIELDS)}
PRESETS: tuple[Preset, ...] = (
    Preset("initial-import", "Initial import", {**_ALL_FIELDS, "new_product_status": "draft"},
           "Run a sync, then review the drafts in the store and publish them."),
    Preset("ongoing", "Ongoing (webhook)", {**_ALL_FIELDS, "new_product_status": "publish"},
           "Run a manual sync first, then turn on real-time sync on the status page."),
    Preset("update-only", "Update only", dict(_NO_CREATION),
           "Products and variations not in the store are skipped, with a reason."),
    Preset("stock-only", "Stock only",
           {**_NO_CREATION, "sync_fields": ["stock", "low_stock"]},
           "Quantities and low-stock thresholds only; the SKU is always the match key."),
)


def preset(key: str) -> Preset | None:
    return next((p for p in PRESETS if p.key == key), None)
