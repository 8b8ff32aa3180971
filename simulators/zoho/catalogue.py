"""Deterministic Zoho Inventory catalogues for the simulator, the benchmark and the demo.

`generate_catalogue(count, seed=...)` returns plain dicts in Zoho's own field names and types, the
shape a `GET /items/{id}` answer flattens to: string ids, numeric rates and stock, dimensions as
strings with their units, `locations[]` with per-location stock, and timestamps in the org's
`+HHMM` offset format. The same seed always yields the same catalogue (ids, names, stock, times
and image colours), so a benchmark run or a failing test can be replayed exactly.

The module is pure Python apart from Pillow, which renders the small solid-colour item images.
It also holds the few constants the simulator state shares with the generator (demo credentials,
the org's locations and the timestamp format), so neither module imports the other's internals.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# --------------------------------------------------------------------------- shared constants


@dataclass(frozen=True)
class ZohoCredentials:
    """What a skubridge connection needs to talk to one Zoho organization."""

    organization_id: str
    client_id: str
    client_secret: str
    refresh_token: str


#: The credentials the simulator accepts out of the box; the demo and the tests use them.
DEMO_CREDENTIALS = ZohoCredentials(
    organization_id="10234695",
    client_id="1000.DEMOCLIENT",
    client_secret="demo-secret",
    refresh_token="1000.demo-refresh",
)

#: The org's stock locations. Items carry per-location stock for these; org totals are the sums.
DEFAULT_LOCATIONS: tuple[dict[str, Any], ...] = (
    {"location_id": "4815000000000101", "location_name": "Main Warehouse", "is_primary": True},
    {"location_id": "4815000000000102", "location_name": "Overflow Store", "is_primary": False},
)

#: Generated timestamps all fall before this instant, so anything the simulator changes "now"
#: is newer than every generated item (delta syncs depend on that ordering).
CATALOGUE_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

ITEM_ID_BASE = 4815000000100000
GROUP_ID_BASE = 4815000000200000
ATTRIBUTE_ID_BASE = 4815000000300000
OPTION_ID_BASE = 4815000000400000
DOCUMENT_ID_BASE = 4815000000500000
SALES_ACCOUNT_ID = "4815000000000388"
PURCHASE_ACCOUNT_ID = "4815000000000509"
INVENTORY_ACCOUNT_ID = "4815000000000403"

IMAGE_CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "webp": "image/webp",
}

# --------------------------------------------------------------------------- timestamps

# Zoho writes times in the org's offset without a colon: 2026-10-19T17:25:44+0530.
_ZOHO_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([+-])(\d{2})(\d{2})$")
_OFFSET = re.compile(r"^[+-]\d{4}$")


def offset_to_tz(offset: str) -> timezone:
    """`"+0530"` → a fixed `timezone`; raises ValueError for anything else."""
    if not _OFFSET.match(offset):
        raise ValueError(f"offset must look like +0000 or -0530, got {offset!r}")
    sign = 1 if offset[0] == "+" else -1
    minutes = int(offset[1:3]) * 60 + int(offset[3:5])
    return timezone(sign * timedelta(minutes=minutes))


def format_zoho_time(epoch: int, offset: str = "+0000") -> str:
    """Epoch seconds → `2026-10-19T17:25:44+0530` in the given org offset."""
    moment = datetime.fromtimestamp(epoch, tz=offset_to_tz(offset))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset


def parse_zoho_time(text: str) -> int:
    """Strict parse of Zoho's `yyyy-MM-ddTHH:mm:ss+HHMM` into epoch seconds.

    A trailing literal `Z`, a colon in the offset or a missing offset raise ValueError: one real
    account rejected `Z` with HTTP 400, and the simulator is deliberately no more lenient.
    """
    match = _ZOHO_TIME.match(text)
    if not match:
        raise ValueError(f"not a Zoho timestamp (yyyy-MM-ddTHH:mm:ss+HHMM): {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    tz = offset_to_tz("".join(match.groups()[6:]))
    return int(datetime(year, month, day, hour, minute, second, tzinfo=tz).timestamp())


def parse_loose_time(text: str) -> int:
    """Parse Zoho's format or any ISO-8601 string (used for data we are given, not for queries)."""
    try:
        return parse_zoho_time(text)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())


# --------------------------------------------------------------------------- images


