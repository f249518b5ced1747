"""The data the Bloomreach Engagement emulator serves, generated from `(seed, index)` on demand.

Customers, catalog items and segment memberships are pure functions of the emulator's settings and an
index, so that an export of millions of customers is produced row by row and two runs with the same
settings serve the same bytes (spec: shared/specs/bloomreach.md).
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

from sandbox.framework import stable_hash

if t.TYPE_CHECKING:
    from collections.abc import Iterator

FIRST_NAMES = ("Ann", "Lukas", "Eva", "Jakub", "Marie", "Tomas", "Petra", "Jan", "Lucie", "Martin",
               "Tereza", "David", "Klara", "Filip", "Zuzana", "Adam")
LAST_NAMES = ("Novak", "Cerny", "Svoboda", "Dvorak", "Prochazka", "Kucera", "Vesely", "Horak",
              "Nemec", "Pokorny", "Marek", "Ruzicka", "Benes", "Fiala", "Sedlacek", "Dolezal")
CITIES = ("Brno", "Praha", "Bratislava", "Wien", "Ostrava", "Plzen")
CATEGORY_NAMES = ("shoes", "bags", "outerwear", "accessories", "kids", "sport", "home", "beauty",
                  "garden", "toys", "books", "music")
BRAND_NAMES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell")

#: Export columns when no attribute list is given: ids first, then properties (spec §5.1).
ID_NAMES = ("registered", "cookie", "email")
SOFT_IDS = frozenset({"cookie"})
PROPERTY_NAMES = ("email", "first_name", "last_name", "city", "birth_year", "total_spent", "vip", "created_ts")
ANONYMOUS_EVERY = 5  # one customer in five has only a cookie (no registered id, no email)

CONSENT_CATEGORIES = [
    {"id": "newsletter", "legitimate_interest": False,
     "sources": {"crm": True, "import": True, "list_unsubscribe": True, "page": True, "private_api": True,
                 "public_api": False, "scenario": True, "sms_reply": True},
     "translations": {"": {"name": "Newsletter", "description": None},
                      "cs": {"name": "Novinky", "description": "Zpravodaj e-mailem"}}},
    {"id": "sms", "legitimate_interest": False,
     "sources": {"crm": True, "import": True, "list_unsubscribe": False, "page": True, "private_api": True,
                 "public_api": False, "scenario": True, "sms_reply": True},
     "translations": {"": {"name": "SMS marketing", "description": "Offers by text message"}}},
    {"id": "personalisation", "legitimate_interest": True,
     "sources": {"crm": False, "import": True, "list_unsubscribe": False, "page": True, "private_api": True,
                 "public_api": True, "scenario": False, "sms_reply": False},
     "translations": {"": {"name": "Personalisation", "description": None}}},
]


@dataclass(frozen=True)
class Column:
    """One export column: its attribute type (`id`, `property`, `segmentation`, ...) and name or id."""

    kind: str
    name: str

    def descriptor(self) -> dict[str, str]:
        """The column as native_json's `fields` describes it (`{"type": "id", "id": "registered"}`)."""
        key = "property" if self.kind == "property" else "id"
        return {"type": self.kind, key: self.name}


