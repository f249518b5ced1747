"""Sitecore CDP streams: each declares its path, keys, schema and how a page becomes records."""

from __future__ import annotations

import typing as t
from functools import cached_property
from itertools import islice
from urllib.parse import urlencode, urlsplit

import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from tapkit.pagination import decoded_json
from typing_extensions import override

from tap_sitecore_cdp.client import AudienceExportStream, GuestAPIStream, parse_timestamp
from tap_sitecore_cdp.exports import (
    CSVOptions,
    ExportProgress,
    JobOutput,
    bookmark_value,
    finished_jobs,
    has_output,
    infer_properties,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

DateTime = th.DateTimeType
OpenObject = th.ObjectType(additional_properties=True)
#: Rows of the newest job's output read at discovery to learn the keys of `data` (spec §4: user-defined).
DISCOVERY_SAMPLE_ROWS = 1000
#: Keys of a guest data extension that are Sitecore's own; every other key is the tenant's (spec §5.4).
EXTENSION_RESERVED_KEYS = frozenset({"href", "ref", "name", "key", "createdAt", "modifiedAt", "guest"})


def _open(properties: th.PropertiesList) -> dict[str, t.Any]:
    """A schema that keeps keys it does not list: Sitecore adds fields, tenants add their own."""
    schema = properties.to_dict()
    schema["additionalProperties"] = True
    return schema


def ref_from_href(href: t.Any) -> str | None:
    """The ref in a resource link: the last path segment (spec §5.2, `items[].href`)."""
    if not isinstance(href, str) or not href:
        return None
    return urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1] or None


def guest_record(item: dict[str, t.Any]) -> dict[str, t.Any]:
    """A guest from an expanded list item or `GET /guests/{ref}`, without its data extensions (own stream)."""
    record = {key: value for key, value in item.items() if key != "dataExtensions"}
    record.setdefault("ref", ref_from_href(item.get("href")))
    return record


