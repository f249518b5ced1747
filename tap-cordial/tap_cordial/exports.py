"""Export jobs: request one, wait for it, stream its files from the destination.

Life cycle (spec cordial.md §8.7): `POST /v2/<export>` → `{"jobId"}`; `GET /v2/jobs/{id}` moves
`Scheduled`/`Pending` → `Processing` (`completedItems` rising; `Throttled` also means still running) →
`Done` or `Failed`. The job object has no file link, so on `Done` the tap lists the destination folder
for the files named after the export and reads them through fsspec, decompressing and parsing as it
goes; a read cut short (a dropped connection, a truncated or damaged file) opens the file again and
carries on after the last row read. Before the job is requested, the tap lists that folder once with its
own credentials, so a destination it could never read fails before Cordial does any work.

The files of one job download ahead (`FilesAhead`, up to `max_concurrent_requests - 1` while one is
parsed), each to a temporary file, so the parser never waits for a transfer that could have started.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import time
import typing as t
from datetime import UTC, datetime

from marketing_tapkit.config import config_error
from marketing_tapkit.downloads import FilesAhead, ResumableRows
from marketing_tapkit.readers import read_any_records
from singer_sdk.exceptions import FatalAPIError

from tap_cordial.destination import DestinationUnreadableError, require_export_destination

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from fsspec import AbstractFileSystem
    from marketing_tapkit.readers import Numbered

    from tap_cordial.client import CordialStream
    from tap_cordial.destination import ExportDestination

RUNNING_STATUSES = {"Scheduled", "Pending", "Processing", "Throttled"}
DEFAULT_POLL_INTERVAL = 15.0
DEFAULT_JOB_TIMEOUT = 7200.0
DEFAULT_NAME_PREFIX = "tap-cordial"
#: Export names: letters, numbers and dashes only (spec §8).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9-]+$")
# Progress lines at most this often, however short the poll interval.
_PROGRESS_LOG_SECONDS = 30.0
_COPY_CHUNK_BYTES = 1 << 20


def export_name(stream_name: str, prefix: str = DEFAULT_NAME_PREFIX) -> str:
    """A unique export name: letters, numbers and dashes only (spec §8), so its files can be found."""
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stream_name.replace('_', '-')}-{stamp}-{secrets.token_hex(3)}"


def export_name_prefix(config: t.Mapping[str, t.Any]) -> str:
    """The `export_name_prefix` setting (default `tap-cordial`), checked against Cordial's name rule."""
    prefix = str(config.get("export_name_prefix") or DEFAULT_NAME_PREFIX).strip("-")
    if not NAME_PATTERN.match(prefix):
        raise config_error(
            f"Setting `export_name_prefix` may hold only letters, numbers and dashes (Cordial's rule for export "
            f"names), got {config.get('export_name_prefix')!r}."
        )
    return prefix


class ExportJobError(FatalAPIError):
    """An export job that failed or did not finish in time."""