def image_colour(item_id: str) -> tuple[int, int, int]:
    """A stable RGB colour for an item (sha256, not hash(), so it survives process restarts)."""
    digest = hashlib.sha256(item_id.encode()).digest()
    return digest[0], digest[1], digest[2]


def render_image(item_id: str, image_type: str = "png", size: int = 48) -> bytes:
    """A small solid-colour PNG or JPEG whose colour depends only on the item id."""
    from PIL import Image  # Imported here: only items with images need Pillow.

    fmt = "JPEG" if image_type.lower() in ("jpg", "jpeg") else image_type.upper()
    if fmt not in ("JPEG", "PNG", "GIF", "BMP", "WEBP"):
        fmt = "PNG"
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), image_colour(item_id)).save(buffer, format=fmt)
    return buffer.getvalue()


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class _Category:
    name: str
    nouns: tuple[str, ...]
    materials: tuple[str, ...]
    price: tuple[float, float]
    weight_kg: tuple[float, float]
    dims_cm: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    attributes: tuple[str, ...]


_CATEGORIES = (
    _Category(
        "Apparel",
        ("T-Shirt", "Hoodie", "Rain Jacket", "Polo Shirt", "Sweater", "Cap", "Scarf", "Beanie"),
        ("Cotton", "Merino Wool", "Linen", "Fleece", "Organic Cotton", "Bamboo"),
        (12, 140), (0.1, 1.2), ((20, 45), (15, 35), (2, 10)), ("Size", "Colour", "Fit"),
    ),
    _Category(
        "Kitchen",
        ("Water Bottle", "Coffee Mug", "Chef's Knife", "Cutting Board", "Travel Tumbler", "Saucepan"),
        ("Stainless Steel", "Ceramic", "Bamboo", "Cast Iron", "Glass", "Enamel"),
        (8, 160), (0.2, 3.5), ((8, 45), (8, 30), (3, 30)), ("Colour", "Capacity"),
    ),
    _Category(
        "Outdoor",
        ("Backpack", "Tent", "Sleeping Bag", "Headlamp", "Camping Chair", "Dry Bag", "Trekking Poles"),
        ("Ripstop Nylon", "Aluminium", "Canvas", "Recycled Polyester"),
        (15, 420), (0.1, 4.5), ((10, 70), (10, 40), (5, 30)), ("Colour", "Size", "Capacity"),
    ),
    _Category(
        "Electronics",
        ("Bluetooth Speaker", "USB-C Charger", "Wireless Mouse", "Phone Stand", "Power Bank", "Desk Lamp"),
        ("Aluminium", "Matte Black", "Recycled Plastic", "Walnut"),
        (9, 250), (0.05, 1.5), ((5, 35), (5, 25), (2, 15)), ("Colour", "Capacity"),
    ),
    _Category(
        "Home",
        ("Throw Blanket", "Scented Candle", "Plant Pot", "Wall Clock", "Cushion Cover", "Picture Frame"),
        ("Linen", "Soy Wax", "Terracotta", "Oak", "Velvet", "Brass"),
        (6, 120), (0.1, 2.5), ((10, 60), (10, 50), (2, 30)), ("Colour", "Size"),
    ),
    _Category(
        "Stationery",
        ("Notebook", "Fountain Pen", "Desk Organiser", "Sketchbook", "Weekly Planner"),
        ("Recycled Paper", "Leather", "Brass", "Cork", "Linen-bound"),
        (4, 85), (0.05, 0.9), ((10, 30), (8, 22), (1, 6)), ("Colour", "Size"),
    ),
)

_ATTRIBUTE_OPTIONS = {
    "Size": ("XS", "S", "M", "L", "XL", "XXL"),
    "Colour": ("Black", "White", "Navy", "Red", "Forest Green", "Sand", "Grey", "Mustard"),
    "Fit": ("Regular", "Slim", "Relaxed"),
    "Capacity": ("350 ml", "500 ml", "750 ml", "1 L"),
}

_ADJECTIVES = (
    "Classic", "Everyday", "Premium", "Compact", "Heritage", "Urban", "Alpine", "Coastal",
    "Nordic", "Essential", "Pro", "Deluxe", "Vintage", "Modern", "Lightweight", "Field",
)
_BRANDS = ("Northwind", "Fjellmark", "Oak & Ember", "Kestrel", "Tidewater", "Lumen Works", "Cobalt Co.")
_FEATURES = (
    "Built to last through daily use.",
    "Designed in-house and tested for a full season before release.",
    "A customer favourite since our first catalogue.",
    "Made in small batches with carefully sourced materials.",
    "Packs flat and ships in plastic-free packaging.",
    "Backed by a two-year warranty.",
)
_CARE = (
    "Wipe clean with a damp cloth.",
    "Machine washable at 30°C.",
    "Hand wash only.",
    "Store in a cool, dry place.",
    "No assembly required.",
)

