"""Cordial's export jobs in the emulator: the export requests and their validation, and the job life cycle
(the files themselves are written by `sandbox.cordial.destinations`).

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

import dataclasses
import re
import threading
import time
import typing as t
from datetime import date

from sandbox.cordial.data import CordialData, cordial_time, object_id
from sandbox.cordial.filters import index_range, parse_filter_time
from sandbox.framework import HTTPError

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
    if "Authentication" in kind or "530" in text or "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text:
        return "Login failed."
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text or "No such file" in text:
        return f"Invalid file path '{destination.get('path', '')}'."
    if isinstance(exc, OSError | ConnectionError):
        return f"Unable to open connection to {destination.get('server', 's3')} : {destination.get('port', '')}"
    return f"Export failed: {kind}"


# ------------------------------------------------------------------------------------- export requests


def export_basics(body: t.Any, *, export_types: set[str]) -> tuple[str, str, dict[str, t.Any]]:
    """(name, export type, destination) of an export request, checked as Cordial checks them (§8)."""
    if not isinstance(body, dict):
        raise HTTPError(400, "Invalid JSON provided.", error_key="INVALID_JSON_PROVIDED")
    name = body.get("name")
    if not name:
        raise config_error("Field 'name' should be provided.")
    if not NAME_PATTERN.match(str(name)):
        raise config_error("The name may only contain letters, numbers, and dashes.")
    export_type = str(body.get("exportType") or "").lower()
    if not export_type:
        raise config_error("Field 'exportType' should be specified")
    if export_type not in export_types:
        raise destination_error("The selected export type is invalid.")
    return str(name), export_type, validate_destination(body.get("destination"))

def contact_export(body: t.Any, data: CordialData) -> tuple[dict[str, t.Any], ExportFile]:
    """The destination and file of a `POST /v2/contactexports` (spec §8.2)."""
    name, export_type, destination = export_basics(body, export_types={"json", "csv", "txt"})
    fields = [str(f) for f in body.get("fields") or []]
    list_names = []
    by_id = {str(item["id"]): item["name"] for item in data.lists}
    names = {item["name"] for item in data.lists}
    for ref in body.get("lists") or []:
        if str(ref) in by_id:
            list_names.append(by_id[str(ref)])
        elif ref in names:
            list_names.append(str(ref))
        else:
            raise destination_error(f"List '{ref}' does not exist.")
    audience = body.get("audience-key")
    if audience:
        data.audience(str(audience))
    count = data.count("contacts")

    def rows() -> Iterator[dict[str, t.Any]]:
        for index in range(count):
            if audience and not data.in_audience(str(audience), index):
                continue
            yield contact_export_row(data.contact(index), fields, list_names)

    export = ExportFile(name, "csv" if export_type == "txt" else export_type, rows, count,
                        compress=bool(body.get("compress")), show_header=bool(body.get("showHeader")))
    return destination, export

def contact_activity_export(body: t.Any, data: CordialData) -> tuple[dict[str, t.Any], ExportFile]:
    """The destination and file of a `POST /v2/contactactivityexport` (spec §8.4)."""
    name, export_type, destination = export_basics(body, export_types={"json", "csv", "txt"})
    if body.get("selected_action_name") and body.get("selected_action_names"):
        raise config_error("Please use only one from existing filters 'selected_action_name' OR "
                           "'selected_action_names'")
    start_text, end_text = body.get("selected_timeframe_start"), body.get("selected_timeframe_end")
    start = parse_filter_time(str(start_text)) if start_text else None
    end = parse_filter_time(str(end_text)) if end_text else None
    if start is None or end is None:
        raise config_error("Both fields 'selected_timeframe_start' and 'selected_timeframe_end' should be "
                           "present.")
    if end < start:
        raise config_error("'selected_timeframe_end' cannot be in past in comparison with "
                           "'selected_timeframe_start'")
    actions = set(body.get("selected_action_names") or ([body["selected_action_name"]]
                                                          if body.get("selected_action_name") else []))
    count = data.count("activities", 3)
    indexes = index_range(count, data.activity_time, start, True, high=end, high_inclusive=True)

    def rows() -> Iterator[dict[str, t.Any]]:
        for index in indexes:
            record = data.activity(index)
            if not actions or record["action"] in actions:
                yield activity_export_row(record)

    export = ExportFile(name, "csv" if export_type == "txt" else export_type, rows, len(indexes),
                        compress=bool(body.get("compress")),
                        limit_per_file=int(body.get("limitRecordsPerFile") or 0),
                        show_header=bool(body.get("showHeader", True)))
    return destination, export

def audience_trends_export(body: t.Any, data: CordialData) -> tuple[dict[str, t.Any], ExportFile]:
    """The destination and file of a `POST /v2/audiencetrendsexport` (spec §8.3)."""
    name, _, destination = export_basics(body, export_types={"csv"})
    audiences = body.get("audiences")
    if not audiences or not isinstance(audiences, list):
        raise config_error("Field 'audiences' should be provided.")
    start_text, end_text = body.get("selected_timeframe_start"), body.get("selected_timeframe_end")
    if not start_text or not end_text:
        raise config_error("Both fields 'selected_timeframe_start' and 'selected_timeframe_end' should be "
                           "present.")
    start, end = _iso_date(start_text, "selected_timeframe_start"), _iso_date(end_text, "selected_timeframe_end")
    if end < start:
        raise config_error("'selected_timeframe_end' cannot be in past in comparison with "
                           "'selected_timeframe_start'")
    for audience_name in audiences:
        audience = data.find_audience(audience_name)
        if audience is None:
            raise config_error(f"Audience '{audience_name}' does not exist.")
        if not audience.get("trends"):
            raise config_error(f"For Audience '{audience_name}' analytics disabled.")
    days = data.days(start, end)

    def rows() -> Iterator[dict[str, t.Any]]:
        for audience_name in audiences:
            yield {"audience": audience_name, **{d.isoformat(): data.audience_count(audience_name, d)
                                                 for d in days}}

    export = ExportFile(name, "csv", rows, len(audiences), compress=bool(body.get("compress")),
                        columns=["audience", *(d.isoformat() for d in days)], show_header=True)
    return destination, export


def contact_export_row(contact: dict[str, t.Any], fields: list[str], list_names: list[str]) -> dict[str, t.Any]:
    """A contact as a JSON contact export writes it (GUESSED): `_id`, channels, the requested fields, and
    one 1/0 column per requested list (S4: "a 1 for being on the list or a 0 for not")."""
    row: dict[str, t.Any] = {"_id": contact["_id"], "channels": contact["channels"]}
    for field in fields:
        if field in contact and field not in {"lists", "lj", "_id", "channels"}:
            row[field] = contact[field]
    for name in list_names:
        row[name] = 1 if name in contact["lists"] else 0
    return row


def activity_export_row(activity: dict[str, t.Any]) -> dict[str, t.Any]:
    """An event as an export writes it: stored field names (`a` action, `ats` time) (spec §8.4, GUESSED)."""
    row = {k: v for k, v in activity.items() if k not in {"action", "time"}}
    row["a"] = activity["action"]
    row["ats"] = activity["time"]
    return row


def _iso_date(value: t.Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise config_error(f"The '{field}' is invalid. ISO-8601 is a recommended format.") from None