class CustomerData:
    """Customers, segment memberships and catalog items for one set of emulator settings."""

    def __init__(self, settings: dict[str, t.Any]) -> None:
        self.seed = int(settings["seed"])
        self.size = int(settings["scale"])
        self.extra_properties = tuple(settings.get("extra_properties") or ())
        self.segmentations = {s["id"]: s for s in settings.get("segmentations") or []}

    # Customers ------------------------------------------------------------------------------------

    def default_columns(self) -> list[Column]:
        return [Column("id", name) for name in ID_NAMES] + [
            Column("property", name) for name in (*PROPERTY_NAMES, *self.extra_properties)
        ]

    def customer(self, index: int) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
        """Customer `index` as (ids, properties); soft ids are lists, hard ids strings."""
        h = stable_hash(self.seed, "customer", index)
        anonymous = index % ANONYMOUS_EVERY == ANONYMOUS_EVERY - 2
        cookies = [f"ck-{index:07d}-{h & 0xFFFF:04x}"]
        if h % 3 == 0:
            cookies.append(f"ck-{index:07d}-{(h >> 16) & 0xFFFF:04x}b")
        email = None if anonymous else f"user{index}@example.com"
        ids: dict[str, t.Any] = {"cookie": cookies}
        if not anonymous:
            ids["registered"] = f"customer-{index:07d}"
            ids["email"] = email
        properties: dict[str, t.Any] = {
            "email": email,
            "first_name": FIRST_NAMES[h % 16],
            "last_name": LAST_NAMES[(h >> 4) % 16],
            "city": None if (h >> 8) % 7 == 0 else CITIES[(h >> 8) % len(CITIES)],
            "birth_year": 1950 + (h >> 12) % 55,
            "total_spent": ((h >> 20) % 100_000) / 100 if (h >> 19) % 2 else float((h >> 20) % 1000),
            "vip": (h >> 28) % 4 == 0,
            # Epoch seconds as floats with microseconds, as Bloomreach sends timestamps (fixtures).
            "created_ts": 1_500_000_000 + (h >> 32) % 100_000_000 + ((h >> 40) % 1_000_000) / 1_000_000,
        }
        for name in self.extra_properties:
            properties[name] = f"{name}-{index % 7}"
        return ids, properties

    def segment_of(self, segmentation_id: str, index: int) -> int:
        """Customer `index`'s segment in a segmentation: 0-based, or -1 for "in no segment" (spec §5.1)."""
        segments = self.segmentations[segmentation_id]["segments"]
        position = stable_hash(self.seed, segmentation_id, index) % (len(segments) + 1)
        return -1 if position == len(segments) else int(position)

    def row(self, columns: list[Column], index: int) -> list[t.Any]:
        """Customer `index` as the values of `columns`, in order."""
        ids, properties = self.customer(index)
        values: list[t.Any] = []
        for column in columns:
            if column.kind == "id":
                value = ids.get(column.name)
                values.append([] if value is None and column.name in SOFT_IDS else value)
            elif column.kind == "property":
                values.append(properties.get(column.name))
            elif column.kind == "segmentation" and column.name in self.segmentations:
                segment = self.segment_of(column.name, index)
                names = self.segmentations[column.name]["segments"]
                values.append(names[segment] if segment >= 0 else None)
            else:
                values.append(None)
        return values

    def rows(self, columns: list[Column], segment: tuple[str, int] | None) -> Iterator[list[t.Any]]:
        """Every customer (or those in `segment` = (segmentation id, index)) as rows of `columns`."""
        for index in range(self.size):
            if segment is not None and self.segment_of(segment[0], index) != segment[1]:
                continue
            yield self.row(columns, index)

    def segment_sizes(self, segmentation_id: str) -> list[int]:
        """How many customers each segment of a segmentation holds (one pass over the customers)."""
        segments = self.segmentations[segmentation_id]["segments"]
        sizes = [0] * len(segments)
        for index in range(self.size):
            segment = self.segment_of(segmentation_id, index)
            if segment >= 0:
                sizes[segment] += 1
        return sizes


# Catalogs -----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+")


def catalog_fields(catalog: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The catalog's columns as the get-catalog endpoint describes them (spec §6.2, INFERRED)."""
    fields = [{"name": "title", "type": "string", "searchable": True}]
    if catalog.get("categories"):
        fields.append({"name": "category", "type": "string", "searchable": True})
    if catalog.get("brands"):
        fields.append({"name": "brand", "type": "string", "searchable": True})
    fields += [{"name": "price", "type": "number", "searchable": False},
               {"name": "in_stock", "type": "boolean", "searchable": False}]
    return fields


def catalog_item(seed: int, catalog: dict[str, t.Any], index: int) -> dict[str, t.Any]:
    h = stable_hash(seed, catalog["id"], index)
    properties: dict[str, t.Any] = {"title": f"{catalog['name'].title()} item {index} {h % 9973:04d}"}
    if categories := int(catalog.get("categories") or 0):
        properties["category"] = CATEGORY_NAMES[h % min(categories, len(CATEGORY_NAMES))]
    if brands := int(catalog.get("brands") or 0):
        properties["brand"] = BRAND_NAMES[(h >> 8) % min(brands, len(BRAND_NAMES))]
    properties["price"] = ((h >> 16) % 50_000) / 100
    properties["in_stock"] = (h >> 32) % 5 != 0
    return {
        "catalog_id": catalog["id"],
        "item_id": f"{catalog.get('item_prefix', 'item')}-{index:06d}",
        "properties": properties,
    }


def catalog_items(seed: int, catalog: dict[str, t.Any]) -> Iterator[dict[str, t.Any]]:
    for index in range(int(catalog.get("size", 0))):
        yield catalog_item(seed, catalog, index)


def matches_query(item: dict[str, t.Any], query: str, field: str | None) -> bool:
    """Full-text match (spec §6.3): every word of `query` occurs as a word of the field (or any field)."""
    wanted = set(_TOKEN.findall(query.lower()))
    if not wanted:
        return True
    if field == "item_id":
        texts = [item["item_id"]]
    elif field:
        texts = [str(item["properties"].get(field, ""))]
    else:
        texts = [item["item_id"], *(str(v) for v in item["properties"].values())]
    found = set()
    for text in texts:
        found.update(_TOKEN.findall(text.lower()))
    return wanted <= found


def sort_key(column: str) -> t.Callable[[dict[str, t.Any]], tuple[int, t.Any]]:
    """Order by `item_id` or a property; missing values sort first."""

    def key(item: dict[str, t.Any]) -> tuple[int, t.Any]:
        value = item["item_id"] if column == "item_id" else item["properties"].get(column)
        return (0, "") if value is None else (1, value)

    return key
