"""The base stream: host, Basic auth, status-code errors (Evergage documents no error bodies)."""

from __future__ import annotations

import logging
import typing as t
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import quote

import msgspec
import requests
from marketing_tapkit.config import DEFAULT_REQUEST_TIMEOUT, config_error, validate_base_url
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.retry import RetryPolicy, call_with_retries, raise_for_status
from marketing_tapkit.streams import KitRESTStream
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

_CREDENTIAL_CAUSES = (
    "Usual causes: a wrong `api_key_id` or `api_secret_key`; an API token without the "
    "'Can access API' permission; a token restricted to other datasets (setting `datasets`); or this "
    "machine's IP address missing from the token's IP accept list (Security > API Tokens in the UI)."
)


def base_url_from_config(config: t.Mapping[str, t.Any]) -> str:
    """`api_url`, else `https://{account_name}.{instance}.evergage.com` (spec evergage.md §1.1)."""
    if config.get("api_url"):
        return validate_base_url(config["api_url"], "api_url")
    account = config.get("account_name")
    if not account:
        raise config_error("Set `account_name` (and `instance`, e.g. us-1), or `api_url`.")
    host = f"{account}.{config['instance']}.evergage.com" if config.get("instance") else f"{account}.evergage.com"
    return validate_base_url(f"https://{host}", "account_name/instance")


def sample_attribute_names(config: t.Mapping[str, t.Any], logger: logging.Logger, rows: int = 200) -> set[str]:
    """The custom attribute names on the first `rows` users of the first dataset (for discovery).

    Attributes are whatever the tenant defined, so the schema learns them from the data, the way
    MeltanoLabs taps learn custom properties from the API. A failure here is not fatal: the stream's
    `attributes` object stays open and every key is still kept.
    """
    dataset = (config.get("datasets") or ["engage"])[0]
    url = f"{base_url_from_config(config)}/api/dataset/{quote(dataset, safe='')}/users.json"
    auth = (config.get("api_key_id", ""), config.get("api_secret_key", ""))
    timeout = int(config.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT)

    def fetch() -> t.Any:
        response = requests.get(url, params={"pageSize": rows, "page": 0}, auth=auth, timeout=timeout)
        raise_for_status(response, f"sampling users for discovery: HTTP {response.status_code}")
        return response.json()

    try:
        page = call_with_retries(fetch, policy=RetryPolicy(max_tries=3), logger=logger, what="sampling users")
    except Exception as exc:  # noqa: BLE001 - discovery still works without the sample
        logger.warning("Could not sample users to discover custom attributes (%s); `attributes` stays open.", exc)
        return set()
    names: set[str] = set()
    for user in page if isinstance(page, list) else []:
        attributes = user.get("attributes") if isinstance(user, dict) else None
        if isinstance(attributes, list):
            attributes = attributes_as_object(attributes)
        if isinstance(attributes, dict):
            names.update(str(name) for name in attributes)
    return names


def _as_text(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return msgspec.json.encode(value).decode()


def epoch_ms_to_iso(value: t.Any) -> t.Any:
    """Epoch milliseconds as an RFC 3339 date-time; anything else unchanged."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat()
    return value


def attributes_as_object(attributes: list[t.Any]) -> dict[str, t.Any]:
    """`[{name, value, updated}, ...]` as `{name: value}`.

    The export documents `attributes` as an object, but the single-user API of the same vendor
    returns a list of `{name, value, updated}` (fixtures/evergage/user_lookup_get_example_truncated.txt);
    accept both so a tenant on the other shape still loads.
    """
    result: dict[str, t.Any] = {}
    for item in attributes:
        if isinstance(item, dict) and "name" in item:
            result[str(item["name"])] = item.get("value")
    return result


class EvergageStream(KitRESTStream[int]):
    """A stream of Evergage's bare-JSON-array APIs."""

    decode_json_pages = True

    #: Fields that hold epoch milliseconds and are emitted as date-times.
    epoch_ms_fields: t.ClassVar[tuple[str, ...]] = ()

    @override
    @property
    def url_base(self) -> str:
        return base_url_from_config(self.config)

    @override
    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        return BasicAuthenticator(
            username=self.config.get("api_key_id", ""), password=self.config.get("api_secret_key", "")
        )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        page = decoded_json(response)
        if page is None:
            return
        if not isinstance(page, list):
            raise self.malformed(response, f"expected a JSON array, got {type(page).__name__}")
        yield from page

    def malformed(self, response: requests.Response, detail: str) -> Exception:
        return FatalAPIError(f"{self.name}: unexpected response from {self.path}: {detail}")

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        for field in self.epoch_ms_fields:
            if field in row:
                row[field] = epoch_ms_to_iso(row[field])
        attributes = row.get("attributes")
        if isinstance(attributes, list):
            attributes = attributes_as_object(attributes)
        if isinstance(attributes, dict):
            # Personalization stores attribute values as text (its import API takes strings only); a
            # stray number or list is rendered as text so the declared string columns always fit.
            row["attributes"] = {
                key: value if value is None or isinstance(value, str) else _as_text(value)
                for key, value in attributes.items()
            }
        return row

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        if response.status_code in {401, 403}:
            return _CREDENTIAL_CAUSES
        return None
