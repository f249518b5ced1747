"""Emulator of the Marketing Cloud Personalization (Evergage) export APIs (spec: shared/specs/evergage.md).

What it implements, with the spec section it follows:
- Basic auth with an API key id and secret; the legacy `_at` token is refused (§1.2); a token can be
  restricted to datasets (403) (§1.2, §6 GUESSED codes).
- `GET /api/dataset/{ds}/users.{json,csv}` and `accounts.{json,csv}`: datasets by name or id, 0-based
  `page` with `pageSize`, a short last page and `[]` past the end, everything in one streamed body when
  `pageSize` is absent, `filter` by segment name or id adding `segmentJoined`/`segmentInputValues`,
  `includeGeo` adding `location` (users only) (§2.1-2.4, §3).
- The vendor's warning that a user changed during the download appears twice, the later copy current
  (§3): settings `duplicates` lists user indexes re-served, updated, right after the next user.
- `GET /api/audit/list`: 1-based pages up to 2000, `start`/`end` in epoch ms, 50-day look-back (§2.5).
- `GET /api/principals` (§2.6). Errors as `{"error", "message", "status"}` JSON, or plain text when
  `error_format` is `text` (§6).
"""

from __future__ import annotations

import csv
import io
import itertools
import time
import typing as t
from http import HTTPStatus

from sandbox.framework import (
    Emulator,
    HTTPError,
    Request,
    Response,
    chunked,
    json_array_stream,
    json_bytes,
    route,
    stable_hash,
)

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
CSV_COLUMNS = [
    "name", "accountName", "displayName", "emailAddress", "engagementScore",
    "engagementPercentChange", "firstActivity", "lastActivity", "totalActions",
]
AUDIT_ACTIONS = [
    ("LOGIN", "User"), ("API_TOKEN_CREATED", "ApiToken"), ("CAMPAIGN_PUBLISHED", "Campaign"),
    ("SEGMENT_UPDATED", "Segment"), ("TEMPLATE_SAVED", "Template"), ("CATALOG_CONFIG_CHANGED", "Catalog"),
]
AUDIT_MAX_PAGE_SIZE = 2000
AUDIT_LOOKBACK_DAYS = 50


