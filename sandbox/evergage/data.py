"""The data the Evergage emulator serves, generated from `(seed, dataset, index)` on demand.

Users, accounts, segment memberships and audit events are pure functions of the emulator's settings
and an index, so that a dataset of millions costs no memory and two runs with the same settings serve
the same records (spec: shared/specs/evergage.md).
"""

from __future__ import annotations

import typing as t

from sandbox.framework import GeneratedData, stable_hash

if t.TYPE_CHECKING:
    from collections.abc import Iterator

DAY_MS = 86_400_000
# Activity timestamps are spread over the two years before this instant (fixed: deterministic data).
EPOCH_ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ATTRIBUTE_VALUES = {
    "tier": ["bronze", "silver", "gold", "platinum"],
    "favoriteCategory": ["shoes", "bags", "outerwear", "accessories", "kids"],
    "newsletter": ["true", "false"],
}
AUDIT_ACTIONS = [
    ("LOGIN", "User"), ("API_TOKEN_CREATED", "ApiToken"), ("CAMPAIGN_PUBLISHED", "Campaign"),
    ("SEGMENT_UPDATED", "Segment"), ("TEMPLATE_SAVED", "Template"), ("CATALOG_CONFIG_CHANGED", "Catalog"),
]
TIME_ZONES = ["America/New_York", "Europe/London", "Asia/Tokyo"]


class EvergageData(GeneratedData):
    """Users, accounts, segments and audit events for one set of emulator settings."""

    def dataset_size(self, dataset: dict[str, t.Any]) -> int:
        return int(dataset.get("scale", self.scale))

    def user(self, dataset: str, index: int, *, updated: bool = False) -> dict[str, t.Any]:
        """User `index` of `dataset`; `updated` is the copy re-served after it changed mid-export."""
        h = stable_hash(self.seed, dataset, "user", index)
        first = EPOCH_ANCHOR_MS - (h % (730 * DAY_MS))
        last = first + (h >> 20) % (200 * DAY_MS)
        actions = (h >> 8) % 500
        if updated:
            last += 3_600_000
            actions += 1
        attributes = {name: values[(h >> (4 * n)) % len(values)] for n, (name, values) in
                      enumerate(ATTRIBUTE_VALUES.items())}
        for extra in self.settings.get("extra_attributes", []):
            attributes[extra] = f"{extra}-{index % 10}"
        email = f"user{index:07d}@example.com"
        return {
            "name": email if index % 4 else f"u-{h % 10**10:010d}",
            "accountName": f"account-{h % 97:02d}" if index % 3 else None,
            "displayName": f"User {index}",
            "emailAddress": email,
            "engagementScore": round((h % 10_000) / 10_000, 4),
            "engagementPercentChange": round(((h >> 14) % 2000 - 1000) / 10_000, 4),
            "firstActivity": first,
            "lastActivity": last,
            "totalActions": actions,
            "attributes": attributes,
        }

    def account(self, dataset: str, index: int) -> dict[str, t.Any]:
        h = stable_hash(self.seed, dataset, "account", index)
        first = EPOCH_ANCHOR_MS - (h % (730 * DAY_MS))
        return {
            "name": f"account-{index:05d}",
            "engagementScore": round((h % 10_000) / 10_000, 4),
            "engagementPercentChange": round(((h >> 14) % 2000 - 1000) / 10_000, 4),
            "firstActivity": first,
            "lastActivity": first + (h >> 20) % (100 * DAY_MS),
            "totalActions": (h >> 8) % 900,
            "accountStatus": ["active", "trial", "churned"][h % 3],
        }

    def served_users(self, dataset: str, size: int, start: int = 0) -> Iterator[tuple[int, bool]]:
        """The export order from position `start`: (user index, is the updated duplicate) per record.

        A duplicate of user d is served right after user d + 1. Jumping straight to `start` (instead of
        generating and skipping everything before it) keeps every page O(page size), so paging through
        millions of users costs linear time.
        """
        duplicates = sorted(d for d in self.settings.get("duplicates", []) if 0 <= d < size - 1)
        # User i sits at position i + (duplicates served before it); begin a little early and skip.
        index = max(0, start - len(duplicates))
        position = index + sum(1 for d in duplicates if d + 1 < index)
        pending = sum(1 for d in duplicates if d + 1 < index)
        while index < size:
            if position >= start:
                yield index, False
            position += 1
            while pending < len(duplicates) and duplicates[pending] + 1 == index:
                if position >= start:
                    yield duplicates[pending], True
                position += 1
                pending += 1
            index += 1

    def is_member(self, dataset: str, segment: dict[str, t.Any], index: int) -> bool:
        """Whether user `index` of `dataset` belongs to `segment` (one of the `segments` settings)."""
        return stable_hash(self.seed, dataset, segment["id"], index) % int(segment.get("every", 3)) == 0

    def user_records(
        self, dataset: dict[str, t.Any], start: int, segment: dict[str, t.Any] | None, *, include_geo: bool
    ) -> Iterator[dict[str, t.Any]]:
        """Users in export order from position `start` (counted after the segment filter, if any)."""
        name = dataset["name"]
        # Without a filter, jump to `start`; with one, membership must be counted from the beginning.
        skip = start if segment is not None else 0
        for index, updated in self.served_users(name, self.dataset_size(dataset), 0 if segment else start):
            if segment is not None and not self.is_member(name, segment, index):
                continue
            if skip:
                skip -= 1
                continue
            record = self.user(name, index, updated=updated)
            if segment is not None:
                h = stable_hash(self.seed, name, segment["id"], "joined", index)
                record["segmentJoined"] = record["firstActivity"] + h % max(1, record["lastActivity"] -
                                                                             record["firstActivity"] + 1)
                record["segmentInputValues"] = {"ruleInput": f"value-{h % 7}"}
            if include_geo:
                h = stable_hash(self.seed, name, "geo", index)
                record["location"] = {
                    "deviceProvided": bool(h % 2),
                    "longlat": [round((h % 36000) / 100 - 180, 2), round((h >> 16) % 18000 / 100 - 90, 2)],
                    "timeZone": TIME_ZONES[h % 3],
                }
            yield record

    def audit_events(self, now_ms: int) -> list[dict[str, t.Any]]:
        """Audit events over the last 60 days (the oldest ten days are beyond the API's reach)."""
        count = int(self.settings.get("audit_events") or self.scale)
        today = now_ms - now_ms % DAY_MS
        events = []
        for index in range(count):
            h = stable_hash(self.seed, "audit", index)
            action, object_type = AUDIT_ACTIONS[h % len(AUDIT_ACTIONS)]
            events.append({
                "id": f"ae{h % 10**12:012d}",
                "timestamp": today - 60 * DAY_MS + (index * 60 * DAY_MS) // max(1, count),
                "user": f"admin{h % 5}@example.com",
                "accountId": "sandbox",
                "action": action,
                "objectType": object_type,
                "objectId": f"{object_type.lower()}-{h % 1000}",
                "current": {"version": h % 40},
            })
        return events


def principals() -> list[dict[str, t.Any]]:
    """The account's users (spec §2.6)."""
    return [
        {"id": f"pr{i:03d}", "email": f"admin{i}@example.com", "name": f"Admin {i}", "roles": ["Admin"]}
        for i in range(5)
    ]