# (unit, probability): mostly kg, as in most Zoho orgs, with some g / lb / oz to exercise conversion.
_WEIGHT_UNITS = (("kg", 0.70), ("g", 0.15), ("lb", 0.10), ("oz", 0.05))
_KG_PER_UNIT = {"kg": 1.0, "g": 0.001, "lb": 0.45359237, "oz": 0.028349523125}

# --------------------------------------------------------------------------- helpers


def _num_text(value: float, places: int = 2) -> str:
    """Zoho-style numeric string: `1.5`, `2`, `0.45` (no trailing zeros)."""
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _weighted_choice(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([name for name, _ in options], weights=[w for _, w in options])[0]


def _digits(rng: random.Random, length: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(length))


def _plan_groups(rng: random.Random, count: int, groups: int, sizes: tuple[int, int]) -> list[int]:
    """Variant counts per group, shrunk so that the grouped items never exceed `count`."""
    low, high = sizes
    plan = [rng.randint(low, high) for _ in range(groups)]
    while plan and sum(plan) > count:
        plan.pop()
    return plan


def _layout(rng: random.Random, count: int, plan: list[int]) -> list[int | None]:
    """Creation order: one entry per item; a group index for variants, None for simple items.

    Variants of one group stay adjacent (Zoho creates a group's items together), and groups are
    scattered among the simple items.
    """
    blocks: list[list[int | None]] = [[g] * size for g, size in enumerate(plan)]
    blocks += [[None] for _ in range(count - sum(plan))]
    rng.shuffle(blocks)
    return [slot for block in blocks for slot in block]


# --------------------------------------------------------------------------- item pieces


def _weight_fields(rng: random.Random, cat: _Category) -> dict[str, str]:
    unit = _weighted_choice(rng, _WEIGHT_UNITS)
    kg = rng.uniform(*cat.weight_kg)
    if rng.random() < 0.04:  # Some items simply have no weight recorded.
        return {"weight": "", "weight_unit": unit}
    value = kg / _KG_PER_UNIT[unit]
    places = {"kg": 2, "g": 0, "lb": 2, "oz": 1}[unit]
    return {"weight": _num_text(value, places), "weight_unit": unit}


def _dimension_fields(rng: random.Random, cat: _Category) -> dict[str, str]:
    unit = "in" if rng.random() < 0.15 else "cm"
    if rng.random() < 0.05:
        return {"length": "", "width": "", "height": "", "dimension_unit": unit}
    scale = 1 / 2.54 if unit == "in" else 1.0
    length, width, height = (rng.uniform(*span) * scale for span in cat.dims_cm)
    return {
        "length": _num_text(length, 1),
        "width": _num_text(width, 1),
        "height": _num_text(height, 1),
        "dimension_unit": unit,
    }


def _stock_fields(rng: random.Random, out_of_stock_ratio: float) -> dict[str, Any]:
    """Org totals plus `locations[]`; some items are split across both locations."""
    on_hand = 0 if rng.random() < out_of_stock_ratio else rng.randint(1, 500)
    secondary = rng.randint(0, on_hand) if on_hand and rng.random() < 0.4 else 0
    primary = on_hand - secondary
    committed = rng.randint(0, min(primary, 5)) if rng.random() < 0.3 else 0
    per_location = ((primary, primary - committed), (secondary, secondary))
    locations = [
        {
            **loc,
            "location_stock_on_hand": soh,
            "location_available_stock": soh,
            "location_actual_available_stock": actual,
        }
        for loc, (soh, actual) in zip(DEFAULT_LOCATIONS, per_location, strict=False)
    ]
    return {
        "stock_on_hand": on_hand,
        "available_stock": on_hand,
        "actual_available_stock": on_hand - committed,
        "locations": locations,
    }


def _times(rng: random.Random, latest: datetime, offset: str) -> dict[str, str]:
    newest = int(latest.timestamp())
    created = newest - rng.randint(30 * 86400, 720 * 86400)
    modified = created + rng.randint(0, newest - created)
    return {
        "created_time": format_zoho_time(created, offset),
        "last_modified_time": format_zoho_time(modified, offset),
    }


def _base_item(rng: random.Random, index: int, cat: _Category, name: str, description: str,
               price: float, brand: str) -> dict[str, Any]:
    """The fields every generated item has, before stock, package, image and group fields."""
    sku = f"SKB-{index:06d}"
    rate = round(price, 2)
    return {
        "item_id": str(ITEM_ID_BASE + index),
        "name": name,
        "sku": sku,
        "status": "active",
        "source": "user",
        "item_type": "inventory",
        "product_type": "goods",
        "unit": "pcs",
        "description": description,
        "purchase_description": f"Supplier ref {brand.split()[0].upper()}-{index:05d}",
        "rate": rate,
        "purchase_rate": round(rate * rng.uniform(0.4, 0.7), 2),
        "reorder_level": "" if rng.random() < 0.25 else rng.choice((0, 5, 10, 15, 20, 25, 50)),
        "brand": brand,
        "manufacturer": f"{brand} Manufacturing",
        "category_name": cat.name,
        "upc": _digits(rng, 12),
        "ean": _digits(rng, 13),
        "isbn": "",
        "part_number": f"{cat.name[:3].upper()}-{rng.randint(1000, 9999)}",
        "account_id": SALES_ACCOUNT_ID,
        "account_name": "Sales",
        "purchase_account_id": PURCHASE_ACCOUNT_ID,
        "purchase_account_name": "Cost of Goods Sold",
        "inventory_account_id": INVENTORY_ACCOUNT_ID,
    }


def _image_fields(rng: random.Random, index: int, sku: str, image_ratio: float) -> dict[str, str]:
    if rng.random() >= image_ratio:
        return {"image_name": "", "image_type": "", "image_document_id": ""}
    image_type = "png" if rng.random() < 0.6 else "jpg"
    return {
        "image_name": f"{sku.lower()}.{image_type}",
        "image_type": image_type,
        "image_document_id": str(DOCUMENT_ID_BASE + index),
    }


def _describe(rng: random.Random, adjective: str, material: str, noun: str, brand: str) -> str:
    return (
        f"{adjective} {noun.lower()} in {material.lower()} by {brand}. "
        f"{rng.choice(_FEATURES)} {rng.choice(_CARE)}"
    )


# --------------------------------------------------------------------------- groups


@dataclass
class _Group:
    """A planned item group: its shared name/description and one option combo per variant."""

    group_id: str
    name: str
    description: str
    brand: str
    category: _Category
    base_price: float
    attributes: list[tuple[str, str, tuple[str, ...]]]  # (attribute_id, name, options)
    combos: list[tuple[int, ...]]  # option indexes, one per attribute
    option_base: int


def _plan_group(rng: random.Random, g: int, variants: int) -> _Group:
    cat = rng.choice(_CATEGORIES)
    adjective, material, noun = rng.choice(_ADJECTIVES), rng.choice(cat.materials), rng.choice(cat.nouns)
    names = rng.sample(cat.attributes, rng.randint(1, min(3, len(cat.attributes))))
    attributes = [
        (str(ATTRIBUTE_ID_BASE + g * 10 + slot), attr, _ATTRIBUTE_OPTIONS[attr])
        for slot, attr in enumerate(names, start=1)
    ]
    all_combos = _combinations([len(options) for _, _, options in attributes])
    combos = sorted(rng.sample(all_combos, min(variants, len(all_combos))))
    brand = rng.choice(_BRANDS)
    return _Group(
        group_id=str(GROUP_ID_BASE + g),
        name=f"{adjective} {material} {noun}",
        description=_describe(rng, adjective, material, noun, brand),
        brand=brand,
        category=cat,
        base_price=rng.uniform(*cat.price),
        attributes=attributes,
        combos=combos,
        option_base=OPTION_ID_BASE + g * 1000,
    )


def _combinations(sizes: list[int]) -> list[tuple[int, ...]]:
    combos: list[tuple[int, ...]] = [()]
    for size in sizes:
        combos = [combo + (i,) for combo in combos for i in range(size)]
    return combos


def _variant_fields(group: _Group, combo: tuple[int, ...]) -> dict[str, Any]:
    """group_*, attribute_* and option fields for one variant; slots 1..3, empty when unused."""
    fields: dict[str, Any] = {"group_id": group.group_id, "group_name": group.name}
    for slot in (1, 2, 3):
        if slot <= len(group.attributes):
            attr_id, attr_name, options = group.attributes[slot - 1]
            choice = combo[slot - 1]
            option = (options[choice], str(group.option_base + slot * 100 + choice))
        else:
            attr_id, attr_name, option = "", "", ("", "")
        fields |= {
            f"attribute_id{slot}": attr_id,
            f"attribute_name{slot}": attr_name,
            f"attribute_type{slot}": "text" if attr_id else "",
            f"attribute_option_id{slot}": option[1],
            f"attribute_option_name{slot}": option[0],
            f"attribute_option_data{slot}": "",
        }
    return fields


# --------------------------------------------------------------------------- public


def generate_catalogue(
    count: int,
    *,
    seed: int = 1,
    groups: int = 0,
    variants_per_group: tuple[int, int] = (2, 6),
    image_ratio: float = 0.0,
    inactive_ratio: float = 0.04,
    out_of_stock_ratio: float = 0.1,
    latest: datetime = CATALOGUE_EPOCH,
    time_offset: str = "+0000",
) -> list[dict[str, Any]]:
    """`count` Zoho items (variants included), identical for identical arguments.

    Items are numbered 1..count in creation order: item_id `4815000000100000 + n`, SKU
    `SKB-00000n`. With `groups`, that many item groups are planned with `variants_per_group`
    variants each (fewer if `count` is too small); each group has 1–3 attributes. A share
    `image_ratio` of items get an image (bytes are rendered later by `render_image`).
    """
    rng = random.Random(seed)
    plan = _plan_groups(rng, count, groups, variants_per_group)
    planned = [_plan_group(rng, g, size) for g, size in enumerate(plan)]
    next_combo = [0] * len(planned)
    items = []
    for index, slot in enumerate(_layout(rng, count, [len(g.combos) for g in planned]), start=1):
        if slot is None:
            items.append(_simple_item(rng, index))
        else:
            group = planned[slot]
            items.append(_group_item(rng, index, group, group.combos[next_combo[slot]]))
            next_combo[slot] += 1
    for item in items:
        _finish_item(rng, item, image_ratio, inactive_ratio, out_of_stock_ratio, latest, time_offset)
    return items


def _simple_item(rng: random.Random, index: int) -> dict[str, Any]:
    cat = rng.choice(_CATEGORIES)
    adjective, material, noun = rng.choice(_ADJECTIVES), rng.choice(cat.materials), rng.choice(cat.nouns)
    brand = rng.choice(_BRANDS)
    description = _describe(rng, adjective, material, noun, brand)
    name = f"{adjective} {material} {noun}"
    item = _base_item(rng, index, cat, name, description, rng.uniform(*cat.price), brand)
    item["_category"] = cat
    return item | _variant_fields_empty()


def _group_item(rng: random.Random, index: int, group: _Group, combo: tuple[int, ...]) -> dict[str, Any]:
    options = [group.attributes[i][2][choice] for i, choice in enumerate(combo)]
    name = "-".join([group.name, *options])  # Zoho's default variant name: Group-Opt1-Opt2.
    price = group.base_price * (1 + 0.05 * combo[0])  # Bigger sizes cost a little more.
    item = _base_item(rng, index, group.category, name, group.description, price, group.brand)
    item["_category"] = group.category
    return item | _variant_fields(group, combo)


def _variant_fields_empty() -> dict[str, Any]:
    fields: dict[str, Any] = {"group_id": "", "group_name": ""}
    for slot in (1, 2, 3):
        for prefix in ("attribute_id", "attribute_name", "attribute_type", "attribute_option_id",
                       "attribute_option_name", "attribute_option_data"):
            fields[f"{prefix}{slot}"] = ""
    return fields


def _finish_item(rng: random.Random, item: dict[str, Any], image_ratio: float, inactive_ratio: float,
                 out_of_stock_ratio: float, latest: datetime, offset: str) -> None:
    """Add stock, package, image, status and times (in a second pass so layout stays stable)."""
    cat: _Category = item.pop("_category")
    index = int(item["item_id"]) - ITEM_ID_BASE
    item.update(_stock_fields(rng, out_of_stock_ratio))
    item.update(_weight_fields(rng, cat))
    item.update(_dimension_fields(rng, cat))
    item.update(_image_fields(rng, index, item["sku"], image_ratio))
    if rng.random() < inactive_ratio:
        item["status"] = "inactive"
    item.update(_times(rng, latest, offset))
