"""The base streams: host, auth, Sitecore's error bodies, collection paging and tap-side incremental filters."""

from __future__ import annotations

import email.utils
import typing as t
from datetime import UTC, datetime, timedelta
from functools import cached_property

import msgspec
from marketing_tapkit.config import config_error, validate_base_url
from marketing_tapkit.errors import JSON_DECODE_ERRORS
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.streams import KitRESTStream
from singer_sdk.pagination import OffsetPaginator
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    import requests
    from singer_sdk.authenticators import BasicAuthenticator
    from singer_sdk.helpers.types import Context

    from tap_sitecore_cdp.auth import ClientCredentialsAuthenticator
    from tap_sitecore_cdp.tap import TapSitecoreCDP

REGIONS = ("ap", "eu", "jpe", "us")
#: Other names of a region: `jp` is the label on Sitecore's server list for the `jpe` hosts.
REGION_ALIASES = {"jp": "jpe"}
MAX_PAGE_SIZE = 100  # the collection `limit` maximum (spec §5.2, §7)


def base_url_from_config(config: Mapping[str, t.Any]) -> str:
    """`api_url`, else `https://api-engage-{region}.sitecorecloud.io` (spec §1; `jp` is `jpe`)."""
    if config.get("api_url"):
        return validate_base_url(config["api_url"], "api_url")
    region = config.get("region")
    if not region:
        raise config_error("Set `region` (one of ap, eu, jpe, us: where your Sitecore CDP tenant is hosted) "
                           "or `api_url`.")
    region = REGION_ALIASES.get(region, region)
    if region not in REGIONS:
        raise config_error(f"Setting `region` must be one of {', '.join(REGIONS)} (or jp for jpe), got {region!r}.")
    return f"https://api-engage-{region}.sitecorecloud.io"


def parse_timestamp(value: t.Any) -> datetime | None:
    """An ISO-8601 value (`2024-01-01T16:17:16.000Z`) as an aware datetime; None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_timestamp(moment: datetime) -> str:
    """Sitecore's own timestamp format, so bookmarks compare with its values as text too."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sitecore_message(body: Mapping[str, t.Any]) -> str | None:
    """One sentence from a Sitecore error body, in either documented shape (spec §6).

    `status` is a number, or `"UNAUTHORIZED"` on 401 (which has no `developerMessage`); the link is
    `moreInfoUrl`, or `moreInfo` in older clients; `developerMessage` may even be a number (the 409
    example). None when the body is not one of these.
    """
    message = body.get("message")
    developer = body.get("developerMessage")
    if not isinstance(message, str) and not isinstance(developer, str):
        return None
    parts = [p.strip().rstrip(".") for p in (message, developer) if isinstance(p, str) and p.strip()]
    text = ": ".join(dict.fromkeys(parts))
    status = body.get("status")
    if isinstance(status, str) and status and not status.isdigit():
        text = f"{status}: {text}"
    more = body.get("moreInfoUrl") or body.get("moreInfo")
    if isinstance(more, str) and more:
        text = f"{text} (see {more})"
    return text


class SitecoreStream(KitRESTStream[int]):
    """A stream of the Sitecore CDP REST APIs: host from `api_url`/`region`, JSON, documented error bodies."""

    @property
    def tap(self) -> TapSitecoreCDP:
        return t.cast("TapSitecoreCDP", self.kit_tap)

    @override
    @property
    def url_base(self) -> str:
        return base_url_from_config(self.config)

    @override
    @property
    def http_headers(self) -> dict[str, str]:
        return {**super().http_headers, "Accept": "application/json"}

    @override
    def vendor_message(self, response: requests.Response) -> str:
        try:
            body = msgspec.json.decode(response.content or b"")
        except JSON_DECODE_ERRORS:
            body = None
        text = sitecore_message(body) if isinstance(body, dict) else None
        return text or super().vendor_message(response)


class AudienceExportStream(SitecoreStream):
    """A stream of the Audience export API: OAuth bearer token, one partition per configured export."""

    @override
    @property
    def authenticator(self) -> ClientCredentialsAuthenticator:
        return self.tap.audience_export_authenticator

    partitions_setting = "audience_exports"

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"audience_export": ref} for ref in self.config.get("audience_exports") or []]

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        if response.request is not None and "Authorization" not in response.request.headers:
            return None  # a presigned file URL (no credentials): these hints are about the API's settings
        if response.status_code == 401:
            return ("The access token was refused even after requesting a new one: check that the API key "
                    "(`client_id`) has access to the Audience export API and that `region`/`api_url` is the "
                    "tenant's region.")
        if response.status_code == 403:
            return "The API key (`client_id`) is not allowed to read audience exports."
        if response.status_code == 404:
            return ("No such audience export or job: each entry of `audience_exports` must be the friendly ID or "
                    "UUID of an audience export (Sitecore CDP > Audience export).")
        return None


