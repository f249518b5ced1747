"""Evergage streams: each declares its path, keys, schema and partitions; the rest is in `client.py`."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from marketing_tapkit.pagination import PageNumberUntilShortPaginator, decoded_json
from marketing_tapkit.readers import MalformedInputError
from marketing_tapkit.streams import request_line
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_evergage import schemas
from tap_evergage.client import EvergageStream, attributes_of
from tap_evergage.csv_pages import CSVRecords, csv_page
from tap_evergage.duplicates import DuplicateCounter

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

AUDIT_LOOKBACK = timedelta(days=50)  # the audit log reaches 50 days back at most (spec evergage.md §2.5)
AUDIT_MAX_PAGE_SIZE = 2000
# A margin inside the look-back window, so clock skew between us and the server cannot cross it.
AUDIT_LOOKBACK_MARGIN = timedelta(minutes=10)
#: Users whose custom attributes discovery reads.
ATTRIBUTE_SAMPLE_ROWS = 200


class ProfilePagePaginator(PageNumberUntilShortPaginator):
    """Page numbers until a short page, for JSON pages or CSV ones (counted by their rows)."""

    def __init__(self, start_value: int, page_size: int, *, csv: bool) -> None:
        super().__init__(start_value, page_size)
        self.csv = csv

    @override
    def has_more(self, response: requests.Response) -> bool:
        if not self.csv:
            return super().has_more(response)
        return len(csv_page(response)[1]) >= self.page_size


class _ProfileExportStream(EvergageStream[int]):
    """Users and accounts exports: 0-based `page` with `pageSize`, ending on a short page (spec §3)."""

    epoch_ms_fields = ("firstActivity", "lastActivity", "segmentJoined")
    replication_key = None
    page_parameter = "page"
    #: Where the export lives, before the format's suffix: `{export}.json` or `{export}.csv`.
    export: t.ClassVar[str]
    #: The Export API parameters (spec §2.1-2.2) and the settings that carry them, sent only when set.
    filter_settings: t.ClassVar[tuple[tuple[str, str], ...]] = (
        ("filter", "filter"), ("segmentation_id", "segmentationId"), ("segment_id", "segmentId"),
    )
    narrow_scan_settings: t.ClassVar[tuple[str, ...]] = ("datasets", "filter", "segment_id", "segmentation_id")

    def __init__(self, tap: Tap, schema: dict[str, t.Any] | None = None) -> None:
        super().__init__(tap, schema=schema)
        self.export_format = str(self.config.get("export_format") or "json")
        self.path = f"/api/dataset/{{dataset}}/{self.export}.{self.export_format}"
        # A CSV page is read by `csv_pages`; only JSON pages are decoded (and retried when garbled) here.
        self.decode_json_pages = self.export_format == "json"
        self.csv_records = CSVRecords(self.schema, self.epoch_ms_fields)
        self.duplicates = DuplicateCounter()

    @property
    def datasets(self) -> list[str]:
        """The configured datasets (the default dataset of older accounts is `engage`)."""
        return list(self.config.get("datasets") or ["engage"])

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"dataset": dataset} for dataset in self.datasets]

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or 1000)

    @override
    def get_new_paginator(self) -> ProfilePagePaginator:
        return ProfilePagePaginator(start_value=0, page_size=self.page_size, csv=self.export_format == "csv")

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"pageSize": self.page_size, "page": next_page_token or 0}
        for setting, param in (("engagement_start_date", "start"), ("engagement_end_date", "end")):
            if value := self.config.get(setting):
                params[param] = _epoch_ms(value)
        params.update(self.filter_params(context))
        return params

    def filter_params(self, context: Context | None) -> dict[str, t.Any]:
        """Which profiles to export: the `filter`, `segmentation_id` and `segment_id` settings that are set."""
        return {param: self.config[setting] for setting, param in self.filter_settings if self.config.get(setting)}

    @override
    def validate_response(self, response: requests.Response) -> None:
        super().validate_response(response)
        if self.export_format == "csv" and response.status_code < 400 and not self.is_tolerated(response):
            try:
                csv_page(response)
            except MalformedInputError as exc:  # garbled in transit: worth another try, like a JSON page
                raise RetriableAPIError(f"{self.name}: {exc}") from None

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        if self.is_tolerated(response):
            return []
        if self.export_format == "json":
            records = self.records_in(decoded_json(response), response)
        else:
            records = self.shape_records(self.csv_records.records(response))
        # The partition's `dataset` (and `segment`) are added to each record by the SDK's own loop.
        self.duplicates.add_all([record.get("name") for record in records])
        return records

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        self.duplicates = DuplicateCounter()
        yield from super().get_records(context)
        duplicates = self.duplicates.duplicates()
        if duplicates:
            self.logger.info(
                "%s %s: %d of %d records were a second copy of a profile that changed during the export; "
                "the later copy is current and replaces the earlier one by primary key.",
                self.name, context, duplicates, self.duplicates.count,
            )

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        if response.status_code == 404:
            return (
                "The dataset or segment was not found: check the names or ids in the `datasets`, "
                "`segments`, `filter` and `segment_id` settings (Settings > Datasets and Segments in the "
                "Personalization UI)."
            )
        return super().error_hint(response)


class UsersStream(_ProfileExportStream):
    """Every user profile of each configured dataset (full table: the API has no change filter)."""

    name = "users"
    export = "users"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("dataset", "name")
    base_schema = schemas.USERS_SCHEMA

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        if self.config.get("include_geo"):
            params["includeGeo"] = "true"
        return params

    def sample_attribute_names(self) -> set[str]:
        """The custom attribute names on the first users of the first dataset (for discovery).

        Attributes are whatever the tenant defined, so the schema learns them from the data, the way
        MeltanoLabs taps learn custom properties from the API. The sample is read as JSON whatever
        `export_format` says (the CSV holds the same attributes). A failure here is not fatal: the
        stream's `attributes` object stays open and every key is still kept.
        """
        try:
            page = self.request_json(
                "GET", f"/api/dataset/{quote(self.datasets[0], safe='')}/users.json",
                what="sampling users for discovery",
                params={"pageSize": ATTRIBUTE_SAMPLE_ROWS, "page": 0, **self.filter_params(None)},
            )
        except Exception as exc:  # noqa: BLE001 - discovery still works without the sample
            self.logger.warning("Could not sample users to discover custom attributes (%s); `attributes` stays open.",
                                exc)
            return set()
        return {str(name) for user in (page if isinstance(page, list) else []) for name in attributes_of(user) or {}}


class SegmentMembersStream(UsersStream):
    """The members of each configured segment, with when they joined (one partition per dataset x segment)."""

    name = "segment_members"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("dataset", "segment", "name")
    base_schema = schemas.SEGMENT_MEMBERS_SCHEMA
    partitions_setting = "segments"
    narrow_scan_settings = ("datasets", "segments")

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [
            {"dataset": dataset, "segment": segment}
            for dataset in self.datasets
            for segment in self.config.get("segments") or []
        ]

    @override
    def filter_params(self, context: Context | None) -> dict[str, t.Any]:
        # The partition's segment, whatever `filter`, `segment_id` or `segmentation_id` say (those are the
        # users and accounts exports' own).
        return {"filter": (context or {})["segment"]}


class AccountsStream(_ProfileExportStream):
    """Account profiles. Retired by the vendor in August 2024 (spec §2.2): off unless selected, a 404 is no failure."""

    name = "accounts"
    export = "accounts"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("dataset", "name")
    selected_by_default = False
    base_schema = schemas.ACCOUNTS_SCHEMA
    tolerated_http_errors = frozenset({404})

    @override
    def on_tolerated(self, response: requests.Response) -> None:
        self.logger.warning(
            "accounts: %s answered 404; Account Profiles were retired in August 2024, so there are "
            "no accounts to export. Deselect the `accounts` stream to silence this.",
            request_line(response),
        )


@dataclass(frozen=True)
class AuditPage:
    """A page of the audit log: its 1-based number, and the end of the window every page of a sync shares."""

    number: int
    window_end: datetime


class AuditPaginator(BaseAPIPaginator[AuditPage]):
    """Pages 1, 2, ... of one window ending when the sync started, until a short page (spec §2.5).

    The window's end travels in the token, so later pages do not see a moving end.
    """

    def __init__(self, window_end: datetime) -> None:
        super().__init__(AuditPage(number=1, window_end=window_end))

    @override
    def get_next(self, response: requests.Response) -> AuditPage:
        return replace(self.current_value, number=self.current_value.number + 1)

    @override
    def has_more(self, response: requests.Response) -> bool:
        page = decoded_json(response)
        return isinstance(page, list) and len(page) >= AUDIT_MAX_PAGE_SIZE


class AuditEventsStream(EvergageStream[AuditPage]):
    """The account's audit log, incremental on the event time, within the API's 50-day reach."""

    name = "audit_events"
    path = "/api/audit/list"
    primary_keys = ("id",)
    replication_key = "timestamp"
    is_sorted = False
    epoch_ms_fields = ("timestamp",)
    base_schema = schemas.AUDIT_EVENTS_SCHEMA

    @override
    def get_new_paginator(self) -> AuditPaginator:
        return AuditPaginator(window_end=datetime.now(tz=UTC))

    @override
    def get_url_params(self, context: Context | None, next_page_token: AuditPage | None) -> dict[str, t.Any]:
        page = next_page_token or self.get_new_paginator().current_value
        oldest = datetime.now(tz=UTC) - AUDIT_LOOKBACK + AUDIT_LOOKBACK_MARGIN
        start = self.get_starting_timestamp(context) or oldest
        if start < oldest:
            self.logger.warning(
                "audit_events: the bookmark or start_date (%s) is more than 50 days old; the API reaches "
                "back only to %s, so events in between cannot be read.", start.isoformat(), oldest.isoformat()
            )
            start = oldest
        return {
            "page": page.number,
            "pageSize": AUDIT_MAX_PAGE_SIZE,
            "start": int(start.timestamp() * 1000),
            "end": int(page.window_end.timestamp() * 1000),
        }


def _epoch_ms(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
