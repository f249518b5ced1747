"""Audience export streams: the jobs of each export, and the rows of each new job's output files."""

from __future__ import annotations

import contextlib
import typing as t
from functools import cached_property
from itertools import islice

from marketing_tapkit.readers import CSVOptions
from marketing_tapkit.schemas import open_schema, value_as_text
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE
from typing_extensions import override

from tap_sitecore_cdp.client import AudienceExportStream, parse_timestamp
from tap_sitecore_cdp.exports import ExportProgress, JobOutput, bookmark_value, finished_jobs, has_output
from tap_sitecore_cdp.schemas import JOB_PROPERTIES, infer_properties, record_schema

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

#: Rows of the newest job's output read at discovery to learn the keys of `data` (spec §4: user-defined).
DISCOVERY_SAMPLE_ROWS = 1000


class AudienceExportJobsStream(AudienceExportStream):
    """Every finished job of each configured audience export, oldest first."""

    name = "audience_export_jobs"
    path = "/v2/audienceExports/definitions/{audience_export}/reports"
    primary_keys = ("executionRef",)
    replication_key = "endTime"
    is_sorted = True  # once sorted here: the API's array is in no particular order (spec §3.2)
    schema = open_schema(JOB_PROPERTIES)

    @override
    def get_new_paginator(self) -> None:
        return None  # one bare array, not paged (spec §3.2)

    @override
    def records_in(self, page: t.Any, response: requests.Response) -> list[dict[str, t.Any]]:
        return finished_jobs(super().records_in(page, response))

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
    """The rows of every new job's output files, one record per row, with the row itself as `data`.

    `audience_export_mode: latest` makes it a full-table stream of each export's most recent job: every run
    reads that job (`GET .../latestExport`, spec §3.1), and ACTIVATE_VERSION follows once every export
    was read to the end, so a target that honours it drops (or marks deleted) the previous snapshot's rows.
    """

    name = "audience_export_records"
    path = "/v2/audienceExports/definitions/{audience_export}/reports"
    primary_keys = ("execution_ref", "file_index", "row_number")
    replication_key = "job_end_time"
    is_sorted = True  # jobs are read oldest first
    STATE_MSG_FREQUENCY = 2000  # a run that dies mid-file loses at most this many rows of progress
    #: A snapshot replaces the previous one only once it is whole: ACTIVATE_VERSION waits for the end of the run.
    hold_activate_version = True

    @property
    def latest_only(self) -> bool:
        """`audience_export_mode: latest`: each run reads the newest job of each export, as a full table."""
        return self.config.get("audience_export_mode") == "latest"

    @override
    @property
    def replication_method(self) -> str:
        return REPLICATION_FULL_TABLE if self.latest_only else super().replication_method

    @override
    @property
    def emit_activate_version_messages(self) -> bool:
        # The point of `latest`: the target learns that this run's rows replace the previous snapshot.
        return self.latest_only or super().emit_activate_version_messages

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
        catalog = self.kit_tap.input_catalog
        entry = catalog.get_stream(self.name) if catalog is not None else None
        if entry is not None:
            data = entry.schema.to_dict().get("properties", {}).get("data", {})
            return dict(data.get("properties") or {})
        return self.sample_data_properties()

    @override
    @cached_property
    def schema(self) -> dict[str, t.Any]:
        return record_schema(self.data_properties)

    @cached_property
    def text_keys(self) -> frozenset[str]:
        """Keys of `data` declared as text: a JSON Lines export may give them as numbers (module `schemas`)."""
        return frozenset(
            key for key, prop in self.data_properties.items() if prop.get("type") == ["string", "null"]
        )

    def finished_jobs(self, audience_export: str) -> list[dict[str, t.Any]]:
        path = self.path.format(audience_export=audience_export)
        return finished_jobs(self.request_json("GET", path, what=f"Listing the jobs of {audience_export}") or [])

    def job_output(self, audience_export: str, job: dict[str, t.Any], *, files_ahead: int = 0,
                   listing: t.Any = None) -> JobOutput:
        execution_ref = job["executionRef"]
        return JobOutput(
            label=f"{self.name}: export {audience_export}, job {execution_ref}",
            stream=self,
            fetch_listing=lambda: self.request_json(
                "GET", f"/v2/audienceExports/executions/{execution_ref}/export",
                what=f"Listing the files of {execution_ref}", tolerated=(404,),
            ),
            secrets=self.tap.secrets,
            csv_options=self.csv_options,
            files_ahead=files_ahead,
            listing=listing,
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
        if not context:  # `audience_exports` is empty: the base class says so, and there is nothing to read
            yield from super().get_records(context)
            return
        audience_export = context["audience_export"]
        if self.latest_only:
            yield from self._latest_job_records(audience_export)
            # The SDK reads the partitions in order, and a failure ends the run: after the last one, every
            # export's newest job was read to the end.
            if context == self.partitions[-1]:
                self.release_activate_version()
            return
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
            self.write_state_now()
            raise

    def _latest_job_records(self, audience_export: str) -> Iterator[dict[str, t.Any]]:
        """The rows of the export's most recent job: its files from `latestExport`, its report from `/reports`."""
        listing = self.request_json(
            "GET", f"/v2/audienceExports/definitions/{audience_export}/latestExport",
            what=f"Asking for the most recent job of {audience_export}", tolerated=(404,),
        )
        if listing is None:
            self.logger.warning("%s: export %s has no finished job yet (latestExport answered 404)", self.name,
                                audience_export)
            return
        execution_ref = listing.get("executionRef") if isinstance(listing, dict) else None
        if not isinstance(execution_ref, str) or not execution_ref:
            raise FatalAPIError(f"{self.name}: the latestExport listing of {audience_export} has no executionRef")
        # The listing has no times or type (spec §3.1): the job's report has them, for the same envelope
        # as in `history` mode (and `job_end_time` to tell snapshots apart where a target keeps them all).
        job = next((job for job in self.finished_jobs(audience_export) if job["executionRef"] == execution_ref),
                   {"executionRef": execution_ref})
        if str(job.get("definitionType") or "").upper() == "DELTA":
            self.logger.warning(
                "%s: export %s is a DELTA export: its most recent job holds only the guests added and removed "
                "since the one before. For its current members, use `audience_export_mode: history` and the "
                "query in the README.", self.name, audience_export,
            )
        self.logger.info("%s: reading the most recent job of export %s, %s", self.name, audience_export,
                         execution_ref)
        yield from self._job_records(audience_export, job, None, listing=listing)

    def _job_records(self, audience_export: str, job: dict[str, t.Any], progress: ExportProgress | None,
                     *, listing: t.Any = None) -> Iterator[dict[str, t.Any]]:
        """The rows of one job; `progress` (history mode) resumes a job a failed run was reading."""
        start_file, after_row = progress.resume_point(job) if progress is not None else (0, 0)
        if progress is not None:
            progress.begin(job)
        output = self.job_output(audience_export, job, files_ahead=self.http.max_concurrent_requests - 1,
                                 listing=listing)
        envelope = {
            "audience_export": audience_export,
            "execution_ref": job["executionRef"],
            "definition_type": job.get("definitionType"),
            "dataset_date": job.get("datasetDate"),
            "job_end_time": bookmark_value(job) if job.get("endTime") else None,
        }
        if start_file or after_row:
            self.logger.info("%s: resuming job %s of export %s at file %d, after row %d", self.name,
                             job["executionRef"], audience_export, start_file, after_row)
        files = output.files
        if output.missing:
            # An ALERT job may have no output; older jobs' files may no longer be kept (retention is
            # undocumented, spec §11.2). Nothing can be read now or later: move on.
            self.logger.warning("%s: job %s of export %s (status %s) has no files to read: the API answered 404 "
                                "for its output", self.name, job["executionRef"], audience_export, job.get("status"))
        with contextlib.closing(output):  # stops the downloads ahead, deletes their files
            text_keys = self.text_keys
            for file in files[start_file:]:
                for row_number, row in output.rows(file.index, after_row if file.index == start_file else 0):
                    if progress is not None:
                        progress.advance(file.index, row_number)
                    for key in text_keys.intersection(row):
                        value = row[key]
                        if value is not None and not isinstance(value, str):
                            row[key] = value_as_text(value)
                    yield {**envelope, "file_index": file.index, "row_number": row_number,
                           "delta_action": file.delta_action, "data": row}

    @override
    def bookmark_record(self, record: dict[str, t.Any], context: Context | None) -> dict[str, t.Any] | None:
        # Every row of a job has the job's end time: the bookmark moves once per job, in `_finish_job`,
        # not once per row (a fifth of the stream's time went here), and `job_in_progress` covers the rows.
        return None

    def _finish_job(self, job: dict[str, t.Any], progress: ExportProgress, context: Context | None) -> None:
        """Move the bookmark past the job (also one without rows) and say so in a STATE message now."""
        progress.finish()
        self.state_manager.increment_state(
            {self.replication_key: bookmark_value(job)}, context=context, replication_key=self.replication_key
        )
        self.write_state_now()
