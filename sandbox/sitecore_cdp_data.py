"""Generated Sitecore CDP data for the emulator: guests, data extensions, orders, export jobs and files.

Everything is a pure function of `(seed, settings, index)`, computed when served and never stored, so a
tenant of a million guests or an export of a million rows costs no memory. Refs are UUID-shaped and
carry their index in the last group, so a ref in a URL leads back to its record without a lookup table.
"""

from __future__ import annotations

import csv
import io
import json
import typing as t
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sandbox.framework import chunked, stable_hash

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# Guests were created and modified in the two years before this instant (fixed: deterministic data).
GUEST_ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
# Export job number j ran on the morning of this day plus j days.
JOB_ANCHOR = datetime(2025, 11, 1, tzinfo=UTC)
FIRST_NAMES = ["John", "Aoife", "Sean", "Maria", "Liam", "Emma", "Noah", "Saoirse", "Jack", "Chloe"]
LAST_NAMES = ["Doe", "Murphy", "Kelly", "O'Brien", "Byrne", "Ryan", "Walsh", "Smith", "Garcia", "Nowak"]
CITIES = ["Dublin", "Cork", "Galway, Connacht", "Limerick | Munster", "London", "Paris", "Madrid"]
TIERS = ["bronze", "silver", "gold", "platinum"]
GUEST_TYPES = ["customer", "customer", "visitor", "traveller"]
EXTENSION_NAMES = ("ext", "ext1")
CSV_COLUMNS = ["guestRef", "email", "firstName", "lastName", "city", "loyaltyTier", "rewardPoints"]
GZIP_CHUNK = 256 * 1024


def iso_ms(moment: datetime) -> str:
    """Sitecore's timestamp format: milliseconds and `Z` (`2024-01-01T16:17:16.000Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ref_for(index: int, *parts: object) -> str:
    """A UUID-shaped ref that depends on `parts` and ends with `index` (see `index_of_ref`)."""
    high = stable_hash(*parts, index)
    text = f"{high:016x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{(stable_hash(*parts, 'r', index) % 4096):03x}-{index:012x}"


def index_of_ref(ref: str, *parts: object) -> int | None:
    """The index a ref made by `ref_for(index, *parts)` carries, or None if it is not one of ours."""
    try:
        uuid.UUID(ref)
        index = int(ref.rsplit("-", 1)[-1], 16)
    except ValueError:
        return None
    return index if ref_for(index, *parts) == ref else None


# --------------------------------------------------------------------------------------------- guests


def guest_modified_at(seed: int, index: int, touched: t.Mapping[str, str]) -> datetime:
    """When guest `index` last changed; tests move it with the `touched_guests` setting."""
    if str(index) in touched:
        return datetime.fromisoformat(touched[str(index)])
    h = stable_hash(seed, "guest", index)
    age = h % (700 * 86400)  # seconds between creation and the anchor
    return GUEST_ANCHOR - timedelta(seconds=age) + timedelta(seconds=(h >> 20) % max(1, age))


def guest(seed: int, base_url: str, index: int, touched: t.Mapping[str, str]) -> dict[str, t.Any]:
    """Guest `index` as `GET /v2.1/guests/{ref}` returns it, without data extensions (spec §5.3)."""
    h = stable_hash(seed, "guest", index)
    ref = ref_for(index, seed, "guest")
    created = GUEST_ANCHOR - timedelta(seconds=h % (700 * 86400))
    modified = guest_modified_at(seed, index, touched)
    email = f"guest{index:06d}@example.com"
    record: dict[str, t.Any] = {
        "ref": ref,
        "href": f"{base_url}/v2.1/guests/{ref}",
        "guestType": GUEST_TYPES[h % len(GUEST_TYPES)],
        "firstName": FIRST_NAMES[h % len(FIRST_NAMES)],
        "lastName": LAST_NAMES[(h >> 8) % len(LAST_NAMES)],
        "title": ["Mr", "Ms", "Dr", "Mrs"][(h >> 4) % 4],
        "gender": ["male", "female", "unknown"][(h >> 6) % 3],
        "email": email,
        "emails": [email],  # the official schema allows at most one
        "phoneNumbers": [f"+35316{index % 1000000:06d}"],
        "dateOfBirth": iso_ms(datetime(1960, 1, 1, tzinfo=UTC) + timedelta(days=h % 15000)),
        "firstSeen": iso_ms(created),
        "lastSeen": iso_ms(modified),
        "createdAt": iso_ms(created),
        "modifiedAt": iso_ms(modified),
        "street": ["Ashford House", f"{index % 90 + 1} Tara Street"],
        "city": CITIES[(h >> 10) % len(CITIES)],
        "state": "Leinster",
        "postCode": f"D{index % 24 + 1}",
        "country": ["IE", "GB", "FR", "ES"][(h >> 12) % 4],
        "nationality": "Irish",
        "language": "EN",
        "identifiers": [{"provider": "ProfileSystem", "id": f"PS-{index:08d}"}],
    }
    if record["guestType"] == "traveller":
        record["passportNumber"] = f"PZ{h % 10**7:07d}"
        record["passportExpiry"] = iso_ms(datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=h % 3000))
    if index % 7 == 3:  # sparse records: optional fields are absent, not null
        for name in ("title", "phoneNumbers", "dateOfBirth"):
            record.pop(name)
    return record


def extension_names(index: int) -> list[str]:
    """Which data extensions guest `index` has: `ext` for most, `ext1` for every third, none for some."""
    names = [] if index % 5 == 0 else ["ext"]
    if index % 3 == 0:
        names.append("ext1")
    return names


def data_extension(seed: int, base_url: str, index: int, name: str, touched: t.Mapping[str, str]) -> dict[str, t.Any]:
    """One data extension: reserved keys plus the tenant's custom keys, flat at the top level (spec §5.4)."""
    h = stable_hash(seed, "extension", index, name)
    guest_ref = ref_for(index, seed, "guest")
    modified = guest_modified_at(seed, index, touched) - timedelta(seconds=h % 3600)
    custom: dict[str, t.Any]
    if name == "ext":
        custom = {"loyaltyTier": TIERS[h % 4], "vipMember": bool(h % 2), "rewardBalance": round((h % 100000) / 100, 2)}
    else:
        custom = {"favouriteStore": f"store-{h % 40:02d}", "newsletterOptIn": bool((h >> 3) % 2), "visits": h % 250}
    return {
        "href": f"{base_url}/v2.1/guests/{guest_ref}/extensions/{name}",
        "ref": ref_for(index, seed, "extension", name),
        "name": name,
        "key": "default",
        "createdAt": iso_ms(modified - timedelta(days=h % 300)),
        "modifiedAt": iso_ms(modified),
        "guest": {"href": f"{base_url}/v2.1/guests/{guest_ref}"},
        **custom,
    }


