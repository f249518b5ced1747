"""Evergage streams: each declares its path, keys, schema and partitions; the rest is in `client.py`."""

from __future__ import annotations

import copy
import heapq
import typing as t
from array import array
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from marketing_tapkit.pagination import PageNumberUntilShortPaginator
from marketing_tapkit.schemas import open_schema
from singer_sdk import typing as th
from typing_extensions import override

from tap_evergage.client import EvergageStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

AUDIT_LOOKBACK = timedelta(days=50)  # the audit log reaches 50 days back at most (spec evergage.md §2.5)
AUDIT_MAX_PAGE_SIZE = 2000
# A margin inside the look-back window, so clock skew between us and the server cannot cross it.
AUDIT_LOOKBACK_MARGIN = timedelta(minutes=10)

DateTime = th.DateTimeType
OpenObject = th.ObjectType(additional_properties=True)


def with_attribute_names(schema: dict[str, t.Any], names: t.Iterable[str]) -> dict[str, t.Any]:
    """`schema` with the custom attributes seen in a sample declared inside `attributes`.

    Declared keys become typed columns when a target flattens records (a flattened open object with no
    declared properties would otherwise vanish); keys not seen in the sample are still kept, because
    `attributes` stays open.
    """
    schema = copy.deepcopy(schema)
    attributes = schema["properties"]["attributes"]
    attributes.setdefault("properties", {}).update(
        {name: {"type": ["string", "null"]} for name in sorted(names)}
    )
    return schema


PROFILE_PROPERTIES: list[th.Property] = [
    th.Property("dataset", th.StringType, required=True, description="Dataset name as configured."),
    th.Property("name", th.StringType, required=True, description="The user id (Evergage calls it name)."),
    th.Property("engagementScore", th.NumberType),
    th.Property("engagementPercentChange", th.NumberType),
    th.Property("firstActivity", DateTime),
    th.Property("lastActivity", DateTime),
    th.Property("totalActions", th.IntegerType),
]
USER_PROPERTIES: list[th.Property] = [
    *PROFILE_PROPERTIES,
    th.Property("accountName", th.StringType, description="The user's account id (B2B)."),
    th.Property("displayName", th.StringType),
    th.Property("emailAddress", th.StringType),
    th.Property("attributes", OpenObject, description="Custom profile attributes, by name."),
    th.Property("segments", th.ArrayType(th.AnyType())),
    th.Property("location", OpenObject, description="Only with include_geo."),
]


class DuplicateCounter:
    """Counts ids seen more than once in a partition, in 8 bytes per id (a set would take ~70).

    The export reads a live store, so a user updated mid-download appears twice and the later copy
    is current (spec §3). Both copies are emitted, in order, and the target's primary-key upsert keeps
    the later one; this only counts them for the log. Hashes are kept in sorted runs of fixed size
    and merged lazily at the end, so no step ever holds them as Python objects all at once.
    """

    RUN = 1 << 16

    def __init__(self) -> None:
        self._runs: list[array[int]] = []
        self._current = array("q")

    def add(self, key: str) -> None:
        self._current.append(hash(key))
        if len(self._current) >= self.RUN:
            self._seal()

    def _seal(self) -> None:
        if self._current:
            self._runs.append(array("q", sorted(self._current)))
            self._current = array("q")

    def duplicates(self) -> int:
        self._seal()
        return sum(1 for a, b in pairwise(heapq.merge(*self._runs)) if a == b)


class _ProfileExportStream(EvergageStream):
    """Users and accounts exports: 0-based `page` with `pageSize`, ending on a short page (spec §3)."""

    epoch_ms_fields = ("firstActivity", "lastActivity", "segmentJoined")
    #: The schema before discovery adds the tenant's custom attributes (see `with_attribute_names`).
    base_schema: t.ClassVar[dict[str, t.Any]]

    @override
    @property
    def schema(self) -> dict[str, t.Any]:
        return self._schema if self._schema is not None else self.base_schema

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"dataset": dataset} for dataset in self.config.get("datasets") or ["engage"]]

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or 1000)

    @override
    def get_new_paginator(self) -> PageNumberUntilShortPaginator:
        return PageNumberUntilShortPaginator(start_value=0, page_size=self.page_size)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"pageSize": self.page_size, "page": next_page_token or 0}
        for setting, param in (("engagement_start_date", "start"), ("engagement_end_date", "end")):
            if value := self.config.get(setting):
                params[param] = _epoch_ms(value)
        return params

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        counter = DuplicateCounter()
        total = 0
        for record in super().get_records(context):
            counter.add(str(record.get("name")))
            total += 1
            yield record
        duplicates = counter.duplicates()
        if duplicates:
            self.logger.info(
                "%s %s: %d of %d records were a second copy of a profile that changed during the export; "
                "the later copy is current and replaces the earlier one by primary key.",
                self.name, context, duplicates, total,
            )

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        processed = super().post_process(row, context)
        if processed is not None and context:
            processed.update(context)
        return processed

    @override
    def error_hint(self, response: requests.Response) -> str | None:
        if response.status_code == 404:
            return (
                "The dataset or segment was not found: check the names or ids in the `datasets` "
                "and `segments` settings (Settings > Datasets in the Personalization UI)."
            )
        return super().error_hint(response)


