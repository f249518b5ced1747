"""The base stream and the API client: host, Basic auth, Cordial's error bodies, its timestamps."""

from __future__ import annotations

import re
import typing as t
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import urlsplit

import msgspec
import requests
from marketing_tapkit.config import DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT, validate_base_url
from marketing_tapkit.errors import vendor_message
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.retry import RetryPolicy, call_with_retries, raise_for_status
from marketing_tapkit.streams import KitRESTStream
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping

    from singer_sdk.helpers.types import Context

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
    except msgspec.DecodeError:
        return False
    if not isinstance(body, dict):
        return False
    return body.get("errorKey") == "RECORD_NOT_FOUND" or str(body.get("message", "")).lower() == RECORD_NOT_FOUND


def error_hint(response: requests.Response) -> str | None:
    """Likely causes of a failed Cordial call and the setting to fix."""
    status = response.status_code
    if status in {401, 403}:
        return _CREDENTIAL_CAUSES
    if status == 404:
        return "Check `api_url` (https://api.cordial.io, or https://api.usw2.cordial.io for US-West accounts)."
    if status in {400, 406} and "export" in urlsplit(response.url or "").path:
        return "Check the `export_destination` settings (and `audiences` for audience trends)."
    if status == 422 and "time value" in response.text.lower():
        return "Check `start_date` (an ISO-8601 date-time)."
    return None


class CordialClient:
    """Calls outside the SDK's paging loop (discovery, export requests, job polls), with the same
    auth, timeout and retry policy as the streams."""

    def __init__(self, config: Mapping[str, t.Any], logger: logging.Logger) -> None:
        self.base_url = base_url_from_config(config)
        self.timeout = int(config.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT)
        retries = config.get("max_retries")
        self.policy = RetryPolicy(max_tries=(DEFAULT_MAX_RETRIES if retries is None else int(retries)) + 1)
        self.logger = logger
        self.session = requests.Session()
        self.session.auth = (str(config.get("api_key") or ""), "")  # the key is the user name (spec §2)
        self.session.headers["User-Agent"] = config.get("user_agent") or "tap-cordial"

    def request_json(self, method: str, path: str, *, what: str, params: dict[str, t.Any] | None = None,
                     body: t.Any = None, not_found_is_empty: bool = False) -> t.Any:
        """The decoded JSON answer of `method path`; retried on 429/5xx/transport errors, fatal otherwise."""

        def attempt() -> t.Any:
            response = self.session.request(method, f"{self.base_url}{path}", params=params, json=body,
                                            timeout=self.timeout)
            if not_found_is_empty and is_record_not_found(response):
                return []
            if response.status_code >= 400:
                hint = error_hint(response)
                message = (f"{what}: {method} {path} failed with HTTP {response.status_code}: "
                           f"{vendor_message(response)}")
                raise_for_status(response, f"{message}. {hint}" if hint else message)
            try:
                return decoded_json(response)
            except MalformedInputError as exc:  # garbled in transit: worth another try
                raise RetriableAPIError(f"{what}: {exc}") from None

        return call_with_retries(attempt, policy=self.policy, logger=self.logger, what=what)


class CordialStream(KitRESTStream[t.Any]):
    """A stream of Cordial's bare-array list endpoints."""

    decode_json_pages = True

    @override
    @property
    def url_base(self) -> str:
        return f"{base_url_from_config(self.config)}/v2"

    @override
    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        return BasicAuthenticator(username=self.config.get("api_key", ""), password="")

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or 1000)

    @override
    def validate_response(self, response: requests.Response) -> None:
        if is_record_not_found(response):
            return  # a list with no (more) rows, not a failure (spec §4)
        super().validate_response(response)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        if response.status_code == 404:
            return
        page = decoded_json(response)
        if page is None:
            return
        if not isinstance(page, list):
            raise FatalAPIError(f"{self.name}: expected a JSON array from {self.path}, got {type(page).__name__}")
        yield from page

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", normalize_value(row))

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        return error_hint(response) or super().error_hint(response)
