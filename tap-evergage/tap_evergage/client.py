"""The base stream: host, Basic auth, record shaping, and status-code errors (Evergage documents no error bodies)."""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime
from functools import cached_property

from marketing_tapkit.config import config_error, validate_base_url
from marketing_tapkit.schemas import value_as_text
from marketing_tapkit.streams import KitRESTStream
from typing_extensions import override

from tap_evergage.auth import basic_authenticator

if t.TYPE_CHECKING:

    import requests
    from singer_sdk import Tap
    from singer_sdk.authenticators import BasicAuthenticator

_TToken = t.TypeVar("_TToken")

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


def epoch_ms_to_iso(value: t.Any) -> t.Any:
    """Epoch milliseconds as an RFC 3339 date-time; anything else unchanged."""
    if value.__class__ is int or value.__class__ is float:
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


def attributes_of(profile: t.Any) -> dict[str, t.Any] | None:
    """A profile's custom attributes as `{name: value}`, whichever shape they came in; None without any."""
    attributes = profile.get("attributes") if isinstance(profile, dict) else None
    if isinstance(attributes, list):
        attributes = attributes_as_object(attributes)
    return attributes if isinstance(attributes, dict) else None


def attributes_as_text(attributes: t.Any) -> t.Any:
    """Custom attributes as `{name: text}`: the same object when every value is text already (the usual
    case, checked without building a new one); None or a non-collection unchanged.

    Personalization stores attribute values as text (its import API takes strings only); a stray number
    or list is rendered as text so the declared string columns always fit.
    """
    if attributes.__class__ is dict:
        for value in attributes.values():
            if value is not None and value.__class__ is not str:
                return {key: value_as_text(value) for key, value in attributes.items()}
        return attributes
    if isinstance(attributes, list):
        return {key: value_as_text(value) for key, value in attributes_as_object(attributes).items()}
    return attributes


class EvergageStream(KitRESTStream[_TToken]):
    """A stream of Evergage's bare-JSON-array APIs (the kit's default `records_key`)."""

    decode_json_pages = True

    #: The schema the stream has unless discovery gives it another (see `schemas.with_attribute_names`).
    base_schema: t.ClassVar[dict[str, t.Any]]

    #: Fields that hold epoch milliseconds and are emitted as date-times.
    epoch_ms_fields: t.ClassVar[tuple[str, ...]] = ()

    def __init__(self, tap: Tap, schema: dict[str, t.Any] | None = None) -> None:
        super().__init__(tap, schema=schema or self.base_schema)

    @override
    @property
    def url_base(self) -> str:
        return base_url_from_config(self.config)

    @override
    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        return basic_authenticator(self.config)

    @override
    def records_in(self, page: t.Any, response: requests.Response) -> list[dict[str, t.Any]]:
        return self.shape_records(super().records_in(page, response))

    def shape_records(self, records: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """A page's records as the schema declares them, changed in place: epoch milliseconds as
        date-times, attribute values as text.

        One loop per page rather than a `post_process` call per record: this runs for every record of
        an export of millions, and the per-record hooks were a fifth of the tap's time (bench/README.md).
        """
        fields = self.epoch_ms_fields
        from_timestamp = datetime.fromtimestamp  # `epoch_ms_to_iso`, inlined: two calls per record saved
        for row in records:
            for field in fields:
                value = row.get(field)
                if value.__class__ is int or value.__class__ is float:
                    row[field] = from_timestamp(value / 1000, UTC).isoformat()
            attributes = row.get("attributes")
            if attributes is not None:
                row["attributes"] = attributes_as_text(attributes)
        return records

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        if response.status_code in {401, 403}:
            return _CREDENTIAL_CAUSES
        return None