class CollectionPaginator(OffsetPaginator):
    """Offset paging over a Sitecore collection (spec §7).

    The next offset is this one plus the items received, and a page shorter than the `limit` the server
    echoes is the last. Paging links are not followed: the official example's `Next` points back at
    the first page, and its capitalised keys disagree with the other collections (spec §5.2).
    """

    def __init__(self, page_size: int) -> None:
        super().__init__(start_value=0, page_size=page_size)

    @staticmethod
    def _items(response: requests.Response) -> list[t.Any]:
        page = decoded_json(response)
        items = page.get("items") if isinstance(page, dict) else None
        return items if isinstance(items, list) else []

    @override
    def has_more(self, response: requests.Response) -> bool:
        page = decoded_json(response)
        echoed = page.get("limit") if isinstance(page, dict) else None
        limit = echoed if isinstance(echoed, int) and echoed > 0 else self.page_size
        items = self._items(response)
        return bool(items) and len(items) >= limit

    @override
    def get_next(self, response: requests.Response) -> int | None:
        return self.current_value + len(self._items(response))

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        # A page can yield no records when they are derived from its items (extensions of guests that
        # have none): that is not the end of the collection.
        return self.has_more(response)


def served_at(response: requests.Response) -> datetime | None:
    """When the server answered, by its `Date` header; None without one."""
    date = response.headers.get("Date")
    if not date:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(date)
    except (ValueError, TypeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class GuestScanPaginator(CollectionPaginator):
    """Collection paging that also keeps when the scan began on the server's clock.

    `started_at` is the `Date` of the scan's first page, less a second (`Date` has whole seconds: one more
    keeps a change made in the same second). The guest streams cap their bookmark there.
    """

    def __init__(self, page_size: int, started_at: datetime | None = None) -> None:
        super().__init__(page_size)
        self.started_at = started_at

    def note_page(self, response: requests.Response) -> None:
        """Take the scan's start from `response` if it is the first page read (before its records count)."""
        if self.started_at is None and (moment := served_at(response)) is not None:
            self.started_at = moment - timedelta(seconds=1)


class GuestListPaginator(GuestScanPaginator):
    """The scan of the guest list: long (every guest), so its pages are fetched ahead (`token_after`).

    A guest's orders are few (one short page, mostly): fetching pages ahead there would only add requests.
    """

    def token_after(self, token: int) -> int:
        """The offset of the page after the one at `token`, known before it arrives."""
        return token + self.page_size


class GuestAPIStream(SitecoreStream):
    """A stream of the Guest REST API v2.1: Basic auth, collections paged by offset, filtered tap-side.

    The API has no modified-since filter and its `sort` is unverified (spec §5.2, §11.5), so every run
    reads the whole collection and keeps records changed at or after the bookmark. The bookmark never
    passes the moment the scan started on the server's clock (the `Date` of its first page, which the
    scan's paginator keeps): a record changed during the scan, on a page already read, is then still
    newer than the bookmark next time.
    """

    is_sorted = False
    records_key = "items"
    #: How deep a page is: a 400 on a page deep into the scan names the offset reached (some tenants cap
    #: offset + limit). No setting narrows the scan (the API's filters match one guest), so none is named.
    page_parameter = "offset"
    # No setting narrows a guest scan: the Guest API's filters match single guests, and `guest_page_size`
    # does not change the depth (the kit's deep-page message then says to deselect the stream).
    narrow_scan_settings = ()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: The paginator of the scan being read (None before its first page is asked for).
        self.scan: GuestScanPaginator | None = None

    @override
    @property
    def authenticator(self) -> BasicAuthenticator:
        return self.tap.guest_api_authenticator

    @property
    def page_size(self) -> int:
        return min(MAX_PAGE_SIZE, int(self.config.get("guest_page_size") or MAX_PAGE_SIZE))

    @override
    def get_new_paginator(self) -> GuestScanPaginator:
        self.scan = GuestListPaginator(self.page_size)
        return self.scan

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        # expand=true: whole records in the list, not links to them (spec §5.2)
        return {"offset": next_page_token or 0, "limit": self.page_size, "expand": "true"}

    @override
    def records_in(self, page: t.Any, response: requests.Response) -> list[dict[str, t.Any]]:
        if self.scan is not None:
            # Here, not in the paginator's `advance`: the SDK advances only after the page's records
            # are emitted and bookmarked, and the first page's must be capped too.
            self.scan.note_page(response)
        if isinstance(page, dict) and "items" not in page:
            return []  # an empty collection may leave its `items` out
        return [item for item in super().records_in(page, response) if isinstance(item, dict)]

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The SDK's default signpost is this machine's clock; bookmarks here come from the server's.
        return None

    @cached_property
    def changed_since(self) -> datetime | None:
        """The bookmark (or `start_date`) this run started from; read once, not per record."""
        return self.get_starting_timestamp(None)  # these streams have no partitions

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        changed = parse_timestamp(row.get(self.replication_key or ""))
        if self.changed_since is not None and changed is not None and changed < self.changed_since:
            return None
        return row

    @override
    def bookmark_record(self, record: dict[str, t.Any], context: Context | None) -> dict[str, t.Any] | None:
        started_at = self.scan.started_at if self.scan is not None else None
        changed = parse_timestamp(record.get(self.replication_key or ""))
        if started_at is not None and changed is not None and changed > started_at:
            return {**record, self.replication_key or "": format_timestamp(started_at)}
        return record

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        if response.status_code in {401, 403}:
            return ("Check `client_key` and `api_token`: in Sitecore CDP, Settings > API access shows the "
                    "Client key (the user name) and the API token (the password); also check `region`/`api_url`.")
        if response.status_code == 400 and super().deep_page_hint(response) is None:
            return "The API refused the paging or filter parameters."
        return None
