"""Audience export output: which jobs to read, where a run stands, and each gzip file read row by row.

A job's files are listed by `GET /v2/audienceExports/executions/{ref}/export` with presigned URLs that
expire (spec §3.1, §3.3); a file is streamed, gunzipped and parsed incrementally (the kit's
`presigned_file_rows`), and read to the end across dropped connections, cut bodies and expired URLs (the
kit's `ResumableRows`), so an export of any size flows through in flat memory. The URLs are treated as
secrets: they never reach state, and their query strings are registered for redaction before the first
download.
"""

from __future__ import annotations

import contextlib
import typing as t
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from marketing_tapkit.downloads import ExpiredURLError, FilesAhead, ResumableRows, copy_body, presigned_file_rows
from marketing_tapkit.readers import read_any_records
from singer_sdk.exceptions import FatalAPIError

from tap_sitecore_cdp.client import format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from contextlib import AbstractContextManager
    from datetime import datetime

    from marketing_tapkit.readers import CSVOptions, Numbered
    from marketing_tapkit.redaction import SecretRegistry
    from marketing_tapkit.streams import KitRESTStream

#: Jobs whose output can be read: ALERT jobs finished with warnings and may still have files (spec §3.2).
OUTPUT_STATUSES = frozenset({"SUCCESS", "ALERT"})
#: Fresh URL listings asked for one file without a row of progress before giving up.
MAX_URL_REFRESHES = 3


# ---------------------------------------------------------------------------------------------- jobs


def job_end(job: Mapping[str, t.Any]) -> datetime | None:
    return parse_timestamp(job.get("endTime"))


def finished_jobs(reports: Iterable[t.Any]) -> list[dict[str, t.Any]]:
    """Finished jobs oldest first: `/reports` is unsorted (spec §3.2); a job with no `endTime` is not done."""
    jobs = [job for job in reports if isinstance(job, dict) and job_end(job) is not None]
    return sorted(jobs, key=lambda job: (job_end(job), str(job.get("executionRef"))))


def has_output(job: Mapping[str, t.Any]) -> bool:
    return str(job.get("status") or "").upper() in OUTPUT_STATUSES


class ExportProgress:
    """Where the records stream stands in one export, kept in the export's state partition.

    The SDK's bookmark (`job_end_time`) is the end time of the newest job finished; `job_in_progress`
    names the job being emitted and its last emitted file and row, so that a run that dies mid-file
    resumes at that job, after that row. Neither holds a URL.
    """

    KEY = "job_in_progress"

    def __init__(self, state: dict[str, t.Any], start_date: datetime | None) -> None:
        self.state = state
        self.bookmark = parse_timestamp(state.get("replication_key_value"))
        self.start_date = start_date

    @property
    def current(self) -> dict[str, t.Any] | None:
        marker = self.state.get(self.KEY)
        return marker if isinstance(marker, dict) else None

    def is_pending(self, job: Mapping[str, t.Any]) -> bool:
        """True for a job not read yet: newer than the bookmark, or the one a failed run was reading."""
        if self.current and self.current.get("execution_ref") == job.get("executionRef"):
            return True
        end = job_end(job)
        if end is None:
            return False
        if self.bookmark is not None:
            # Jobs of one export run one after another, so no two finish at the same millisecond.
            return end > self.bookmark
        return self.start_date is None or end >= self.start_date

    def resume_point(self, job: Mapping[str, t.Any]) -> tuple[int, int]:
        """(file index, last row emitted in it) to resume `job` from; (0, 0) for a fresh start."""
        marker = self.current
        if marker and marker.get("execution_ref") == job.get("executionRef"):
            return int(marker.get("file_index") or 0), int(marker.get("row_number") or 0)
        return 0, 0

    def begin(self, job: Mapping[str, t.Any]) -> None:
        file_index, row_number = self.resume_point(job)
        self.state[self.KEY] = {"execution_ref": job["executionRef"], "file_index": file_index,
                                "row_number": row_number}

    def advance(self, file_index: int, row_number: int) -> None:
        marker = self.state[self.KEY]
        marker["file_index"] = file_index
        marker["row_number"] = row_number

    def finish(self) -> None:
        self.state.pop(self.KEY, None)


# ----------------------------------------------------------------------------------------- downloads


@dataclass(frozen=True)
class ExportFile:
    index: int
    url: str
    delta_action: str | None