def extension_items(guest: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The data extensions inside a guest: a collection's `items`, or a bare list."""
    extensions = guest.get("dataExtensions")
    items = extensions.get("items") if isinstance(extensions, dict) else extensions
    return [item for item in items or [] if isinstance(item, dict)]


def extension_record(guest_ref: str, extension: dict[str, t.Any]) -> dict[str, t.Any]:
    """One data extension: Sitecore's keys at the top, the tenant's custom keys inside `data` (spec §5.4)."""
    record = {key: extension.get(key) for key in ("name", "ref", "key", "href", "createdAt", "modifiedAt")}
    record["guest_ref"] = guest_ref
    record["name"] = record["name"] or ref_from_href(extension.get("href"))
    record["data"] = {key: value for key, value in extension.items() if key not in EXTENSION_RESERVED_KEYS}
    return record


# ------------------------------------------------------------------------------------ audience exports


JOB_PROPERTIES = th.PropertiesList(
    th.Property("audience_export", th.StringType, required=True, description="The export as configured."),
    th.Property("executionRef", th.StringType, required=True, description="UUID of the job."),
    th.Property("definitionRef", th.StringType, description="UUID of the audience export."),
    th.Property("friendlyId", th.StringType),
    th.Property("clientKey", th.StringType),
    th.Property("executionType", th.StringType, description="INSTANT_RUN or SCHEDULED."),
    th.Property("definitionType", th.StringType, description="FULL_SYNC or DELTA."),
    th.Property("status", th.StringType, description="SUCCESS, FAILED, ALERT (or PENDING_*)."),
    th.Property("segmentExecutionType", th.StringType),
    *(th.Property(name, th.IntegerType) for name in (
        "total", "filterMatchedGuests", "filterNotMatchedGuests", "filterFailures", "successes", "failures",
        "successAdd", "successRemove",
    )),
    th.Property("programmableErrors", th.ArrayType(OpenObject)),
    th.Property("filterErrors", th.ArrayType(OpenObject)),
    th.Property("errorLogs", th.ArrayType(th.StringType)),
    th.Property("datasetDate", th.StringType, description="The day of the data snapshot (format unconfirmed)."),
    th.Property("startTime", DateTime),
    th.Property("endTime", DateTime, required=True),
)


class AudienceExportJobsStream(AudienceExportStream):
    """Every finished job of each configured audience export, oldest first."""

    name = "audience_export_jobs"
    path = "/v2/audienceExports/definitions/{audience_export}/reports"
    primary_keys = ("executionRef",)
    replication_key = "endTime"
    is_sorted = True  # once sorted here: the API's array is in no particular order (spec §3.2)
    schema = _open(JOB_PROPERTIES)

    @override
    def get_new_paginator(self) -> None:
        return None  # one bare array, not paged (spec §3.2)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        reports = decoded_json(response)
        if not isinstance(reports, list):
            raise FatalAPIError(f"{self.name}: expected a JSON array of jobs from {urlsplit(response.url).path}, "
                                f"got {type(reports).__name__}")
        yield from finished_jobs(reports)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        state = self.get_context_state(context)
        bookmark = parse_timestamp(state.get("replication_key_value"))
        start_date = parse_timestamp(self.config.get("start_date"))
        for job in super().get_records(context):
            end = parse_timestamp(job["endTime"])
            # After a bookmark, only later jobs; on a first run, the jobs that finished at or after start_date.
            if bookmark is not None and end is not None and end <= bookmark:
                continue
            if bookmark is None and start_date is not None and end is not None and end < start_date:
                continue
            yield job


class AudienceExportRecordsStream(AudienceExportStream):
    """The rows of every new job's output files, one record per row, with the row itself as `data`."""

    name = "audience_export_records"
    path = "/v2/audienceExports/definitions/{audience_export}/reports"
    primary_keys = ("execution_ref", "file_index", "row_number")
    replication_key = "job_end_time"
    is_sorted = True  # jobs are read oldest first
    STATE_MSG_FREQUENCY = 2000  # a run that dies mid-file loses at most this many rows of progress

    @cached_property
    def download_session(self) -> requests.Session:
        """A session without the API's auth: presigned URLs carry their own signature."""
        session = requests.Session()
        session.headers["User-Agent"] = self.user_agent
        return session

    @property
    def csv_options(self) -> CSVOptions:
        return CSVOptions(
            delimiter=self.config.get("csv_delimiter") or None,
            has_header=self.config.get("csv_has_header", True) is not False,
            columns=self.config.get("csv_columns") or None,
        )

    @cached_property
    def data_properties(self) -> dict[str, t.Any]:
        """The keys of `data`: from the input catalog when there is one, else sampled from the newest output."""
        catalog = self._tap.input_catalog
        entry = catalog.get_stream(self.name) if catalog is not None else None
        if entry is not None:
            data = entry.schema.to_dict().get("properties", {}).get("data", {})
            return dict(data.get("properties") or {})
        return self.sample_data_properties()

    @override
    @cached_property
    def schema(self) -> dict[str, t.Any]:
        schema = th.PropertiesList(
            th.Property("audience_export", th.StringType, required=True, description="The export as configured."),
            th.Property("execution_ref", th.StringType, required=True, description="The job (executionRef)."),
            th.Property("definition_type", th.StringType, description="FULL_SYNC or DELTA."),
            th.Property("dataset_date", th.StringType, description="The job's datasetDate."),
            th.Property("job_end_time", DateTime, required=True, description="When the job finished."),
            th.Property("file_index", th.IntegerType, required=True, description="0-based, in listing order."),
            th.Property("row_number", th.IntegerType, required=True, description="1-based row of the file."),
            th.Property("delta_action", th.StringType,
                        description="DELTA exports: add or remove (the row joined or left the audience)."),
            th.Property("data", OpenObject, description="The row, with the keys the export defines."),
        ).to_dict()
        schema["properties"]["data"] = {
            "type": ["object", "null"], "properties": self.data_properties, "additionalProperties": True,
            "description": "The row, with the keys the export defines.",
        }
        return schema

    def finished_jobs(self, audience_export: str) -> list[dict[str, t.Any]]:
        path = self.path.format(audience_export=audience_export)
        return finished_jobs(self.get_json(path, what=f"Listing the jobs of {audience_export}") or [])

    def job_output(self, audience_export: str, job: dict[str, t.Any]) -> JobOutput:
        execution_ref = job["executionRef"]
        return JobOutput(
            label=f"{self.name}: export {audience_export}, job {execution_ref}",
            fetch_listing=lambda: self.get_json(
                f"/v2/audienceExports/executions/{execution_ref}/export", what=f"Listing the files of {execution_ref}"
            ),
            session=self.download_session,
            timeout=self.timeout,
            retry_policy=self.retry_policy,
            logger=self.logger,
            secrets=self.tap.secrets,
            csv_options=self.csv_options,
        )

    def sample_data_properties(self) -> dict[str, t.Any]:
        """Infer the keys of `data` from the first rows of each export's newest output (bounded)."""
        sample: list[dict[str, t.Any]] = []
        for audience_export in self.config.get("audience_exports") or []:
            newest = next((job for job in reversed(self.finished_jobs(audience_export)) if has_output(job)), None)
            if newest is None:
                self.logger.info("%s: export %s has no finished job with output yet to learn `data` from",
                                 self.name, audience_export)
                continue
            output = self.job_output(audience_export, newest)
            rows = (row for file in output.files for _, row in output.rows(file.index))
            before = len(sample)
            sample += islice(rows, DISCOVERY_SAMPLE_ROWS)
            self.logger.info("%s: sampled %d rows of export %s, job %s, for the keys of `data`", self.name,
                             len(sample) - before, audience_export, newest["executionRef"])
        # One pass over every export's sample: a key typed differently by two exports takes any value.
        return infer_properties(sample)

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        audience_export = (context or {})["audience_export"]
        progress = ExportProgress(self.get_context_state(context), parse_timestamp(self.config.get("start_date")))
        try:
            for job in self.finished_jobs(audience_export):
                if not progress.is_pending(job):
                    continue
                if has_output(job):
                    yield from self._job_records(audience_export, job, progress)
                else:
                    self.logger.warning(
                        "%s: job %s of export %s ended with status %s and has no output to read%s", self.name,
                        job["executionRef"], audience_export, job.get("status"),
                        f" (errorLogs: {'; '.join(map(str, job.get('errorLogs') or []))[:300]})"
                        if job.get("errorLogs") else "",
                    )
                self._finish_job(job, progress, context)
        except Exception:
            # Every row yielded so far has been written: record where the run stopped, so that the next
            # one resumes after the last of them instead of at the last periodic STATE message.
            self._checkpoint()
            raise

    def _job_records(self, audience_export: str, job: dict[str, t.Any],
                     progress: ExportProgress) -> Iterator[dict[str, t.Any]]:
        start_file, after_row = progress.resume_point(job)
        progress.begin(job)
        output = self.job_output(audience_export, job)
        envelope = {
            "audience_export": audience_export,
            "execution_ref": job["executionRef"],
            "definition_type": job.get("definitionType"),
            "dataset_date": job.get("datasetDate"),
            "job_end_time": bookmark_value(job),
        }
        if start_file or after_row:
            self.logger.info("%s: resuming job %s of export %s at file %d, after row %d", self.name,
                             job["executionRef"], audience_export, start_file, after_row)
        for file in output.files[start_file:]:
            for row_number, row in output.rows(file.index, after_row if file.index == start_file else 0):
                progress.advance(file.index, row_number)
                yield {**envelope, "file_index": file.index, "row_number": row_number,
                       "delta_action": file.delta_action, "data": row}

    @override
    def _increment_stream_state(self, latest_record: dict[str, t.Any], *, context: Context | None = None) -> None:
        # Every row of a job has the job's end time: the bookmark moves once per job, in `_finish_job`,
        # not once per row (a fifth of the stream's time went here), and `job_in_progress` covers the rows.
        return

    def _finish_job(self, job: dict[str, t.Any], progress: ExportProgress, context: Context | None) -> None:
        """Move the bookmark past the job (also one without rows) and say so in a STATE message now."""
        progress.finish()
        self.state_manager.increment_state(
            {self.replication_key: bookmark_value(job)}, context=context, replication_key=self.replication_key
        )
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Write a STATE message now (the SDK writes one only every STATE_MSG_FREQUENCY records)."""
        self.state_manager.is_flushed = False
        self._write_state_message()


# -------------------------------------------------------------------------------------------- guests


GUEST_PROPERTIES = th.PropertiesList(
    th.Property("ref", th.StringType, required=True, description="The guest reference (UUID)."),
    th.Property("href", th.StringType),
    th.Property("guestType", th.StringType, description="visitor, customer, traveller (or retired)."),
    *(th.Property(name, th.StringType) for name in (
        "firstName", "lastName", "title", "gender", "email", "passportNumber", "city", "state", "postCode",
        "zipCode", "country", "nationality", "language", "identityStatus",
    )),
    *(th.Property(name, th.ArrayType(th.StringType)) for name in ("emails", "phoneNumbers", "street")),
    *(th.Property(name, DateTime) for name in (
        "dateOfBirth", "passportExpiry", "firstSeen", "lastSeen", "createdAt",
    )),
    th.Property("modifiedAt", DateTime, required=True),
    th.Property("identifiers", th.ArrayType(th.ObjectType(
        th.Property("provider", th.StringType), th.Property("id", th.StringType),
        th.Property("expiryDate", DateTime), additional_properties=True,
    ))),
    th.Property("subscriptions", th.ArrayType(OpenObject)),
)


class GuestsStream(GuestAPIStream):
    """Guest profiles, expanded in the list (no request per guest); their data extensions have their own stream."""

    name = "guests"
    path = "/v2.1/guests"
    primary_keys = ("ref",)
    replication_key = "modifiedAt"
    schema = _open(GUEST_PROPERTIES)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        for item in super().parse_response(response):
            yield guest_record(item)


class GuestDataExtensionsStream(GuestAPIStream):
    """One record per guest and data extension (`ext`, `ext1`...), from the expanded guest list."""

    name = "guest_data_extensions"
    path = "/v2.1/guests"
    primary_keys = ("guest_ref", "name")
    replication_key = "modifiedAt"
    schema = _open(th.PropertiesList(
        th.Property("guest_ref", th.StringType, required=True),
        th.Property("name", th.StringType, required=True, description="ext, ext1 ... ext5."),
        th.Property("ref", th.StringType, description="The extension's own reference."),
        th.Property("key", th.StringType, description="Always `default`."),
        th.Property("href", th.StringType),
        th.Property("createdAt", DateTime),
        th.Property("modifiedAt", DateTime, required=True),
        th.Property("data", OpenObject, description="The tenant's custom keys and their values."),
    ))

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        for guest in super().parse_response(response):
            guest_ref = guest.get("ref") or ref_from_href(guest.get("href")) or ""
            for item in extension_items(guest):
                extension = item
                if "name" not in item and "key" not in item and item.get("href"):
                    # Listed as a link only (nested expansion is INFERRED, spec §5.3): fetch it.
                    extension = self.get_json(urlsplit(item["href"]).path,
                                              what=f"Reading a data extension of {guest_ref}")
                yield extension_record(guest_ref, extension)


ORDER_PROPERTIES = th.PropertiesList(
    th.Property("ref", th.StringType, required=True),
    th.Property("guest_ref", th.StringType, required=True, description="The guest the order was listed for."),
    th.Property("href", th.StringType),
    th.Property("referenceId", th.StringType),
    th.Property("createdAt", DateTime),
    th.Property("modifiedAt", DateTime),
    th.Property("orderedAt", DateTime),
    th.Property("currencyCode", th.StringType),
    th.Property("price", th.NumberType),
    *(th.Property(name, th.StringType) for name in ("paymentType", "pointOfSale", "channel", "status")),
    th.Property("orderItems", th.ArrayType(OpenObject)),
    *(th.Property(name, th.CustomType({"type": ["array", "object", "null"]})) for name in ("contacts", "consumers")),
    th.Property("guest", OpenObject),
)


class OrdersStream(GuestAPIStream):
    """Each guest's orders. Off by default: there is no list of all orders, so it costs a request per guest."""

    name = "orders"
    path = "/v2.1/orders"
    primary_keys = ("ref",)
    replication_key = "modifiedAt"
    selected_by_default = False
    schema = _open(ORDER_PROPERTIES)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        return {**super().get_url_params(context, next_page_token), "guestRef": (context or {})["guest_ref"]}

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        for guest_ref in self.guest_refs():
            for order in self.request_records({"guest_ref": guest_ref}):
                yield {**order, "guest_ref": guest_ref}

    def guest_refs(self) -> Iterator[str]:
        """Every guest's ref, from the unexpanded guest list (links only: cheaper than full guests)."""
        offset = 0
        while True:
            query = urlencode({"offset": offset, "limit": self.page_size})
            page = self.get_json(f"/v2.1/guests?{query}", what="Listing guests")
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list) or not items:
                return
            for item in items:
                if isinstance(item, dict) and (ref := item.get("ref") or ref_from_href(item.get("href"))):
                    yield ref
            limit = page.get("limit")
            if len(items) < (limit if isinstance(limit, int) and limit > 0 else self.page_size):
                return
            offset += len(items)

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 404 and "/v2.1/orders" in response.url:
            return  # the guest was deleted between listing it and asking for its orders: none to read
        super().validate_response(response)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        if response.status_code == 404:
            return []
        return super().parse_response(response)