class UsersStream(_ProfileExportStream):
    """Every user profile of each configured dataset (full table: the API has no change filter)."""

    name = "users"
    path = "/api/dataset/{dataset}/users.json"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("dataset", "name")
    replication_key = None
    base_schema = open_schema(*USER_PROPERTIES)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        if self.config.get("include_geo"):
            params["includeGeo"] = "true"
        return params


class SegmentMembersStream(UsersStream):
    """The members of each configured segment, with when they joined (one partition per dataset x segment)."""

    name = "segment_members"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("dataset", "segment", "name")
    base_schema = open_schema(th.PropertiesList(
        *USER_PROPERTIES,
        th.Property("segment", th.StringType, required=True, description="Segment name or id as configured."),
        th.Property("segmentJoined", DateTime, description="When the user joined the segment."),
        th.Property("segmentInputValues", OpenObject),
    ))

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [
            {"dataset": part["dataset"], "segment": segment}
            for part in super().partitions
            for segment in self.config.get("segments") or []
        ]

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        params["filter"] = (context or {})["segment"]
        return params

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context or "segment" not in context:
            # No partitions: the SDK still calls once, without a context.
            self.logger.info("segment_members: the `segments` setting is empty; there is nothing to export.")
            return []
        return super().get_records(context)


class AccountsStream(_ProfileExportStream):
    """Account profiles. Retired by the vendor in August 2024 (spec §2.2): off unless selected."""

    name = "accounts"
    path = "/api/dataset/{dataset}/accounts.json"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("dataset", "name")
    replication_key = None
    selected_by_default = False
    base_schema = open_schema(*PROFILE_PROPERTIES, th.Property("accountStatus", th.StringType))

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 404:
            self.logger.warning(
                "accounts: %s answered 404; Account Profiles were retired in August 2024, so there are "
                "no accounts to export. Deselect the `accounts` stream to silence this.",
                self.path,
            )
            return
        super().validate_response(response)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        if response.status_code == 404:
            return []
        return super().parse_response(response)


class AuditEventsStream(EvergageStream):
    """The account's audit log, incremental on the event time, within the API's 50-day reach."""

    name = "audit_events"
    path = "/api/audit/list"
    primary_keys = ("id",)
    replication_key = "timestamp"
    is_sorted = False
    epoch_ms_fields = ("timestamp",)
    schema = open_schema(th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("timestamp", DateTime, required=True),
        th.Property("user", th.StringType),
        th.Property("accountId", th.StringType),
        th.Property("action", th.StringType),
        th.Property("objectType", th.StringType),
        th.Property("objectId", th.StringType),
        th.Property("current", OpenObject),
    ))

    @override
    def get_new_paginator(self) -> PageNumberUntilShortPaginator:
        return PageNumberUntilShortPaginator(start_value=1, page_size=AUDIT_MAX_PAGE_SIZE)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        now = datetime.now(tz=UTC)
        oldest = now - AUDIT_LOOKBACK + AUDIT_LOOKBACK_MARGIN
        start = self.get_starting_timestamp(context) or oldest
        if start < oldest:
            self.logger.warning(
                "audit_events: the bookmark or start_date (%s) is more than 50 days old; the API reaches "
                "back only to %s, so events in between cannot be read.", start.isoformat(), oldest.isoformat()
            )
            start = oldest
        if not hasattr(self, "_window_end"):
            self._window_end = now  # one window per run, so later pages do not see a moving end
        return {
            "page": next_page_token or 1,
            "pageSize": AUDIT_MAX_PAGE_SIZE,
            "start": int(start.timestamp() * 1000),
            "end": int(self._window_end.timestamp() * 1000),
        }


def _epoch_ms(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
