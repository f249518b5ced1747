"""Cordial's export jobs in the emulator: validation, the job life cycle, and files written to the destination.

Spec cordial.md §7-§8:
- `POST /v2/<export>` validates the destination (400) and the export configuration (406) synchronously,
  then answers `{"jobId"}`. The job writes its file(s) to the customer's destination (S3 or SFTP here,
  through the real protocols, with the credentials given in the request), named
  `<path>/<name>.<json|csv>[.gz]` or `<path>/<name>_<n>.<ext>[.gz]` with `limitRecordsPerFile` (GUESSED).
- `GET /v2/jobs/{id}` shows `Scheduled` → `Processing` (`completedItems` rising) → `Done` or `Failed`,
  by wall-clock time (settings `job_schedule_seconds`, `job_seconds`), and never `Done` before the file
  is complete. A destination the job cannot write to (bad password, missing bucket or folder) fails the
  job with `STORAGE_CONNECTION_ERROR`-style details (INFERRED). Setting `job_outcomes` maps a jobName
  (or `*`) to `fail` or `stall` (Processing forever) for tests.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import os
import re
import tempfile
import threading
import time
import typing as t

from sandbox.cordial_data import cordial_time, object_id
from sandbox.framework import HTTPError, chunked

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

NAME_PATTERN = re.compile(r"^[A-Za-z0-9-]+$")
DESTINATION_TYPES = {"aws", "ftp", "sftp", "s3", "gcs", "azureblob"}


def config_error(message: str) -> HTTPError:
    """406: the export configuration is wrong (spec §8.2-§8.4)."""
    return HTTPError(406, message, error_key="GENERIC_ERROR_KEY")


def destination_error(message: str) -> HTTPError:
    """400: the destination is wrong (spec §8)."""
    return HTTPError(400, message, error_key="GENERIC_ERROR_KEY")


def validate_destination(destination: t.Any) -> dict[str, t.Any]:
    """The destination with a lower-case `type`, or the 400 Cordial answers for a bad one."""
    if not isinstance(destination, dict) or not destination.get("type"):
        raise destination_error("The destination.type field is required.")
    kind = str(destination["type"]).lower()
    if kind not in DESTINATION_TYPES:
        raise destination_error("The selected destination.transport is invalid.")
    if kind in {"sftp", "ftp"}:
        for field in ("server", "username"):
            if not destination.get(field):
                raise destination_error(f"The destination.{field} field is required.")
        if not destination.get("password") and not destination.get("savedKey"):
            raise destination_error("Parameter password is not set")
    if kind == "s3":
        for field in ("aws_access_key_id", "aws_secret_access_key", "aws_bucket", "aws_region"):
            if not destination.get(field):
                raise destination_error(f"The destination.{field.replace('_', ' ')} field is required.")
    if kind == "gcs" and not destination.get("gcs_bucket"):
        raise destination_error("The destination.gcs bucket field is required.")
    if kind != "aws" and not destination.get("path"):
        raise destination_error("The destination.path field is required.")
    return {**destination, "type": kind}


@dataclasses.dataclass
class ExportFile:
    """What a job writes: rows (dicts), in `json` (JSON Lines) or `csv`."""

    name: str
    export_type: str
    rows: Callable[[], Iterable[dict[str, t.Any]]]
    total: int
    compress: bool = False
    limit_per_file: int = 0
    columns: list[str] | None = None
    show_header: bool = True


@dataclasses.dataclass
class Job:
    job_id: str
    job_name: str
    created: float
    total: int
    metadata: dict[str, t.Any]
    outcome: str = "done"
    written: bool = False
    error: str | None = None
    finished_at: float | None = None

    def view(self, schedule_seconds: float, run_seconds: float, now: float) -> dict[str, t.Any]:
        """The job as `GET /v2/jobs/{id}` shows it at `now`."""
        elapsed = now - self.created
        start = self.created + schedule_seconds
        record: dict[str, t.Any] = {
            "_id": self.job_id, "jobName": self.job_name, "totalItems": self.total,
            "metadata": self.metadata, "times": {"start": cordial_time(start)},
        }
        if elapsed < schedule_seconds:
            record.update(status="Scheduled", completedItems=0)
            return record
        fraction = min(1.0, (elapsed - schedule_seconds) / max(run_seconds, 1e-6))
        finished = fraction >= 1.0 and (self.written or self.error is not None)
        if self.outcome == "stall" or not finished:
            shown = 0.4 if self.outcome == "stall" else min(fraction, 0.99)
            record.update(status="Processing", completedItems=int(self.total * shown))
            return record
        if self.outcome == "fail" or self.error is not None:
            record.update(status="Failed", completedItems=int(self.total * 0.5))
            record["result"] = {"error": 1, "totalRecords": self.total}
            record["metadata"] = {**self.metadata, "error": self.error or "Export failed: internal error"}
        else:
            record.update(status="Done", completedItems=self.total)
        end = max(start + run_seconds, self.finished_at or 0)
        record["times"]["end"] = cordial_time(end)
        return record


class JobStore:
    """Jobs created by export requests, each writing its file in a background thread."""

    def __init__(self, writer: Callable[[dict[str, t.Any], ExportFile], None]) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._writer = writer
        self._counter = 0

    def create(self, job_name: str, destination: dict[str, t.Any], export: ExportFile, outcome: str) -> Job:
        with self._lock:
            self._counter += 1
            job_id = object_id("job", job_name, time.time(), self._counter)
            job = Job(job_id, job_name, time.time(), export.total,
                      {"name": export.name, "exportType": export.export_type, "fileName": export.name},
                      outcome=outcome)
            self._jobs[job_id] = job
        thread = threading.Thread(target=self._write, args=(job, destination, export), daemon=True,
                                  name=f"cordial-export-{job_id}")
        thread.start()
        return job

    def _write(self, job: Job, destination: dict[str, t.Any], export: ExportFile) -> None:
        if job.outcome == "stall":
            return
        if job.outcome == "fail":
            job.error = "Export failed: internal error"
            job.finished_at = time.time()
            return
        try:
            self._writer(destination, export)
            job.written = True
        except Exception as exc:  # noqa: BLE001 - a failed write is a Failed job, as at Cordial
            job.error = f"STORAGE_CONNECTION_ERROR: {describe_storage_error(exc, destination)}"
        job.finished_at = time.time()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())


def describe_storage_error(exc: Exception, destination: dict[str, t.Any]) -> str:
    """Cordial's wording for destination failures (spec §6, S8)."""
    text = str(exc)
    kind = type(exc).__name__
    if "Authentication" in kind or "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text:
        return "Login failed."
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text or "No such file" in text:
        return f"Invalid file path '{destination.get('path', '')}'."
    if isinstance(exc, OSError | ConnectionError):
        return f"Unable to open connection to {destination.get('server', 's3')} : {destination.get('port', '')}"
    return f"Export failed: {kind}"


