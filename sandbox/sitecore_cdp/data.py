"""Generated Sitecore CDP data for the emulator: guests, data extensions and orders (export jobs and
their files are in `sandbox.sitecore_cdp.exports`).

Everything is a pure function of `(seed, settings, index)`, computed when served and never stored, so a
tenant of a million guests or an export of a million rows costs no memory. Refs are UUID-shaped and
carry their index in the last group, so a ref in a URL leads back to its record without a lookup table.
"""

from __future__ import annotations

import typing as t
import uuid
from datetime import UTC, datetime, timedelta

from sandbox.framework import stable_hash

# Guests were created and modified in the two years before this instant (fixed: deterministic data).
GUEST_ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
FIRST_NAMES = ["John", "Aoife", "Sean", "Maria", "Liam", "Emma", "Noah", "Saoirse", "Jack", "Chloe"]
LAST_NAMES = ["Doe", "Murphy", "Kelly", "O'Brien", "Byrne", "Ryan", "Walsh", "Smith", "Garcia", "Nowak"]
CITIES = ["Dublin", "Cork", "Galway, Connacht", "Limerick | Munster", "London", "Paris", "Madrid"]
TIERS = ["bronze", "silver", "gold", "platinum"]
GUEST_TYPES = ["customer", "customer", "visitor", "traveller"]
EXTENSION_NAMES = ("ext", "ext1")


def iso_ms(moment: datetime) -> str:
    """Sitecore's timestamp format: milliseconds and `Z` (`2024-01-01T16:17:16.000Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ref_for(index: int, *parts: object) -> str:
    """A UUID-shaped ref that depends on `parts` and ends with `index` (see `index_of_ref`)."""
    high = stable_hash(*parts, index)
    text = f"{high:016x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{(stable_hash(*parts, 'r', index) % 4096):03x}-{index:012x}"


def index_of_ref(ref: str, *parts: object) -> int | None:
    """The index a ref made by `ref_for(index, *parts)` carries, or None if it is not one of ours."""
    try:
        uuid.UUID(ref)
        index = int(ref.rsplit("-", 1)[-1], 16)
    except ValueError:
        return None
    return index if ref_for(index, *parts) == ref else None


# --------------------------------------------------------------------------------------------- guests


def guest_modified_at(seed: int, index: int, touched: t.Mapping[str, str]) -> datetime:
    """When guest `index` last changed; tests move it with the `touched_guests` setting."""
    if str(index) in touched:
        return datetime.fromisoformat(touched[str(index)])
    h = stable_hash(seed, "guest", index)
    age = h % (700 * 86400)  # seconds between creation and the anchor
    return GUEST_ANCHOR - timedelta(seconds=age) + timedelta(seconds=(h >> 20) % max(1, age))


def guest(seed: int, base_url: str, index: int, touched: t.Mapping[str, str]) -> dict[str, t.Any]:
    """Guest `index` as `GET /v2.1/guests/{ref}` returns it, without data extensions (spec §5.3)."""
    h = stable_hash(seed, "guest", index)
    ref = ref_for(index, seed, "guest")
    created = GUEST_ANCHOR - timedelta(seconds=h % (700 * 86400))
    modified = guest_modified_at(seed, index, touched)
    email = f"guest{index:06d}@example.com"
    record: dict[str, t.Any] = {
        "ref": ref,
        "href": f"{base_url}/v2.1/guests/{ref}",
        "guestType": GUEST_TYPES[h % len(GUEST_TYPES)],
        "firstName": FIRST_NAMES[h % len(FIRST_NAMES)],
        "lastName": LAST_NAMES[(h >> 8) % len(LAST_NAMES)],
        "title": ["Mr", "Ms", "Dr", "Mrs"][(h >> 4) % 4],
        "gender": ["male", "female", "unknown"][(h >> 6) % 3],
        "email": email,
        "emails": [email],  # the official schema allows at most one
        "phoneNumbers": [f"+35316{index % 1000000:06d}"],
        "dateOfBirth": iso_ms(datetime(1960, 1, 1, tzinfo=UTC) + timedelta(days=h % 15000)),
        "firstSeen": iso_ms(created),
        "lastSeen": iso_ms(modified),
        "createdAt": iso_ms(created),
        "modifiedAt": iso_ms(modified),
        "street": ["Ashford House", f"{index % 90 + 1} Tara Street"],
        "city": CITIES[(h >> 10) % len(CITIES)],
        "state": "Leinster",
        "postCode": f"D{index % 24 + 1}",
        "country": ["IE", "GB", "FR", "ES"][(h >> 12) % 4],
        "nationality": "Irish",
        "language": "EN",
        "identifiers": [{"provider": "ProfileSystem", "id": f"PS-{index:08d}"}],
    }
    if record["guestType"] == "traveller":
        record["passportNumber"] = f"PZ{h % 10**7:07d}"
        record["passportExpiry"] = iso_ms(datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=h % 3000))
    if index % 7 == 3:  # sparse records: optional fields are absent, not null
        for name in ("title", "phoneNumbers", "dateOfBirth"):
            record.pop(name)
    return record


def extension_names(index: int) -> list[str]:
    """Which data extensions guest `index` has: `ext` for most, `ext1` for every third, none for some."""
    names = [] if index % 5 == 0 else ["ext"]
    if index % 3 == 0:
        names.append("ext1")
    return names


def data_extension(seed: int, base_url: str, index: int, name: str, touched: t.Mapping[str, str]) -> dict[str, t.Any]:
    """One data extension: reserved keys plus the tenant's custom keys, flat at the top level (spec §5.4)."""
    h = stable_hash(seed, "extension", index, name)
    guest_ref = ref_for(index, seed, "guest")
    modified = guest_modified_at(seed, index, touched) - timedelta(seconds=h % 3600)
    custom: dict[str, t.Any]
    if name == "ext":
        custom = {"loyaltyTier": TIERS[h % 4], "vipMember": bool(h % 2), "rewardBalance": round((h % 100000) / 100, 2)}
    else:
        custom = {"favouriteStore": f"store-{h % 40:02d}", "newsletterOptIn": bool((h >> 3) % 2), "visits": h % 250}
    return {
        "href": f"{base_url}/v2.1/guests/{guest_ref}/extensions/{name}",
        "ref": ref_for(index, seed, "extension", name),
        "name": name,
        "key": "default",
        "createdAt": iso_ms(modified - timedelta(days=h % 300)),
        "modifiedAt": iso_ms(modified),
        "guest": {"href": f"{base_url}/v2.1/guests/{guest_ref}"},
        **custom,
    }


