"""Audience export output: which jobs to read, where a run stands, and each gzip file read row by row.

A job's files are listed by `GET /v2/audienceExports/executions/{ref}/export` with presigned URLs that
expire (spec §3.1, §3.3); a file is streamed, gunzipped and parsed incrementally, so an export of any
size flows through in flat memory. The URLs are treated as secrets: they never reach state, and their
query strings are registered for redaction before the first download.
"""

from __future__ import annotations

import codecs
import http.client
import io
import time
import typing as t
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from marketing_tapkit.errors import vendor_message
from marketing_tapkit.readers import (
    CorruptInputError,
    MalformedInputError,
    TruncatedInputError,
    open_decompressed,
    read_csv_records,
    read_json_array_records,
    read_jsonl_records,
    response_stream,
    sniff_format,
)
from marketing_tapkit.retry import describe_failure, is_retriable_status
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_sitecore_cdp.client import format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from datetime import datetime

    from marketing_tapkit.redaction import SecretRegistry
    from marketing_tapkit.retry import RetryPolicy

#: Jobs whose output can be read: ALERT jobs finished with warnings and may still have files (spec §3.2).
OUTPUT_STATUSES = frozenset({"SUCCESS", "ALERT"})
#: Fresh URL listings asked for one file without a row of progress before giving up.
MAX_URL_REFRESHES = 3
#: Failures of a download that count as transient: the body did not arrive whole.
TRANSIENT_DOWNLOAD_ERRORS: tuple[type[Exception], ...] = (
    RetriableAPIError,
    TruncatedInputError,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)

Row = dict[str, t.Any]


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


# ----------------------------------------------------------------------------------------- CSV shape


@dataclass(frozen=True)
class CSVOptions:
    """How CSV outputs are read: the delimiter (`,` or `|`, detected when None), header, column names."""

    delimiter: str | None = None
    has_header: bool = True
    columns: Sequence[str] | None = None


