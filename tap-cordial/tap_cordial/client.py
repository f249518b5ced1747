"""The base stream: host, Basic auth, Cordial's "record not found", its timestamps, its error hints, and
the three ways its lists page (page numbers, one page, time seeks)."""

from __future__ import annotations

import re
import typing as t
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import urlsplit

import msgspec
from marketing_tapkit.config import validate_base_url
from marketing_tapkit.errors import JSON_DECODE_ERRORS
from marketing_tapkit.pagination import PageNumberUntilShortPaginator
from marketing_tapkit.streams import KitRESTStream
from typing_extensions import override

from tap_cordial.auth import cordial_authenticator
from tap_cordial.pagination import SeenAtLastTime, TimeSeekPaginator, TimeSeekToken

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import requests
    from singer_sdk.authenticators import BasicAuthenticator
    from singer_sdk.helpers.types import Context
    from singer_sdk.pagination import BaseAPIPaginator

DEFAULT_API_URL = "https://api.cordial.io"
RECORD_NOT_FOUND = "record not found"

_CREDENTIAL_CAUSES = (
    "Check `api_key` (Cordial UI: account menu > API Keys), and that this machine's egress IP address "
    "is on that key's IP allow-list (single addresses or CIDR ranges): Cordial answers 401 to calls "
    "from any other address."
)
# 2018-08-07T18:47:35+0000: Cordial's offsets have no colon (spec cordial.md §3), which RFC 3339
# parsers (and Python before 3.11) reject; every such string becomes 2018-08-07T18:47:35+00:00.
_CORDIAL_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{4}$")
# PHP serialises an empty map as `[]` (`"attr": []` in recorded product data, spec §9.1): these keys
# always hold maps, so an empty list there is an empty object.
PHP_MAP_KEYS = frozenset({"attr", "properties", "listJoinDate", "lj", "metadata", "result", "validators"})


def base_url_from_config(config: Mapping[str, t.Any]) -> str:
    """`api_url` without `/v2` (https://api.cordial.io, https://api.usw2.cordial.io or a sandbox)."""
    url = validate_base_url(config.get("api_url") or DEFAULT_API_URL, "api_url")
    return url.removesuffix("/v2")


def normalize_timestamp(value: str) -> str:
    """`2018-08-07T18:47:35+0000` → `2018-08-07T18:47:35+00:00`; anything else unchanged."""
    if _CORDIAL_TIMESTAMP.match(value):
        return f"{value[:-2].replace(' ', 'T')}:{value[-2:]}"
    return value


def normalize_value(value: t.Any, key: str = "") -> t.Any:
    """A value with Cordial's timestamps made RFC 3339 and PHP's empty maps made objects, at any depth.

    Dicts are copied (the paginators still read the decoded page) and then fixed only where a value
    changes: this runs on every value of every record, so it avoids a call per plain scalar (it was a
    third of a sync).
    """
    kind = type(value)
    if kind is dict:
        return _normalized_copy(value)
    if kind is str:
        return normalize_timestamp(value) if len(value) >= 24 and value[0].isdigit() else value
    if kind is list:
        if not value and key in PHP_MAP_KEYS:
            return {}
        return [normalize_value(v) for v in value]
    return value


def _normalized_copy(source: dict[str, t.Any]) -> dict[str, t.Any]:
    record = dict(source)
    for key, value in source.items():
        kind = type(value)
        if kind is str:
            if len(value) >= 24 and value[0].isdigit():
                record[key] = normalize_timestamp(value)
        elif kind is dict:
            record[key] = _normalized_copy(value)
        elif kind is list:
            record[key] = {} if not value and key in PHP_MAP_KEYS else [normalize_value(v) for v in value]
    return record


