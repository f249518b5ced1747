"""Sitecore CDP's audience exports in the emulator: export definitions, their finished jobs, the files
each job wrote (gzip JSON Lines or CSV, generated on the fly) and the listings that hand out presigned
URLs to them (spec sitecore-cdp.md §3-§4).

Jobs and files are pure functions of `(seed, settings, number)`: a ref in a URL leads back to its job
without a lookup table, and a file of a million rows costs no memory.
"""

from __future__ import annotations

import secrets
import time
import typing as t
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sandbox.framework import Response, chunked, csv_body, json_lines, stable_hash
from sandbox.sitecore_cdp.data import CITIES, FIRST_NAMES, GUEST_ANCHOR, LAST_NAMES, TIERS, iso_ms, ref_for

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

FILE_PREFIX = "/sitecore-cdp-exports"
# Export job number j ran on the morning of this day plus j days.
JOB_ANCHOR = datetime(2025, 11, 1, tzinfo=UTC)
CSV_COLUMNS = ["guestRef", "email", "firstName", "lastName", "city", "loyaltyTier", "rewardPoints"]
GZIP_CHUNK = 256 * 1024


@dataclass(frozen=True)
class ExportDefinition:
    """One audience export as the emulator's `exports` setting describes it."""

    friendly_id: str
    format: str = "jsonl"  # jsonl | csv
    delimiter: str = ","
    header: bool = True
    quote_all: bool = False
    definition_type: str = "FULL_SYNC"  # FULL_SYNC | DELTA
    jobs: int = 3
    rows: int | None = None  # default: the emulator's scale
    failed_jobs: tuple[int, ...] = ()
    alert_jobs: tuple[int, ...] = ()
    expired_jobs: tuple[int, ...] = ()  # finished jobs whose output is no longer kept (404)
    columns: tuple[str, ...] = tuple(CSV_COLUMNS)

    @classmethod
    def from_setting(cls, value: t.Mapping[str, t.Any]) -> ExportDefinition:
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        for name in ("failed_jobs", "alert_jobs", "expired_jobs", "columns"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)

    def uuid(self, seed: int) -> str:
        return str(uuid.UUID(int=(stable_hash(seed, "definition", self.friendly_id) << 64)
                             | stable_hash("definition", self.friendly_id), version=4))


@dataclass(frozen=True)
class ExportFile:
    """One gzip file of a job's output: which rows it holds and whether they were added or removed."""

    name: str
    action: str | None  # None (full export), "add" or "remove"
    first_member: int  # guest index of its first row
    rows: int


@dataclass(frozen=True)
class ExportJob:
    export: ExportDefinition
    number: int  # 0 = oldest
    execution_ref: str
    status: str
    start: datetime
    end: datetime
    files: tuple[ExportFile, ...] = field(default=())

    @property
    def has_output(self) -> bool:
        return self.status in {"SUCCESS", "ALERT"}


def export_jobs(seed: int, export: ExportDefinition, rows: int, jobs: int, max_rows_per_file: int) -> list[ExportJob]:
    """Every finished job of `export`, oldest first."""
    return [_job(seed, export, number, rows, max_rows_per_file) for number in range(jobs)]


