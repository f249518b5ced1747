"""The Cordial emulator's data: every record is generated from `(seed, collection, index)` on demand.

Shapes follow the recorded v1 traffic and the v2 Swagger (spec cordial.md §9.1): Mongo-style 24-hex
ids, date-times as `2018-08-07T18:47:35+0000`, custom contact attributes as top-level keys, PHP's
empty-array-for-empty-object (`"attr": []`), numbers sent as strings in product variants (`"qty": "10"`).

Collections are ordered by time (index order), so that a time filter maps to an index range
(`sandbox.cordial.filters`).
"""

from __future__ import annotations

import typing as t
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

from sandbox.framework import GeneratedData, HTTPError, stable_hash

# Fixed anchors keep the data deterministic (the same seed serves the same bytes on every run).
CONTACTS_START = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
ACTIVITIES_START = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp())
ORDERS_START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
PRODUCTS_START = int(datetime(2022, 6, 1, tzinfo=UTC).timestamp())
# Three activities share each second and two orders each purchase time: ties that a tap paging
# by time must not lose at a page boundary.
ACTIVITY_TIE_GROUP, ACTIVITY_STEP_SECONDS = 3, 7
ORDER_TIE_GROUP, ORDER_STEP_SECONDS = 2, 1800

ACTIONS = ["message-sent", "open", "click", "cart", "order", "pageview", "optout", "bounce"]
SUBSCRIBE_STATUSES = ["subscribed", "subscribed", "unsubscribed", "none"]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
CATEGORIES = ["shoes", "bags", "outerwear", "accessories", "kids", "home"]
CITIES = [("San Diego", "CA", "92101"), ("Austin", "TX", "73301"), ("Brooklyn", "NY", "11201")]
HISTORY_JOB_NAMES = ["ImportContacts", "ExportContacts", "SendBatchMessage", "ExportEvents", "ImportOrders"]
PRODUCT_NAMES = ["Boyshort", "Boxer", "Trunk", "Bikini", "Cheeky Brief", "Bralette", "Sock"]

DEFAULT_ATTRIBUTES: list[dict[str, t.Any]] = [
    {"key": "first_name", "name": "First Name", "type": "string"},
    {"key": "last_name", "name": "Last Name", "type": "string"},
    {"key": "birthday", "name": "Birthday", "type": "date"},
    {"key": "loyalty_points", "name": "Loyalty Points", "type": "number"},
    {"key": "favorite_categories", "name": "Favorite Categories", "type": "array"},
    {"key": "home_address", "name": "Home Address", "type": "geo"},
]
DEFAULT_LISTS: list[dict[str, t.Any]] = [
    {"id": 14854, "name": "newsletter", "enhanced": True},
    {"id": 14855, "name": "vip", "enhanced": False},
    {"id": 14856, "name": "test-list", "enhanced": True},
]
DEFAULT_SUPPLEMENTS: list[dict[str, t.Any]] = [
    {"key": "cars", "name": "Cars", "indexes": [{"field": "model", "type": "string"}], "contactObject": True},
    {"key": "stores", "name": "Stores", "indexes": [{"field": "city", "type": "string"}], "contactObject": False},
]