def detect_delimiter(reader: io.BufferedReader, candidates: str = ",|") -> str:
    """The candidate that splits the first line most often outside double quotes (`,` on a tie)."""
    head = reader.peek(65536)[:65536].lstrip(codecs.BOM_UTF8)
    line = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    counts = dict.fromkeys(candidates, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(candidates, key=lambda c: (counts[c], c == ","))


def read_rows(reader: io.BufferedReader, source: str, csv_options: CSVOptions) -> Iterator[tuple[int, Row]]:
    """Rows of one decompressed export file, JSON Lines or CSV as its content says (spec §4)."""
    shape = sniff_format(reader)
    if shape == "jsonl":
        return read_jsonl_records(reader, source)
    if shape == "json":
        return read_json_array_records(reader, source)
    return read_csv_records(
        reader,
        source,
        delimiter=csv_options.delimiter or detect_delimiter(reader),
        has_header=csv_options.has_header,
        columns=csv_options.columns,
    )


# ----------------------------------------------------------------------------------------- downloads


class ExpiredURLError(Exception):
    """A presigned URL was refused (S3 answers 403 once it has expired): the listing must be fetched again."""


@dataclass(frozen=True)
class ExportFile:
    index: int
    url: str
    delta_action: str | None


class JobOutput:
    """The output files of one job, read row by row with retries and fresh URLs when they expire."""

    def __init__(
        self,
        *,
        label: str,
        fetch_listing: Callable[[], t.Any],  # the listing document; None if there is none (404)
        session: requests.Session,
        timeout: int,
        retry_policy: RetryPolicy,
        logger: logging.Logger,
        secrets: SecretRegistry,
        csv_options: CSVOptions,
    ) -> None:
        self.label = label
        self._fetch_listing = fetch_listing
        self._session = session
        self._timeout = timeout
        self._policy = retry_policy
        self._logger = logger
        self._secrets = secrets
        self._csv = csv_options
        self._files: list[ExportFile] | None = None
        #: True when the API answered 404 for the job's files.
        self.missing = False

    @property
    def files(self) -> list[ExportFile]:
        """The job's files, from the last listing (fetched now if there is none)."""
        if self._files is None:
            self._files = self._list_files()
        return self._files

    def _list_files(self) -> list[ExportFile]:
        listing = self._fetch_listing()
        if listing is None:  # 404: the job has no output, or it is no longer kept
            self.missing = True
            listing = {"exports": []}
        entries = listing.get("exports") if isinstance(listing, dict) else None
        if not isinstance(entries, list):
            raise FatalAPIError(f"{self.label}: the export listing has no `exports` array")
        files = []
        for index, entry in enumerate(entries):
            url = entry.get("url") if isinstance(entry, dict) else None
            if not isinstance(url, str) or not url:
                raise FatalAPIError(f"{self.label}: file {index} of the export listing has no URL")
            self._forget_in_logs(url)
            action = entry.get("deltaAction")
            files.append(ExportFile(index, url, str(action).lower() if action else None))
        if self._files is not None and len(files) != len(self._files):
            raise FatalAPIError(f"{self.label}: the job listed {len(self._files)} files, then {len(files)}; "
                                "its output changed while it was being read")
        return files

    def _forget_in_logs(self, url: str) -> None:
        """Register a presigned URL's query string and signature values with the redaction filter."""
        query = urlsplit(url).query
        self._secrets.add(query, *(value for _, value in parse_qsl(query) if len(value) >= 16))

    def rows(self, file_index: int, after_row: int = 0) -> Iterator[tuple[int, Row]]:
        """`(row_number, row)` of one file after row `after_row`, resuming there after any failure."""
        last = after_row
        failures = refreshes = 0
        source = f"{self.label}, file {file_index}"
        while True:
            progress_at_start = last
            try:
                with self._download(self.files[file_index].url, source) as response:
                    reader = open_decompressed(response_stream(response), source)
                    for number, row in read_rows(reader, source, self._csv):
                        if number > last:
                            last = number
                            yield number, row
                return
            except ExpiredURLError:
                refreshes = 0 if last > progress_at_start else refreshes + 1
                if refreshes > MAX_URL_REFRESHES:
                    raise FatalAPIError(
                        f"{source}: the presigned download URL was refused {refreshes} times in a row, even "
                        "fresh ones (S3 answers 403 once they expire). Check this machine's clock, then re-run: "
                        "the sync resumes at this file."
                    ) from None
                self._logger.info("%s: the presigned URL has expired; asking for fresh ones", source)
                self._files = self._list_files()
            except MalformedInputError as error:
                # A cut or damaged file is fetched again; one malformed at its source fails at once.
                if not isinstance(error, TruncatedInputError | CorruptInputError):
                    raise FatalAPIError(f"{error}. {_malformed_hint(self._csv)}") from None
                failures = self._wait_or_give_up(error, 0 if last > progress_at_start else failures + 1, source)
            except TRANSIENT_DOWNLOAD_ERRORS as error:
                failures = self._wait_or_give_up(error, 0 if last > progress_at_start else failures + 1, source)

    def _wait_or_give_up(self, error: Exception, failures: int, source: str) -> int:
        failures = max(failures, 1)
        detail = self._secrets.redact(describe_failure(error))
        if failures >= self._policy.max_tries:
            raise FatalAPIError(f"{source}: the download failed {failures} times in a row ({detail}); re-run to "
                                "resume at this file, or raise `max_retries`.") from None
        wait = self._policy.wait_for(error, failures)
        self._logger.warning("%s: the download failed (%s); resuming after the last row read in %.1f s",
                             source, detail, wait)
        time.sleep(wait)
        return failures

    def _download(self, url: str, source: str) -> requests.Response:
        # No Authorization header: the URL carries its own signature, and S3 refuses a second mechanism.
        response = self._session.get(url, stream=True, timeout=self._timeout)
        if response.status_code < 400:
            return response
        status, said = response.status_code, vendor_message(response)
        response.close()
        if status == 403:
            raise ExpiredURLError(said)
        message = f"{source}: the download failed with HTTP {status}: {said}"
        if is_retriable_status(status):
            raise RetriableAPIError(message, response)
        raise FatalAPIError(message)


def _malformed_hint(csv_options: CSVOptions) -> str:
    if csv_options.delimiter:
        return (f"Check `csv_delimiter` ({csv_options.delimiter!r}): the export's output settings decide it; "
                "leave it unset to detect `,` or `|` from the file.")
    return ("If the export writes CSV without a header row, set `csv_has_header` to false and name the "
            "columns in `csv_columns`.")


def bookmark_value(job: Mapping[str, t.Any]) -> str:
    """A job's `endTime` as the records' `job_end_time` (Sitecore's format, so it also sorts as text)."""
    end = job_end(job)
    return format_timestamp(end) if end is not None else str(job.get("endTime"))