def parse_cordial_time(value: str) -> datetime:
    """A Cordial (or RFC 3339) date-time as an aware datetime (UTC when it has no offset)."""
    moment = datetime.fromisoformat(normalize_timestamp(value.strip()).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def filter_time(moment: datetime | str) -> str:
    """A time as Cordial's bracket filters take it: `YYYY-MM-DDThh:mm:ss`, in UTC (spec §3)."""
    if isinstance(moment, str):
        moment = parse_cordial_time(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def is_record_not_found(response: requests.Response) -> bool:
    """404 `{"error": true, "message": "record not found"}`: a list with no (more) rows (spec §4)."""
    if response.status_code != 404:
        return False
    try:
        body = msgspec.json.decode(response.content or b"null")
    except JSON_DECODE_ERRORS:
        return False
    if not isinstance(body, dict):
        return False
    return body.get("errorKey") == "RECORD_NOT_FOUND" or str(body.get("message", "")).lower() == RECORD_NOT_FOUND


class CordialStream(KitRESTStream[t.Any]):
    """A stream of Cordial's bare-array list endpoints; also the path of every other Cordial call."""

    decode_json_pages = True

    @override
    @property
    def url_base(self) -> str:
        return f"{base_url_from_config(self.config)}/v2"

    @override
    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        return cordial_authenticator(str(self.config.get("api_key") or ""))

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or 1000)

    @override
    def is_tolerated(self, response: requests.Response) -> bool:
        # A list with no (more) rows answers 404 "record not found", not an empty array (spec §4).
        return is_record_not_found(response) or super().is_tolerated(response)

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", normalize_value(row))

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        status = response.status_code
        if status in {401, 403}:
            return _CREDENTIAL_CAUSES
        if status == 404:
            return "Check `api_url` (https://api.cordial.io, or https://api.usw2.cordial.io for US-West accounts)."
        if status in {400, 406} and "export" in urlsplit(response.url or "").path:
            return "Check the `export_destination` settings (and `audiences` for audience trends)."
        if status == 422 and "time value" in response.text.lower():
            return "Check `start_date` (an ISO-8601 date-time)."
        return super().error_hint(response)


class PagedStream(CordialStream):
    """1-based `page` with `per_page`, ending on a short page or a 404 `record not found` (spec §4).

    Page numbers are known ahead, so `max_concurrent_requests` pages are fetched at once.
    """

    page_parameter = "page"
    narrow_scan_settings: t.ClassVar[tuple[str, ...]] = ("page_size",)

    @override
    def get_new_paginator(self) -> PageNumberUntilShortPaginator:
        return PageNumberUntilShortPaginator(start_value=1, page_size=self.page_size)

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"page": next_page_token or 1, "per_page": self.page_size}


class SinglePageStream(CordialStream):
    """A list with no paging parameters."""

    @override
    def get_new_paginator(self) -> None:
        return None


class TimeSeekStream(CordialStream):
    """A list read in time order by `<replication_key>[gte]` queries (see `pagination.py`)."""

    replication_key: str
    is_sorted = True

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[TimeSeekToken]:
        return TimeSeekPaginator(per_page=self.page_size, time_field=self.replication_key,
                                 id_field=self.primary_keys[0])

    def seek_token(self, next_page_token: TimeSeekToken | None) -> TimeSeekToken:
        """The token of a request: the paginator's, or the first query's."""
        return next_page_token or TimeSeekToken(None, 1, self.page_size)

    @override
    def get_url_params(self, context: Context | None, next_page_token: TimeSeekToken | None) -> dict[str, t.Any]:
        token = self.seek_token(next_page_token)
        params: dict[str, t.Any] = {"per_page": token.per_page}
        since = token.since or self.get_starting_replication_key_value(context)
        if since:
            params[f"{self.replication_key}[gte]"] = filter_time(since)
        return params

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        # A new query starts *at* the last time seen, so it repeats the records of that second already
        # read: they are dropped here, where every record of the run's queries passes in order.
        seen = SeenAtLastTime(self.replication_key, self.primary_keys[0])
        for record in self.query_records(context):
            if seen.add(record):
                yield record

    def query_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The records of every query, in order, with the repeats at query boundaries (by default, the
        paginator's own loop)."""
        return super().request_records(context)
