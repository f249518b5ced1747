"""Export jobs: request one, wait for it, stream its files from the destination.

Life cycle (spec cordial.md §8.7): `POST /v2/<export>` → `{"jobId"}`; `GET /v2/jobs/{id}` moves
`Scheduled`/`Pending` → `Processing` (`completedItems` rising; `Throttled` also means still running) →
`Done` or `Failed`. The job object has no file link, so on `Done` the tap lists the destination folder
for the files named after the export and reads them through fsspec, decompressing and parsing as it
goes.
"""

from __future__ import annotations

import secrets
import time
import typing as t
from datetime import UTC, datetime

from marketing_tapkit.readers import open_decompressed, read_csv_records, read_json_records, sniff_format
from singer_sdk.exceptions import FatalAPIError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Mapping

    from tap_cordial.client import CordialClient
    from tap_cordial.destination import ExportDestination

RUNNING_STATUSES = {"Scheduled", "Pending", "Processing", "Throttled"}
DEFAULT_POLL_INTERVAL = 15.0
DEFAULT_JOB_TIMEOUT = 7200.0
# Progress lines at most this often, however short the poll interval.
_PROGRESS_LOG_SECONDS = 30.0


def export_name(stream_name: str) -> str:
    """A unique export name: letters, numbers and dashes only (spec §8), so its files can be found."""
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"tap-cordial-{stream_name.replace('_', '-')}-{stamp}-{secrets.token_hex(3)}"


class ExportJobError(FatalAPIError):
    """An export job that failed or did not finish in time."""


class ExportJob:
    """One export, from request to records."""

    def __init__(self, api: CordialClient, destination: ExportDestination, *, stream_name: str,
                 poll_interval: float, timeout: float, logger: logging.Logger) -> None:
        self.api = api
        self.destination = destination
        self.stream_name = stream_name
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.logger = logger
        self.name = export_name(stream_name)

    def start(self, endpoint: str, body: dict[str, t.Any]) -> str:
        """Request the export; returns its job id."""
        request = {**body, "name": self.name, "destination": self.destination.cordial_body()}
        answer = self.api.request_json("POST", f"/v2/{endpoint}", body=request,
                                       what=f"{self.stream_name}: creating the export")
        job_id = answer.get("jobId") if isinstance(answer, dict) else None
        if not job_id:
            raise FatalAPIError(f"{self.stream_name}: POST /v2/{endpoint} answered without a jobId: {answer!r}")
        self.logger.info("%s: export job %s (%s) created, writing to %s", self.stream_name, job_id, self.name,
                         self.destination.describe(self.destination.folder))
        return str(job_id)

    def wait(self, job_id: str) -> dict[str, t.Any]:
        """Poll the job until `Done`; raise with its details on `Failed` or after `job_timeout`."""
        started = time.monotonic()
        last_log = 0.0
        while True:
            job = self.api.request_json("GET", f"/v2/jobs/{job_id}", what=f"{self.stream_name}: polling job {job_id}")
            if not isinstance(job, dict):
                raise FatalAPIError(f"{self.stream_name}: GET /v2/jobs/{job_id} answered {job!r}")
            status = str(job.get("status") or "")
            elapsed = time.monotonic() - started
            if status == "Done":
                self.logger.info("%s: job %s done: %s items in %.0f s", self.stream_name, job_id,
                                 job.get("completedItems", job.get("totalItems", "?")), elapsed)
                return job
            if status == "Failed":
                raise ExportJobError(
                    f"{self.stream_name}: Cordial export job {job_id} ({job.get('jobName', '?')}) failed after "
                    f"{elapsed:.0f} s: {_job_details(job)}. Check that Cordial can write to the "
                    "`export_destination` (credentials, bucket or folder, and for SFTP the server address "
                    "and port), and the job on the Jobs page of Cordial's UI."
                )
            if status not in RUNNING_STATUSES:
                self.logger.warning("%s: job %s has an unknown status %r; still waiting", self.stream_name,
                                    job_id, status)
            if elapsed >= self.timeout:
                raise ExportJobError(
                    f"{self.stream_name}: Cordial export job {job_id} did not finish within job_timeout="
                    f"{self.timeout:g} s (last status {status or 'unknown'}, {_progress(job)}). Raise "
                    "`job_timeout`, or check the job on the Jobs page of Cordial's UI."
                )
            if elapsed - last_log >= _PROGRESS_LOG_SECONDS or last_log == 0.0:
                last_log = max(elapsed, 1e-9)
                self.logger.info("%s: job %s %s: %s, %.0f s elapsed", self.stream_name, job_id, status,
                                 _progress(job), elapsed)
            time.sleep(min(self.poll_interval, max(0.0, self.timeout - elapsed)) or 0.01)

    def file_rows(self) -> Iterator[tuple[str, Iterator[tuple[int, dict[str, t.Any]]]]]:
        """(file name, its numbered rows) for every file the export wrote; consume each before the next."""
        fs = self.destination.filesystem()
        files = self.destination.export_files(fs, self.name)
        if not files:
            raise ExportJobError(
                f"{self.stream_name}: the export job is Done but {self.destination.describe(self.destination.folder)}"
                f" holds no file named {self.name}*. Check `export_destination.path` and that the tap reads "
                "the same bucket or server Cordial writes to (`endpoint_url`, `server`, `port`)."
            )
        for path in files:
            source = self.destination.describe(path)
            self.logger.info("%s: reading %s", self.stream_name, source)
            with self.destination.open_file(fs, path) as raw:
                yield source, read_rows(raw, source)

    def records(self) -> Iterator[dict[str, t.Any]]:
        """Every row of every file the export wrote, streamed (gzip, JSON Lines, JSON array or CSV)."""
        for _, rows in self.file_rows():
            for _, row in rows:
                yield row

    def run(self, endpoint: str, body: dict[str, t.Any]) -> Iterator[dict[str, t.Any]]:
        """Request, wait, read."""
        self.wait(self.start(endpoint, body))
        yield from self.records()


def read_rows(raw: t.BinaryIO, source: str) -> Iterator[tuple[int, dict[str, t.Any]]]:
    """Rows of an export file whatever its format: JSON Lines, a JSON array or CSV with a header."""
    reader = open_decompressed(raw, source)
    if sniff_format(reader) == "csv":
        return read_csv_records(reader, source)
    return read_json_records(reader, source)


def _progress(job: dict[str, t.Any]) -> str:
    return f"{job.get('completedItems', 0)}/{job.get('totalItems', '?')} items"


def _job_details(job: dict[str, t.Any]) -> str:
    details = {key: job[key] for key in ("status", "metadata", "result", "times") if job.get(key)}
    details["progress"] = _progress(job)
    return ", ".join(f"{key}={value}" for key, value in details.items())


class ExportJobMixin:
    """For streams that read export jobs: a new job from the tap's settings."""

    name: str
    config: Mapping[str, t.Any]
    logger: logging.Logger
    _tap: t.Any

    def new_export_job(self, why: str) -> ExportJob:
        """A job writing into `export_destination` (`why` names what needs it, for the config error)."""
        return ExportJob(
            self._tap.api, self._tap.require_export_destination(why), stream_name=self.name,
            poll_interval=float(self.config.get("job_poll_interval") or 0),
            timeout=float(self.config.get("job_timeout") or 0), logger=self.logger,
        )