class JobOutput:
    """The output files of one job, read row by row with retries and fresh URLs when they expire.

    Every request goes through `stream`: the listing through `fetch_listing` (its request path, with the
    API's auth), the files with one unauthenticated try each (retried here). With `files_ahead` above 0
    and more than one file, the next files download to temporary files while one is parsed (the kit's
    `FilesAhead`, at most `files_ahead` in flight); otherwise, and when a file is read again after a
    failure, it is parsed as it arrives.
    """

    def __init__(
        self,
        *,
        label: str,
        stream: KitRESTStream[t.Any],
        fetch_listing: Callable[[], t.Any],  # the listing document; None if there is none (404)
        secrets: SecretRegistry,
        csv_options: CSVOptions,
        files_ahead: int = 0,
        listing: t.Any = None,  # a listing already fetched (the most recent job's): no first request
    ) -> None:
        self.label = label
        self.files_ahead = files_ahead
        self._ahead: FilesAhead | None = None
        self.stream = stream
        self.fetch_listing = fetch_listing
        self.secrets = secrets
        self.csv_options = csv_options
        self.listed: list[ExportFile] | None = None
        #: True when the API answered 404 for the job's files.
        self.missing = False
        if listing is not None:
            self.listed = self.files_of(listing)

    @property
    def files(self) -> list[ExportFile]:
        """The job's files, from the last listing (fetched now if there is none)."""
        if self.listed is None:
            self.listed = self.list_files()
        return self.listed

    def refresh(self) -> None:
        """List the job's files again: fresh presigned URLs, after the old ones expired."""
        self.listed = self.list_files()
        self.close()  # downloads ahead under the old URLs would be refused too: start them again

    def close(self) -> None:
        """Stop the downloads ahead, and delete their temporary files."""
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def list_files(self) -> list[ExportFile]:
        listing = self.fetch_listing()
        if listing is None:  # 404: the job has no output, or it is no longer kept
            self.missing = True
            listing = {"exports": []}
        return self.files_of(listing)

    def files_of(self, listing: t.Any) -> list[ExportFile]:
        """The files of a listing document, their URLs registered for redaction."""
        entries = listing.get("exports") if isinstance(listing, dict) else None
        if not isinstance(entries, list):
            raise FatalAPIError(f"{self.label}: the export listing has no `exports` array")
        files = []
        for index, entry in enumerate(entries):
            url = entry.get("url") if isinstance(entry, dict) else None
            if not isinstance(url, str) or not url:
                raise FatalAPIError(f"{self.label}: file {index} of the export listing has no URL")
            self.forget_in_logs(url)
            action = entry.get("deltaAction")
            files.append(ExportFile(index, url, str(action).lower() if action else None))
        if self.listed is not None and len(files) != len(self.listed):
            raise FatalAPIError(f"{self.label}: the job listed {len(self.listed)} files, then {len(files)}; "
                                "its output changed while it was being read")
        return files

    def forget_in_logs(self, url: str) -> None:
        """Register a presigned URL's query string and signature values with the redaction filter."""
        query = urlsplit(url).query
        self.secrets.add(query, *(value for _, value in parse_qsl(query) if len(value) >= 16))

    def rows(self, file_index: int, after_row: int = 0) -> Iterator[Numbered]:
        """`(row_number, row)` of one file after row `after_row`, resuming there after any failure."""
        source = f"{self.label}, file {file_index}"

        openings = 0

        def open_rows() -> AbstractContextManager[Iterator[Numbered]]:
            # The first opening takes the file downloaded ahead. An opening after a failure streams it
            # instead: its rows then arrive as the bytes do, so even a connection that never lasts a
            # whole file makes progress from one try to the next.
            nonlocal openings
            openings += 1
            if openings == 1 and self.files_ahead > 0 and len(self.files) > 1:
                return self.downloaded_rows(file_index, source)
            return presigned_file_rows(self.stream, self.files[file_index].url, source, csv_options=self.csv_options)

        return ResumableRows(
            source=source,
            open_rows=open_rows,
            policy=self.stream.retry_policy,
            logger=self.stream.logger,
            malformed_hint=malformed_hint(self.csv_options),
            give_up_hint="Re-run to resume at this file, or raise `max_retries`.",
            refresh=self.refresh,
            max_refreshes=MAX_URL_REFRESHES,
            redact=self.secrets.redact,
        ).rows(after_row)


    @contextlib.contextmanager
    def downloaded_rows(self, file_index: int, source: str) -> Iterator[Iterator[Numbered]]:
        """The rows of a file downloaded ahead (or now, when it is not there yet or is read again)."""
        if self._ahead is None:
            self._ahead = FilesAhead(count=len(self.files), download=self.download, ahead=self.files_ahead,
                                     name="tap-sitecore-cdp")
        with self._ahead.open(file_index) as file:
            yield read_any_records(file, source, csv_options=self.csv_options)

    def download(self, file_index: int, sink: t.BinaryIO) -> None:
        """One file's bytes to `sink`, with one unauthenticated try (`ResumableRows` retries)."""
        response = self.stream.send("GET", self.files[file_index].url, authenticate=False, stream=True,
                                    tolerated=(403,))
        if response is None:
            raise ExpiredURLError(f"{self.label}, file {file_index}")
        copy_body(response, sink)


def malformed_hint(csv_options: CSVOptions) -> str:
    """Which setting to check when a file is malformed at its source."""
    if csv_options.delimiter:
        return (f"Check `csv_delimiter` ({csv_options.delimiter!r}): the export's output settings decide it; "
                "leave it unset to detect `,` or `|` from the file.")
    return ("If the export writes CSV without a header row, set `csv_has_header` to false and name the "
            "columns in `csv_columns`.")


def bookmark_value(job: Mapping[str, t.Any]) -> str:
    """A job's `endTime` as the records' `job_end_time` (Sitecore's format, so it also sorts as text)."""
    end = job_end(job)
    return format_timestamp(end) if end is not None else str(job.get("endTime"))