def cordial_time(epoch_seconds: float) -> str:
    """Cordial's date-time format: no colon in the offset (spec §3)."""
    return datetime.fromtimestamp(int(epoch_seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def object_id(*parts: object) -> str:
    """A 24-hex Mongo-style id, stable for `parts`."""
    return f"{stable_hash(*parts, 'a'):016x}{stable_hash(*parts, 'b') % 16**8:08x}"


class CordialData(GeneratedData):
    """Generators for every collection, parameterised by the emulator's settings."""

    def count(self, collection: str, default_factor: float = 1.0) -> int:
        value = self.settings.get(collection)
        return int(value) if value is not None else int(self.scale * default_factor)

    # Account set-up -------------------------------------------------------------------------------

    @cached_property
    def attributes(self) -> list[dict[str, t.Any]]:
        """Account contact attributes: the defaults plus `extra_contact_attributes` (schema evolution)."""
        result = []
        declared = DEFAULT_ATTRIBUTES + list(self.settings.get("extra_contact_attributes", []))
        for number, attribute in enumerate(declared):
            created = CONTACTS_START - 86_400 * (30 - number)
            result.append({
                "key": attribute["key"],
                "name": attribute.get("name", attribute["key"]),
                "type": attribute.get("type", "string"),
                "index": number % 2 == 0,
                "unique": False,
                "validators": {"min": 0, "max": 128} if attribute.get("type", "string") == "string" else [],
                "ct": cordial_time(created),
                "lm": cordial_time(created + 3600 * number),
            })
        return result

    @cached_property
    def lists(self) -> list[dict[str, t.Any]]:
        return [dict(item) for item in self.settings.get("account_lists", DEFAULT_LISTS)]

    # Contacts -------------------------------------------------------------------------------------

    def contact_time(self, index: int) -> int:
        return CONTACTS_START + index * 97

    def contact(self, index: int) -> dict[str, t.Any]:
        h = stable_hash(self.seed, "contact", index)
        created = self.contact_time(index)
        modified = created + (h % 86_400) * 30
        status = SUBSCRIBE_STATUSES[h % len(SUBSCRIBE_STATUSES)]
        email: dict[str, t.Any] = {"address": f"contact{index:07d}@example.com", "subscribeStatus": status}
        if status == "subscribed":
            email["subscribedAt"] = cordial_time(created + 60)
        elif status == "unsubscribed":
            email["unsubscribedAt"] = cordial_time(modified)
        channels: dict[str, t.Any] = {"email": email}
        if index % 4 == 1:
            channels["sms"] = {"address": f"+1555{index % 10**7:07d}", "subscribeStatus": "subscribed"}
        record: dict[str, t.Any] = {
            "_id": object_id(self.seed, "contact", index),
            "channels": channels,
            "lastModified": cordial_time(modified),
            "createdAt": cordial_time(created),
        }
        for attribute in self.attributes:
            value = self.attribute_value(attribute, index)
            if value is not None:
                record[attribute["key"]] = value
        lists, joined, internal = [], {}, {}
        for item in self.lists:
            if stable_hash(self.seed, "member", item["id"], index) % 3 == 0:
                lists.append(item["name"])
                joined_at = created + 3600 * (item["id"] % 24)
                joined[item["name"]] = cordial_time(joined_at)
                internal[str(item["id"])] = {"sec": joined_at, "usec": 0}
        record["lists"] = lists
        record["listJoinDate"] = joined if joined else []  # PHP's empty array for an empty map
        record["lj"] = internal if internal else []
        return record

    def attribute_value(self, attribute: dict[str, t.Any], index: int) -> t.Any:
        h = stable_hash(self.seed, "attr", attribute["key"], index)
        if h % 7 == 0:
            return None  # sparse: not every contact has every attribute
        kind = attribute.get("type", "string")
        key = attribute["key"]
        if key == "first_name":
            return FIRST_NAMES[h % len(FIRST_NAMES)]
        if key == "last_name":
            return LAST_NAMES[h % len(LAST_NAMES)]
        if kind == "number":
            return int(h % 5000) if h % 2 else round((h % 500000) / 100, 2)
        if kind == "date":
            return cordial_time(datetime(1960, 1, 1, tzinfo=UTC).timestamp() + (h % 15_000) * 86_400)
        if kind == "array":
            return [CATEGORIES[(h >> shift) % len(CATEGORIES)] for shift in range(0, 1 + h % 3 * 8, 8)]
        if kind == "geo":
            city, state, postal = CITIES[h % len(CITIES)]
            return {"street_address": f"{h % 9000 + 100} Main St", "city": city, "state": state,
                    "postal_code": postal, "country": "USA", "tz": "America/Los_Angeles"}
        return f"{key}-{h % 1000}"

    # Contact activities ---------------------------------------------------------------------------

    def activity_time(self, index: int) -> int:
        return ACTIVITIES_START + (index // ACTIVITY_TIE_GROUP) * ACTIVITY_STEP_SECONDS

    def activity(self, index: int) -> dict[str, t.Any]:
        h = stable_hash(self.seed, "activity", index)
        contact_index = h % max(1, self.count("contacts"))
        action = ACTIONS[h % len(ACTIONS)]
        record: dict[str, t.Any] = {
            "cID": object_id(self.seed, "contact", contact_index),
            "_id": object_id(self.seed, "activity", index),
            "action": action,
            "time": cordial_time(self.activity_time(index)),
            "email": f"contact{contact_index:07d}@example.com",
        }
        if action in {"message-sent", "open", "click", "optout", "bounce"}:
            record["mcID"] = f"{h % 1000}:{object_id(self.seed, 'message', h % 50)}:1"
            record["bmID"] = f"{h % 50}"
            record["first"] = int(h % 3 == 0)
        if action == "order":
            record["properties"] = {"orderID": f"O{h % 10**6:06d}", "total": round((h % 30000) / 100, 2)}
        elif action == "pageview":
            record["properties"] = {"url": f"https://shop.example.com/p/{h % 300}", "title": "Product"}
        else:
            record["properties"] = []  # PHP's empty array for an empty map
        return record

    # Orders ---------------------------------------------------------------------------------------

    def order_time(self, index: int) -> int:
        return ORDERS_START + (index // ORDER_TIE_GROUP) * ORDER_STEP_SECONDS

    def order(self, index: int) -> dict[str, t.Any]:
        h = stable_hash(self.seed, "order", index)
        contact_index = h % max(1, self.count("contacts"))
        items = []
        for line in range(1 + h % 3):
            product = (h >> (line * 5)) % max(1, self.count("products", 0.5))
            price = 5 + (stable_hash(self.seed, "product", product) % 9000) / 100
            qty = 1 + (h >> (line * 3)) % 3
            item: dict[str, t.Any] = {
                "productID": str(product + 1),
                "sku": f"SKU-{product:05d}-{line}",
                "name": PRODUCT_NAMES[product % len(PRODUCT_NAMES)],
                "attr": {"color": ["blue", "grey", "black"][line % 3], "size": "SML"[line % 3]} if line != 2 else [],
                "amount": round(price * qty, 2),
            }
            if h % 4 == 0:
                item.update({"qty": qty, "itemPrice": price, "category": "apparel"})
            items.append(item)
        record: dict[str, t.Any] = {
            "orderID": f"R{index:09d}",
            "purchaseDate": cordial_time(self.order_time(index)),
            "items": items,
            "cID": object_id(self.seed, "contact", contact_index),
            "totalAmount": round(sum(i["amount"] for i in items), 2),
        }
        if h % 3 == 0:
            record["linkID"] = object_id(self.seed, "link", index)
            record["mcID"] = f"{h % 1000}:{object_id(self.seed, 'message', h % 50)}:1"
            record["msID"] = object_id(self.seed, "send", h % 50)
        return record

    # Products -------------------------------------------------------------------------------------

    def product(self, index: int) -> dict[str, t.Any]:
        h = stable_hash(self.seed, "product", index)
        created = PRODUCTS_START + index * 3600
        variants: list[dict[str, t.Any]] = [
            {"sku": f"SKU-{index:05d}-{v}", "attr": {"color": "blue", "size": "SML"[v]} if v else [],
             "qty": str((h >> (v * 4)) % 40)}
            for v in range(1 + h % 3)
        ]
        return {
            "_id": object_id(self.seed, "product", index),
            "productID": str(index + 1),
            "productName": f"{PRODUCT_NAMES[index % len(PRODUCT_NAMES)]} {index}",
            "price": 5 + (h % 9000) / 100,
            "variants": variants,
            "accountID": 645,
            "totalQty": sum(int(v["qty"]) for v in variants),
            "category": CATEGORIES[h % len(CATEGORIES)],
            "inStock": bool(h % 5),
            "tags": ["sale"] if h % 4 == 0 else [],
            "lm": cordial_time(created + h % 86_400 * 10),
            "ct": cordial_time(created),
        }

    # Supplements ----------------------------------------------------------------------------------

    @cached_property
    def supplements(self) -> list[dict[str, t.Any]]:
        result = []
        for number, supplement in enumerate(self.settings.get("supplements", DEFAULT_SUPPLEMENTS)):
            created = CONTACTS_START + number * 86_400
            result.append({
                "key": supplement["key"],
                "name": supplement.get("name", supplement["key"]),
                "indexes": supplement.get("indexes", []),
                "createdAt": cordial_time(created),
                "lastDataUpdate": cordial_time(created + 86_400 * 40),
                "contactObject": supplement.get("contactObject", False),
                "autogenerateIDs": False,
            })
        return result

    def supplement_record(self, key: str, index: int) -> dict[str, t.Any]:
        h = stable_hash(self.seed, "supplement", key, index)
        created = CONTACTS_START + index * 600
        record: dict[str, t.Any] = {
            "id": f"{key}-{index:06d}",
            "cID": object_id(self.seed, "contact", h % max(1, self.count("contacts"))),
            "ct": cordial_time(created),
            "lm": cordial_time(created + h % 86_400),
            "created": cordial_time(created),
        }
        if key == "cars":
            record.update({"make": ["Jeep", "Subaru", "Volvo"][h % 3], "model": f"Model {h % 20}",
                           "year": str(1995 + h % 30)})
        else:
            city, state, _ = CITIES[h % len(CITIES)]
            record.update({"city": city, "state": state, "visits": h % 40})
        return record

    # Audiences ------------------------------------------------------------------------------------

    def find_audience(self, name: str) -> dict[str, t.Any] | None:
        return next((a for a in self.settings.get("audiences", []) if a["name"] == name), None)

    def audience(self, name: str) -> dict[str, t.Any]:
        """The audience called `name`, or Cordial's 400 for an unknown one."""
        if (audience := self.find_audience(name)) is None:
            raise HTTPError(400, f"Audience with name: '{name}' does not exist.")
        return audience

    def in_audience(self, audience: str, index: int) -> bool:
        return stable_hash(self.seed, "audience-member", audience, index) % 2 == 0

    # Audience trends ------------------------------------------------------------------------------

    def audience_count(self, audience: str, day: date) -> int:
        base = 1000 + stable_hash(self.seed, "audience", audience) % 50_000
        return base + stable_hash(self.seed, "audience", audience, day.isoformat()) % 500

    @staticmethod
    def days(start: date, end: date) -> list[date]:
        return [start + timedelta(days=n) for n in range((end - start).days + 1)]

    # Jobs -----------------------------------------------------------------------------------------

    def history_jobs(self, today: datetime) -> list[dict[str, t.Any]]:
        """The account's past jobs (setting `job_history`), one every six hours up to `today`."""
        history = []
        total = int(self.settings.get("job_history") or 0)
        for index in range(total):
            h = stable_hash(self.seed, "job", index)
            start = today - timedelta(hours=6 * (total - index))
            failed = h % 9 == 0
            history.append({
                "_id": object_id(self.seed, "job", index),
                "jobName": HISTORY_JOB_NAMES[h % len(HISTORY_JOB_NAMES)],
                "status": "Failed" if failed else "Done",
                "totalItems": h % 5000,
                "completedItems": (h % 5000) // (2 if failed else 1),
                "times": {"start": cordial_time(start.timestamp()),
                          "end": cordial_time(start.timestamp() + 60 + h % 600)},
                "metadata": {"name": f"job-{index}"},
                "result": {"totalRecords": h % 5000, "inserted": h % 100, "updated": h % 4000, "rejected": 0,
                           "error": 0, "ignored": 0},
            })
        return history