# ---------------------------------------------------------------------------------------- file output


def encode_rows(export: ExportFile, rows: Iterable[dict[str, t.Any]]) -> Iterator[bytes]:
    """The bytes of one export file (JSON Lines, or CSV with flattened dotted columns)."""
    if export.export_type == "json":
        for row in rows:
            yield json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = export.columns
    header_pending = export.show_header
    for row in rows:
        flat = flatten(row)
        if columns is None:
            columns = list(flat)
        if header_pending:
            writer.writerow(columns)
            header_pending = False
        writer.writerow([_csv_value(flat.get(column)) for column in columns])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if header_pending and columns is not None:
        writer.writerow(columns)
        yield buffer.getvalue().encode()


def _csv_value(value: t.Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def flatten(row: dict[str, t.Any], prefix: str = "") -> dict[str, t.Any]:
    flat: dict[str, t.Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in {"properties", "listJoinDate"}:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def export_parts(export: ExportFile) -> Iterator[tuple[str, Iterator[dict[str, t.Any]]]]:
    """(file name, rows) for each file of the export."""
    extension = "json" if export.export_type == "json" else export.export_type
    suffix = f".{extension}" + (".gz" if export.compress else "")
    rows = iter(export.rows())
    if not export.limit_per_file:
        yield f"{export.name}{suffix}", rows
        return
    number = 0
    while True:
        first = next(rows, None)
        if first is None:
            if number == 0:
                yield f"{export.name}_1{suffix}", iter(())
            return
        number += 1
        limit = export.limit_per_file

        def take(first: dict[str, t.Any] = first, limit: int = limit) -> Iterator[dict[str, t.Any]]:
            yield first
            for _ in range(limit - 1):
                row = next(rows, None)
                if row is None:
                    return
                yield row

        yield f"{export.name}_{number}{suffix}", take()


def write_local_file(export: ExportFile, rows: Iterable[dict[str, t.Any]], directory: str) -> str:
    """Write one export file to a temporary path (gzip if asked), streaming; returns the path."""
    handle, path = tempfile.mkstemp(prefix="cordial-export-", dir=directory)
    with os.fdopen(handle, "wb") as raw:
        if export.compress:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5) as zipped:
                for chunk in chunked(encode_rows(export, rows)):
                    zipped.write(chunk)
        else:
            for chunk in chunked(encode_rows(export, rows)):
                raw.write(chunk)
    return path