def expanded_guest(
    seed: int, base_url: str, index: int, touched: t.Mapping[str, str], *, expand_extensions: bool
) -> dict[str, t.Any]:
    """Guest `index` with its data extensions, in full or as links only (spec §5.3)."""
    record = guest(seed, base_url, index, touched)
    items = [
        data_extension(seed, base_url, index, name, touched) if expand_extensions
        else {"href": f"{record['href']}/extensions/{name}"}
        for name in extension_names(index)
    ]
    record["dataExtensions"] = {"href": f"{record['href']}/extensions?offset=0&limit=10", "offset": 0,
                                "limit": 10, "items": items}
    return record


def order_count(seed: int, index: int) -> int:
    return stable_hash(seed, "orders", index) % 3


def order(seed: int, base_url: str, guest_index: int, number: int) -> dict[str, t.Any]:
    """Order `number` of guest `guest_index`, with its items (fields as in the .NET model, spec §5.5)."""
    h = stable_hash(seed, "order", guest_index, number)
    ref = ref_for(guest_index * 16 + number, seed, "order")
    ordered = GUEST_ANCHOR - timedelta(seconds=h % (300 * 86400))
    items: list[dict[str, t.Any]] = []
    for item in range(1 + h % 3):
        hi = stable_hash(seed, "item", guest_index, number, item)
        items.append({
            "ref": ref_for((guest_index * 16 + number) * 8 + item, seed, "order-item"),
            "type": "PRODUCT",
            "name": f"Product {hi % 500}",
            "productId": f"SKU-{hi % 500:04d}",
            "quantity": 1 + hi % 4,
            "price": round((hi % 20000) / 100, 2),
            "currencyCode": "EUR",
            "status": "PURCHASED",
            "orderedAt": iso_ms(ordered),
        })
    return {
        "ref": ref,
        "href": f"{base_url}/v2.1/orders/{ref}",
        "referenceId": f"ORD-{guest_index:06d}-{number}",
        "createdAt": iso_ms(ordered),
        "modifiedAt": iso_ms(ordered + timedelta(seconds=h % 86400)),
        "orderedAt": iso_ms(ordered),
        "currencyCode": "EUR",
        "price": round(sum(float(i["price"]) * int(i["quantity"]) for i in items), 2),
        "paymentType": ["Card", "PayPal", "Voucher"][h % 3],
        "pointOfSale": "sandbox-store",
        "channel": ["WEB", "MOBILE_APP", "CALL_CENTER"][(h >> 4) % 3],
        "status": "PURCHASED",
        "guest": {"href": f"{base_url}/v2.1/guests/{ref_for(guest_index, seed, 'guest')}"},
        "orderItems": items,
    }


def orders_by_reference(seed: int, guest_count: int, reference_id: str) -> list[tuple[int, int]]:
    """(guest index, order number) of the order whose `referenceId` is `reference_id`, if there is one."""
    try:
        _, index_text, number_text = reference_id.split("-")
        index, number = int(index_text), int(number_text)
    except ValueError:
        return []
    ok = index < guest_count and number < order_count(seed, index)
    return [(index, number)] if ok else []