class EvergageEmulator(Emulator):
    vendor = "evergage"
    default_port = 8701
    default_settings: t.ClassVar[dict[str, t.Any]] = {
        "api_key_id": "sandbox-api-key-id",
        "api_secret_key": "sandbox-api-secret-key-0f6c2b",
        "datasets": [
            {"id": "dsEng01", "name": "engage"},
            {"id": "dsMob02", "name": "mobile", "scale": 25},
        ],
        "segments": [
            {"id": "sgHV001", "name": "High Value", "every": 5},
            {"id": "sgCR002", "name": "Cart Abandoners", "every": 7},
            {"id": "sgNW003", "name": "Newsletter", "every": 2},
        ],
        "duplicates": [1],
        "restricted_datasets": [],
        "accounts_mode": "empty",  # empty | 404 | data (Account Profiles retired Aug 2024, spec §2.2)
        "audit_events": None,  # default: scale
        "error_format": "json",  # json | text
        "extra_attributes": [],  # custom attribute names added to every user (schema evolution tests)
    }

    # Errors ---------------------------------------------------------------------------------------

    def error_response(self, error: HTTPError) -> Response:
        if self.settings.get("error_format") == "text":
            return Response(error.status, error.message.encode(), {"Content-Type": "text/plain", **error.headers})
        body = {"error": HTTPStatus(error.status).phrase, "message": error.message, "status": error.status}
        return Response.json(body, status=error.status, headers=error.headers)

    def _authorize(self, request: Request, dataset: dict[str, t.Any] | None = None) -> None:
        if request.arg("_at") is not None and request.basic_auth() is None:
            raise HTTPError(401, "Legacy _at API tokens are no longer supported")
        credentials = request.basic_auth()
        expected = (self.settings["api_key_id"], self.settings["api_secret_key"])
        if credentials != expected:
            raise HTTPError(401, "Unauthorized")
        if dataset and dataset["name"] in self.settings.get("restricted_datasets", []):
            raise HTTPError(403, f"API token is not permitted to access dataset {dataset['name']}")

    # Data -----------------------------------------------------------------------------------------

    def _dataset(self, ref: str) -> dict[str, t.Any]:
        for dataset in self.settings["datasets"]:
            if ref in (dataset["id"], dataset["name"]):
                return t.cast("dict[str, t.Any]", dataset)
        raise HTTPError(404, f"Dataset {ref} not found")

    def _segment(self, ref: str) -> dict[str, t.Any]:
        for segment in self.settings["segments"]:
            if ref in (segment["id"], segment["name"]):
                return t.cast("dict[str, t.Any]", segment)
        raise HTTPError(404, "Segment not found")

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

    def _is_member(self, dataset: str, segment: dict[str, t.Any], index: int) -> bool:
        return stable_hash(self.seed, dataset, segment["id"], index) % int(segment.get("every", 3)) == 0

    def _user_records(
        self, request: Request, dataset: dict[str, t.Any], start: int = 0
    ) -> Iterator[dict[str, t.Any]]:
        """Users in export order from position `start` (counted after the segment filter, if any)."""
        segment = self._segment(request.arg("filter") or "") if request.arg("filter") else None
        include_geo = (request.arg("includeGeo") or "").lower() == "true"
        name = dataset["name"]
        # Without a filter, jump to `start`; with one, membership must be counted from the beginning.
        skip = start if segment is not None else 0
        for index, updated in self.served_users(name, self.dataset_size(dataset), 0 if segment else start):
            if segment is not None and not self._is_member(name, segment, index):
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
                    "timeZone": ["America/New_York", "Europe/London", "Asia/Tokyo"][h % 3],
                }
            yield record

    # Routes ---------------------------------------------------------------------------------------

    @route("GET", r"/api/dataset/(?P<ref>[^/]+)/users\.(?P<fmt>json|csv)")
    def users(self, request: Request, ref: str, fmt: str) -> Response:
        dataset = self._dataset(ref)
        self._authorize(request, dataset)
        page_size, page = self._paging(request)
        start = page * page_size if page_size else 0
        return self._export(self._user_records(request, dataset, start), fmt, page_size)

    @route("GET", r"/api/dataset/(?P<ref>[^/]+)/accounts\.(?P<fmt>json|csv)")
    def accounts(self, request: Request, ref: str, fmt: str) -> Response:
        dataset = self._dataset(ref)
        self._authorize(request, dataset)
        mode = self.settings.get("accounts_mode", "empty")
        if mode == "404":
            raise HTTPError(404, "Account Profiles are not enabled for this account")
        size = self.dataset_size(dataset) // 10 if mode == "data" else 0
        page_size, page = self._paging(request)
        start = page * page_size if page_size else 0
        records = (self.account(dataset["name"], i) for i in range(start, size))
        return self._export(records, fmt, page_size)

    @staticmethod
    def _paging(request: Request) -> tuple[int | None, int]:
        page_size = request.int_arg("pageSize")
        page = request.int_arg("page", 0) or 0
        if page_size is not None and (page_size < 1 or page < 0):
            raise HTTPError(400, "pageSize must be positive and page must not be negative")
        return page_size, page

    def _export(self, records: Iterator[dict[str, t.Any]], fmt: str, page_size: int | None) -> Response:
        """One page (`page_size` records from the iterator) or, without a page size, all of them, streamed."""
        selected: t.Iterable[dict[str, t.Any]] = (
            itertools.islice(records, page_size) if page_size is not None else records
        )
        if fmt == "csv":
            return Response.stream(chunked(_csv_rows(selected)), "text/csv;charset=UTF-8")
        if page_size is not None:
            return Response(200, json_bytes(list(selected)), {"Content-Type": "application/json;charset=UTF-8"})
        return Response.stream(chunked(json_array_stream(selected, json_bytes)), "application/json;charset=UTF-8")

    @route("GET", r"/api/audit/list")
    def audit_list(self, request: Request) -> Response:
        self._authorize(request)
        page = request.int_arg("page", 1) or 1
        page_size = min(request.int_arg("pageSize", 100) or 100, AUDIT_MAX_PAGE_SIZE)
        if page < 1:
            raise HTTPError(400, "page is 1-based")
        now_ms = int(time.time() * 1000)
        oldest_allowed = now_ms - AUDIT_LOOKBACK_DAYS * DAY_MS
        start = request.int_arg("start", oldest_allowed) or oldest_allowed
        end = request.int_arg("end", now_ms) or now_ms
        if start < oldest_allowed - 60_000:
            raise HTTPError(400, f"start may be at most {AUDIT_LOOKBACK_DAYS} days in the past")
        events = [e for e in self.audit_events(now_ms) if start <= e["timestamp"] < end]
        return Response.json(events[(page - 1) * page_size : page * page_size])

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

    @route("GET", r"/api/principals")
    def principals(self, request: Request) -> Response:
        self._authorize(request)
        return Response.json([
            {"id": f"pr{i:03d}", "email": f"admin{i}@example.com", "name": f"Admin {i}", "roles": ["Admin"]}
            for i in range(5)
        ])


def _csv_rows(records: t.Iterable[dict[str, t.Any]]) -> Iterator[bytes]:
    """CSV with the header the spec suggests (§2.4, GUESSED): built-in columns, then attributes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header: list[str] | None = None
    for record in records:
        if header is None:
            header = CSV_COLUMNS + sorted(record.get("attributes", {}))
            writer.writerow(header)
        row = [record.get(c) for c in CSV_COLUMNS]
        row += [record.get("attributes", {}).get(a) for a in header[len(CSV_COLUMNS):]]
        writer.writerow(["" if v is None else v for v in row])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if header is None:
        writer.writerow(CSV_COLUMNS)
        yield buffer.getvalue().encode()