def order_count(seed: int, index: int) -> int:
    return stable_hash(seed, "orders", index) % 3


def order(seed: int, base_url: str, guest_index: int, number: int) -> dict[str, t.Any]:
    """Order `number` of guest `guest_index`, with its items (fields as in the .NET model, spec §5.5)."""
    h = stable_hash(seed, "order", guest_index, number)
    ref = ref_for(guest_index * 16 + number, seed, "order")
    ordered = GUEST_ANCHOR - timedelta(seconds=h % (300 * 86400))
    items: list[dict[str, t.Any]] = []
    for item in range(1 + h % 3):
        hi = stable_hash(seed, "item", guest_index, number, item)
        items.append({
            "ref": ref_for((guest_index * 16 + number) * 8 + item, seed, "order-item"),
            "type": "PRODUCT",
            "name": f"Product {hi % 500}",
            "productId": f"SKU-{hi % 500:04d}",
            "quantity": 1 + hi % 4,
            "price": round((hi % 20000) / 100, 2),
            "currencyCode": "EUR",
            "status": "PURCHASED",
            "orderedAt": iso_ms(ordered),
        })
    return {
        "ref": ref,
        "href": f"{base_url}/v2.1/orders/{ref}",
        "referenceId": f"ORD-{guest_index:06d}-{number}",
        "createdAt": iso_ms(ordered),
        "modifiedAt": iso_ms(ordered + timedelta(seconds=h % 86400)),
        "orderedAt": iso_ms(ordered),
        "currencyCode": "EUR",
        "price": round(sum(float(i["price"]) * int(i["quantity"]) for i in items), 2),
        "paymentType": ["Card", "PayPal", "Voucher"][h % 3],
        "pointOfSale": "sandbox-store",
        "channel": ["WEB", "MOBILE_APP", "CALL_CENTER"][(h >> 4) % 3],
        "status": "PURCHASED",
        "guest": {"href": f"{base_url}/v2.1/guests/{ref_for(guest_index, seed, 'guest')}"},
        "orderItems": items,
    }


# --------------------------------------------------------------------------------------- export jobs


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
    """The uncompressed content of one export file, line by line."""
    export = job.export
    members = range(file.first_member, file.first_member + file.rows)
    if export.format == "jsonl":
        dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        for member in members:
            yield dumps(export_row(seed, export, job, member, extra_columns)).encode() + b"\n"
        return
    columns = [*export.columns, *extra_columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=export.delimiter,
                        quoting=csv.QUOTE_ALL if export.quote_all else csv.QUOTE_MINIMAL)
    if export.header:
        writer.writerow(columns)
    for member in members:
        row = export_row(seed, export, job, member, extra_columns)
        writer.writerow([row.get(column, "") for column in columns])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def gzip_stream(lines: Iterable[bytes], level: int = 1) -> Iterator[bytes]:
    """A gzip file compressed on the fly (level 1: the emulator must outpace the tap, not save bytes)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    for block in chunked(lines, GZIP_CHUNK):
        if out := compressor.compress(block):
            yield out
    yield compressor.flush()
