"""The account's lists, contact attributes, supplements (with their records) and jobs."""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_cordial import schemas
from tap_cordial.client import PagedStream, SinglePageStream, filter_time

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context


class AccountListsStream(SinglePageStream):
    """Contact lists of the account."""

    name = "account_lists"
    path = "/accountlists"
    primary_keys = ("id",)
    replication_key = None
    schema = schemas.ACCOUNT_LISTS


class ContactAttributesStream(SinglePageStream):
    """The account's contact attributes (they also shape the `contacts` schema)."""

    name = "contact_attributes"
    path = "/accountcontactattributes"
    primary_keys = ("key",)
    replication_key = None
    schema = schemas.CONTACT_ATTRIBUTES


class SupplementsStream(PagedStream):
    """Supplement collections; parent of `supplement_records`."""

    name = "supplements"
    path = "/supplements"
    primary_keys = ("key",)
    replication_key = None
    schema = schemas.SUPPLEMENTS

    @override
    def get_child_context(self, record: dict[str, t.Any], context: Context | None) -> dict[str, t.Any]:
        return {"supplement_key": record["key"]}


class SupplementRecordsStream(PagedStream):
    """The records of each supplement. The fields every record has are columns; the fields each supplement
    defines for itself are kept in `attributes` (one stream serves every supplement)."""

    name = "supplement_records"
    path = "/supplements/{supplement_key}/records"
    parent_stream_type = SupplementsStream
    primary_keys = ("supplement_key", "id")
    replication_key = None
    schema = schemas.SUPPLEMENT_RECORDS
    common_fields: t.ClassVar[frozenset[str]] = frozenset({"id", "cID", "ct", "lm", "created"})

    @override
    def is_tolerated(self, response: requests.Response) -> bool:
        # 422 "... does not exist": the supplement was deleted since the parent listed it.
        return (response.status_code == 422 and "does not exist" in response.text) or super().is_tolerated(response)

    @override
    def on_tolerated(self, response: requests.Response) -> None:
        if response.status_code == 422:
            self.logger.warning("supplement_records: %s no longer exists; skipped.", response.url)
        else:
            super().on_tolerated(response)

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        row = super().post_process(row, context)
        record = {key: value for key, value in row.items() if key in self.common_fields}
        record["attributes"] = {key: value for key, value in row.items() if key not in self.common_fields}
        record["supplement_key"] = (context or {}).get("supplement_key")
        if record.get("id") is not None:
            record["id"] = str(record["id"])
        return record


class JobsStream(PagedStream):
    """Import and export jobs, incremental on their start time (Cordial keeps jobs 60 days, spec §7)."""

    name = "jobs"
    path = "/jobs"
    primary_keys = ("_id",)
    replication_key = "times_start"
    is_sorted = False
    narrow_scan_settings = ("start_date",)
    schema = schemas.JOBS

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        if since := self.get_starting_replication_key_value(context):
            params["times[start][gte]"] = filter_time(since)
        return params

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        row = super().post_process(row, context)
        # The id field is not in Cordial's job schema (spec §7: `_id` INFERRED); accept `id` too.
        if not row.get("_id") and row.get("id"):
            row["_id"] = row["id"]
        row["times_start"] = (row.get("times") or {}).get("start")
        return row