class ExportJob:
    """One export, from request to records, with the requests of the stream it is for."""

    def __init__(self, stream: CordialStream, destination: ExportDestination, *, poll_interval: float,
                 timeout: float, name_prefix: str = DEFAULT_NAME_PREFIX) -> None:
        self.stream = stream
        self.destination = destination
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.name = export_name(stream.name, name_prefix)
        self._fs: AbstractFileSystem | None = None

    @classmethod
    def for_stream(cls, stream: CordialStream, why: str) -> ExportJob:
        """A job writing into `export_destination`, polled as the settings say (`why` names what needs it)."""
        return cls(
            stream, require_export_destination(stream.config, why),
            poll_interval=float(stream.config.get("job_poll_interval") or 0),
            timeout=float(stream.config.get("job_timeout") or 0),
            name_prefix=export_name_prefix(stream.config),
        )

    @property
    def stream_name(self) -> str:
        return self.stream.name

    @property
    def fs(self) -> AbstractFileSystem:
        """The destination's file system, with the tap's credentials (opened once per job)."""
        if self._fs is None:
            self._fs = self.destination.filesystem()
        return self._fs

    def check_destination(self) -> None:
        """Fail before the job exists when the tap cannot list the destination folder (names what to fix)."""
        try:
            self._fs = self.destination.listable_filesystem()
        except DestinationUnreadableError as exc:
            raise ExportJobError(f"{self.stream_name}: {exc}") from None

    def start(self, endpoint: str, body: dict[str, t.Any]) -> str:
        """Check the destination, then request the export; returns its job id."""
        self.check_destination()
        request = {**body, "name": self.name, "destination": self.destination.cordial_body()}
        answer = self.stream.request_json("POST", f"/{endpoint}", json=request,
                                          what=f"{self.stream_name}: creating the export")
        job_id = answer.get("jobId") if isinstance(answer, dict) else None
        if not job_id:
            raise FatalAPIError(f"{self.stream_name}: POST /v2/{endpoint} answered without a jobId: {answer!r}")
        self.stream.logger.info("%s: export job %s (%s) created, writing to %s", self.stream_name, job_id,
                                self.name, self.destination.describe(self.destination.folder))
        return str(job_id)

    def wait(self, job_id: str) -> dict[str, t.Any]:
        """Poll the job until `Done`; raise with its details on `Failed` or after `job_timeout`."""
        logger = self.stream.logger
        started = time.monotonic()
        last_log = 0.0
        while True:
            job = self.stream.request_json("GET", f"/jobs/{job_id}", what=f"{self.stream_name}: polling job {job_id}")
            if not isinstance(job, dict):
                raise FatalAPIError(f"{self.stream_name}: GET /v2/jobs/{job_id} answered {job!r}")
            status = str(job.get("status") or "")
            elapsed = time.monotonic() - started
            if status == "Done":
                logger.info("%s: job %s done: %s items in %.0f s", self.stream_name, job_id,
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
                logger.warning("%s: job %s has an unknown status %r; still waiting", self.stream_name, job_id, status)
            if elapsed >= self.timeout:
                raise ExportJobError(
                    f"{self.stream_name}: Cordial export job {job_id} did not finish within job_timeout="
                    f"{self.timeout:g} s (last status {status or 'unknown'}, {_progress(job)}). Raise "
                    "`job_timeout`, or check the job on the Jobs page of Cordial's UI."
                )
            if elapsed - last_log >= _PROGRESS_LOG_SECONDS or last_log == 0.0:
                last_log = max(elapsed, 1e-9)
                logger.info("%s: job %s %s: %s, %.0f s elapsed", self.stream_name, job_id, status,
                            _progress(job), elapsed)
            time.sleep(min(self.poll_interval, max(0.0, self.timeout - elapsed)) or 0.01)

    def file_rows(self) -> Iterator[tuple[str, Iterator[Numbered]]]:
        """(file name, its numbered rows) for every file the export wrote, in order; consume each before the next.

        The files download ahead of the parser (`FilesAhead`), each to a temporary file, at most
        `max_concurrent_requests - 1` at a time.
        """
        files = self.destination.export_files(self.fs, self.name)
        if not files:
            raise ExportJobError(
                f"{self.stream_name}: the export job is Done but {self.destination.describe(self.destination.folder)}"
                f" holds no file named {self.name}*. Check `export_destination.path` and that the tap reads "
                "the same bucket or server Cordial writes to (`endpoint_url`, `server`, `port`)."
            )
        ahead = max(0, self.stream.http.max_concurrent_requests - 1)
        with FilesAhead(count=len(files), download=lambda index, sink: self.download(files[index], sink),
                        ahead=ahead, name=self.stream_name) as downloads:
            for index, path in enumerate(files):
                source = self.destination.describe(path)
                self.stream.logger.info("%s: reading %s", self.stream_name, source)
                yield source, self.resumable_rows(downloads, index, source).rows()

    def download(self, path: str, sink: t.BinaryIO) -> None:
        """Copy one export file into `sink`, on a file system of its own (downloads run side by side)."""
        if self.destination.type not in {"sftp", "ftp"}:
            with self.destination.open_file(self.fs, path) as raw:
                shutil.copyfileobj(raw, sink, _COPY_CHUNK_BYTES)
            return
        fs = self.destination.filesystem(fresh=True)
        try:
            with self.destination.open_file(fs, path) as raw:
                shutil.copyfileobj(raw, sink, _COPY_CHUNK_BYTES)
        finally:
            for session in (getattr(fs, "ftp", None), getattr(fs, "client", None)):
                if session is not None:
                    with contextlib.suppress(Exception):
                        session.close()

    def resumable_rows(self, downloads: FilesAhead, index: int, source: str) -> ResumableRows:
        """The rows of file `index` (gzip, JSON Lines, JSON array or CSV), downloaded again where a read broke off."""

        @contextlib.contextmanager
        def open_rows() -> Iterator[Iterator[Numbered]]:
            with downloads.open(index) as raw:
                yield read_any_records(raw, source)

        return ResumableRows(
            source=source, open_rows=open_rows, policy=self.stream.retry_policy, logger=self.stream.logger,
            malformed_hint="Cordial wrote it malformed: check the job on the Jobs page of Cordial's UI",
            give_up_hint="Check that the tap can read the `export_destination`, then re-run the sync, or "
                         "raise `max_retries`.",
        )

    def records(self) -> Iterator[dict[str, t.Any]]:
        """Every row of every file the export wrote, streamed."""
        for _, rows in self.file_rows():
            for _, row in rows:
                yield row

    def run(self, endpoint: str, body: dict[str, t.Any]) -> Iterator[dict[str, t.Any]]:
        """Request, wait, read."""
        self.wait(self.start(endpoint, body))
        yield from self.records()


def _progress(job: dict[str, t.Any]) -> str:
    return f"{job.get('completedItems', 0)}/{job.get('totalItems', '?')} items"


def _job_details(job: dict[str, t.Any]) -> str:
    details = {key: job[key] for key in ("status", "metadata", "result", "times") if job.get(key)}
    details["progress"] = _progress(job)
    return ", ".join(f"{key}={value}" for key, value in details.items())