def _job(seed: int, export: ExportDefinition, number: int, rows: int, max_rows: int) -> ExportJob:
    h = stable_hash(seed, "job", export.friendly_id, number)
    start = JOB_ANCHOR + timedelta(days=number, minutes=10, seconds=h % 600)
    end = start + timedelta(seconds=60 + (h >> 8) % 600, milliseconds=(h >> 20) % 1000)
    status = "FAILED" if number in export.failed_jobs else "ALERT" if number in export.alert_jobs else "SUCCESS"
    extension = "json" if export.format == "jsonl" else "csv"
    files: list[ExportFile] = []
    if status != "FAILED":
        if export.definition_type == "DELTA" and number > 0:
            # A delta run lists the guests who joined and who left since the previous run, in separate
            # files (spec §4); its first run is a full export.
            adds, removes = max(1, rows // 10), max(1, rows // 20)
            files += _split("add", "add", rows + (number - 1) * adds, adds, max_rows=max_rows, extension=extension)
            files += _split(
                "remove", "remove", (number - 1) * removes, removes, max_rows=max_rows, extension=extension
            )
        else:
            action = "add" if export.definition_type == "DELTA" else None
            files += _split("part", action, 0, rows, max_rows=max_rows, extension=extension)
    return ExportJob(
        export, number, ref_for(number, seed, "execution", export.friendly_id), status, start, end, tuple(files)
    )


def _split(
    prefix: str, action: str | None, first: int, rows: int, *, max_rows: int, extension: str
) -> list[ExportFile]:
    """Rows in files of at most `max_rows` (500,000 in production, spec §4); an empty export is one empty file."""
    count = max(1, -(-rows // max(1, max_rows)))
    return [
        ExportFile(f"{prefix}-{n:04d}.{extension}.gz", action, first + n * max_rows, min(max_rows, rows - n * max_rows))
        for n in range(count)
    ]


def job_report(seed: int, client_key: str, job: ExportJob) -> dict[str, t.Any]:
    """One element of `GET .../reports` (spec §3.2)."""
    h = stable_hash(seed, "report", job.execution_ref)
    rows = sum(f.rows for f in job.files)
    total = rows + h % 50
    report: dict[str, t.Any] = {
        "executionRef": job.execution_ref,
        "definitionRef": job.export.uuid(seed),
        "friendlyId": job.export.friendly_id,
        "clientKey": client_key,
        "executionType": "SCHEDULED" if job.number % 4 else "INSTANT_RUN",
        "definitionType": job.export.definition_type,
        "status": job.status,
        "segmentExecutionType": "ON_DEMAND",
        "total": total,
        "filterMatchedGuests": rows,
        "filterNotMatchedGuests": total - rows,
        "filterFailures": 0,
        "successes": rows,
        "failures": 0,
        "successAdd": sum(f.rows for f in job.files if f.action == "add"),
        "successRemove": sum(f.rows for f in job.files if f.action == "remove"),
        "programmableErrors": [],
        "filterErrors": [],
        "errorLogs": [],
        "datasetDate": (job.start - timedelta(days=1)).date().isoformat(),
        "startTime": iso_ms(job.start),
        "endTime": iso_ms(job.end),
    }
    if job.status == "FAILED":
        report.update(successes=0, failures=total, errorLogs=["Segment evaluation timed out after 3600 s"])
    if job.status == "ALERT":
        report.update(filterFailures=3, filterErrors=[{"description": "TypeError in filter condition", "count": 3}])
    return report


# ------------------------------------------------------------------------------------------ file rows


def export_row(seed: int, export: ExportDefinition, job: ExportJob, member: int,
               extra_columns: Iterable[str]) -> dict[str, t.Any]:
    """The row for guest `member` in a job's output. The keys are what the marketer chose (spec §4)."""
    h = stable_hash(seed, "member", member)
    row: dict[str, t.Any] = {
        "guestRef": ref_for(member, seed, "guest"),
        "email": f"guest{member:06d}@example.com",
        "firstName": FIRST_NAMES[h % len(FIRST_NAMES)],
        "lastName": LAST_NAMES[(h >> 8) % len(LAST_NAMES)],
        "city": CITIES[(h >> 10) % len(CITIES)],
        "loyaltyTier": TIERS[(h + job.number) % 4],
        "rewardPoints": (h >> 16) % 10000 + job.number,
    }
    if export.format == "jsonl":
        row["vipMember"] = bool(h % 5 == 0)
        row["lifetimeValue"] = round((h >> 24) % 1_000_000 / 100, 2)
        row["lastOrderAt"] = iso_ms(GUEST_ANCHOR - timedelta(hours=h % 5000)) if h % 4 else None
        row["preferences"] = {"channel": ["email", "sms", "push"][h % 3], "categories": ["shoes", "bags"][: 1 + h % 2]}
    for column in extra_columns:
        row[column] = f"{column}-{member % 7}"
    return row


def file_lines(seed: int, job: ExportJob, file: ExportFile, extra_columns: list[str]) -> Iterator[bytes]:
    """The uncompressed content of one export file, in pieces."""
    export = job.export
    members = range(file.first_member, file.first_member + file.rows)
    records = (export_row(seed, export, job, member, extra_columns) for member in members)
    if export.format == "jsonl":
        return json_lines(records)
    columns = [*export.columns, *extra_columns]
    rows = ([row.get(column, "") for column in columns] for row in records)
    return csv_body(rows, columns if export.header else None, delimiter=export.delimiter,
                    quote_all=export.quote_all)


def gzip_stream(lines: Iterable[bytes], level: int = 1) -> Iterator[bytes]:
    """A gzip file compressed on the fly (level 1: the emulator must outpace the tap, not save bytes)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    for block in chunked(lines, GZIP_CHUNK):
        if out := compressor.compress(block):
            yield out
    yield compressor.flush()


# ------------------------------------------------------------------------------------ listings, files


def file_path(client_key: str, job: ExportJob, file: ExportFile) -> str:
    """Where a job's file is served (its presigned URL signs this path)."""
    return f"{FILE_PREFIX}/{client_key}/{job.export.friendly_id}/{job.execution_ref}/{file.name}"


def file_listing(
    seed: int, client_key: str, job: ExportJob, *, expires_in: float, sign: Callable[[str, float], str]
) -> dict[str, t.Any]:
    """The `ExportFileListing` of a job, each URL made by `sign(path, expires_in)` now (spec §3.1)."""
    files = []
    for file in job.files:
        entry: dict[str, t.Any] = {
            "url": sign(file_path(client_key, job, file), expires_in),
            "sizeKB": max(1, file.rows * 45 // 1024),
        }
        if file.action and job.export.definition_type == "DELTA":
            entry["deltaAction"] = file.action
        files.append(entry)
    return {
        "executionRef": job.execution_ref,
        "definitionRef": job.export.uuid(seed),
        "friendlyId": job.export.friendly_id,
        "clientKey": client_key,
        "expireAt": iso_ms(datetime.fromtimestamp(time.time() + expires_in, tz=UTC)),
        "numberOfFiles": len(files),
        "totalSizeKB": sum(f["sizeKB"] for f in files),
        "exports": files,
    }


def s3_error(status: int, code: str, message: str) -> Response:
    """S3's XML error body, as the bucket behind the presigned URLs answers."""
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
           f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>")
    return Response(status, xml.encode(), {"Content-Type": "application/xml"})
