"""Routes of the Marketing Cloud Personalization (Evergage) export API emulator (spec: shared/specs/evergage.md).

What it implements, with the spec section it follows:
- Basic auth with an API key id and secret; the legacy `_at` token is refused (§1.2); a token can be
  restricted to datasets (403) (§1.2, §6 GUESSED codes).
- `GET /api/dataset/{ds}/users.{json,csv}` and `accounts.{json,csv}`: datasets by name or id, 0-based
  `page` with `pageSize`, a short last page and `[]` past the end, everything in one streamed body when
  `pageSize` is absent, `filter` by segment name or id adding `segmentJoined`/`segmentInputValues`,
  `includeGeo` adding `location` (users only) (§2.1-2.4, §3). `segmentId` filters like `filter` (by id)
  when `filter` is absent, and `segmentationId` is accepted and ignored: the spec knows their names only
  (§2.1, §10). Setting `max_page_window` refuses (400) a page reaching past that many records, as stores
  that cap offset + limit do (GUESSED: no Evergage limit is documented).
- The vendor's warning that a user changed during the download appears twice, the later copy current
  (§3): settings `duplicates` lists user indexes re-served, updated, right after the next user.
- `GET /api/audit/list`: 1-based pages up to 2000, `start`/`end` in epoch ms, 50-day look-back (§2.5).
- `GET /api/principals` (§2.6). Errors as `{"error", "message", "status"}` JSON, or plain text when
  `error_format` is `text` (§6).
"""

from __future__ import annotations

import time
import typing as t
from http import HTTPStatus

from typing_extensions import override

from sandbox.evergage.data import DAY_MS, EvergageData, principals
from sandbox.evergage.exports import export_response
from sandbox.framework import Emulator, HTTPError, Request, Response, route

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
        "max_page_window": None,  # refuse pages reaching past this many records (deep-page tests)
    }

    # Errors ---------------------------------------------------------------------------------------

    @override
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

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        #: The generated records, public: tests compute what an export must hold from it.
        self.data = EvergageData(self.settings)

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

    def _user_records(self, request: Request, dataset: dict[str, t.Any], start: int) -> t.Iterator[dict[str, t.Any]]:
        """Users in export order from `start`, with the request's segment filter and geo option."""
        ref = request.arg("filter") or request.arg("segmentId")
        segment = self._segment(ref) if ref else None
        include_geo = (request.arg("includeGeo") or "").lower() == "true"
        yield from self.data.user_records(dataset, start, segment, include_geo=include_geo)

    # Routes ---------------------------------------------------------------------------------------

    @route("GET", r"/api/dataset/(?P<ref>[^/]+)/users\.(?P<fmt>json|csv)")
    def users(self, request: Request, ref: str, fmt: str) -> Response:
        dataset = self._dataset(ref)
        self._authorize(request, dataset)
        page_size, page = self._paging(request)
        start = page * page_size if page_size else 0
        return export_response(self._user_records(request, dataset, start), fmt, page_size)

    @route("GET", r"/api/dataset/(?P<ref>[^/]+)/accounts\.(?P<fmt>json|csv)")
    def accounts(self, request: Request, ref: str, fmt: str) -> Response:
        dataset = self._dataset(ref)
        self._authorize(request, dataset)
        mode = self.settings.get("accounts_mode", "empty")
        if mode == "404":
            raise HTTPError(404, "Account Profiles are not enabled for this account")
        size = self.data.dataset_size(dataset) // 10 if mode == "data" else 0
        page_size, page = self._paging(request)
        start = page * page_size if page_size else 0
        records = (self.data.account(dataset["name"], i) for i in range(start, size))
        return export_response(records, fmt, page_size)

    def _paging(self, request: Request) -> tuple[int | None, int]:
        page_size = request.int_arg("pageSize")
        page = request.int_arg("page", 0) or 0
        if page_size is not None and (page_size < 1 or page < 0):
            raise HTTPError(400, "pageSize must be positive and page must not be negative")
        window = self.settings.get("max_page_window")
        if window is not None and page_size is not None and (page + 1) * page_size > int(window):
            raise HTTPError(400, f"Result window is too large: (page + 1) * pageSize must not exceed {window}")
        return page_size, page

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
        events = [e for e in self.data.audit_events(now_ms) if start <= e["timestamp"] < end]
        return Response.json(events[(page - 1) * page_size : page * page_size])

    @route("GET", r"/api/principals")
    def principals(self, request: Request) -> Response:
        self._authorize(request)
        return Response.json(principals())
