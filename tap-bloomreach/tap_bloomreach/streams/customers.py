"""The `customers` stream: the whole customer base from one `customers/export` response (spec §5.1).

There is no paging and no change filter, so the stream is FULL_TABLE and one run is one export.

What "committed" means here. A full table is complete only when the whole body was read. Records
are written as they are parsed (the body may be gigabytes), so a body that breaks off mid-way has
already sent some records: those are true, current values and replace older copies by key, and nothing
is deleted. What a broken export never emits is the claim of completeness: the ACTIVATE_VERSION message
that lets a target drop the rows of earlier versions is held back until the last row was read (the SDK
would send it before the first record), and `last_complete_export` in the stream's STATE is written
only then. An export that fails to arrive whole (a refused or dropped connection, a body cut or garbled
in transit) is requested again, whole, up to `max_retries` times; the last failure ends the run with an
error saying that nothing was marked complete.
"""

from __future__ import annotations

import contextlib
import itertools
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import urlsplit

from marketing_tapkit.downloads import ResumableRows
from marketing_tapkit.readers import CorruptInputError, MalformedInputError, TruncatedInputError, response_stream
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_bloomreach.client import BloomreachStream, MissingPermissionError
from tap_bloomreach.customer_schema import CUSTOMER_KEY, CustomerRecordBuilder, discover_schema, fallback_schema
from tap_bloomreach.evaluation import evaluation_fields
from tap_bloomreach.export_reader import read_export
from tap_bloomreach.export_table import ExportColumn, ExportRefusedError, ExportTable

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from marketing_tapkit.readers import Numbered
    from singer_sdk.helpers.types import Context

EXPORT_FORMATS = ("table_json", "native_json", "csv")
DEFAULT_EXPORT_TIMEOUT = 3600
DEFAULT_SAMPLE_ROWS = 1000
#: Appended to the error of an export that never arrived whole: what the run leaves, what to do.
INCOMPLETE_EXPORT_HINT = (
    "The export is incomplete, so this run does not mark `customers` complete: no ACTIVATE_VERSION and no "
    "`last_complete_export` in STATE; customers already sent only replace their own earlier copies, and "
    "nothing is deleted. Run the sync again (setting `max_retries` sets the tries); if the body keeps being "
    "cut off, the server may be cutting long exports: narrow the export with `customer_attributes` or a "
    "segment filter, and on a slow network raise `export_timeout`."
)


def customer_attribute_list(config: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]] | None:
    """`customer_attributes` as the export's `attributes.list`, with the key id added if it is missing."""
    attributes = config.get("customer_attributes")
    if not attributes:
        return None
    id_key = config.get("customer_id_key") or "registered"
    items = [dict(item) for item in attributes]
    if not any(item.get("type") == "id" and item.get("id") == id_key for item in items):
        items.insert(0, {"type": "id", "id": id_key})
    return items


def export_request_body(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The JSON body of `POST customers/export` for the tap's settings (spec §5.1 request table)."""
    body: dict[str, t.Any] = {"format": config.get("export_format") or "table_json", **evaluation_fields(config)}
    if attributes := customer_attribute_list(config):
        body["attributes"] = {"type": "some", "list": attributes}
    if config.get("segmentation_id"):
        body["filter"] = {
            "type": "segment",
            "segmentation_id": config["segmentation_id"],
            "segment_index": int(config["segment_index"]),
        }
    return body


def with_requested_kinds(columns: list[ExportColumn], requested: list[dict[str, t.Any]] | None) -> list[ExportColumn]:
    """Columns typed from the attribute list when the header does not say (columns follow the list)."""
    if not requested or len(requested) != len(columns) or any(c.kind for c in columns):
        return columns
    return [ExportColumn(str(item.get("type")), column.name) for item, column in zip(requested, columns, strict=True)]


class CustomersStream(BloomreachStream):
    """Every customer (or those of one segment) with the selected ids and properties."""

    name = "customers"
    path = "/customers/export"
    http_method = "POST"
    primary_keys = (CUSTOMER_KEY,)
    permission = "GDPR > Export customers"
    hold_activate_version = True

    @property
    def id_key(self) -> str:
        return str(self.config.get("customer_id_key") or "registered")

    @override
    @property
    def schema(self) -> dict[str, t.Any]:
        """The catalog's schema when one was given; otherwise one discovered from a sample of the export."""
        return self.catalog_schema if self.catalog_schema is not None else self.discovered_schema

    @override
    @property
    def timeout(self) -> tuple[int, int]:  # type: ignore[override]  # requests takes a tuple; the SDK says int
        # (connect, read): the export may think for long before its first byte, and between bytes.
        return self.http.timeout, int(self.config.get("export_timeout") or DEFAULT_EXPORT_TIMEOUT)

    @property
    def source(self) -> str:
        """How errors name the export body."""
        return f"customers export ({self.http_method} {urlsplit(self.url_base + self.path).path})"

    @override
    def invalid_request_hint(self) -> str:
        return (
            "Check `customer_attributes` (items like {\"type\": \"property\", \"property\": \"email\"}), "
            "`segmentation_id` and `segment_index` (0-based; -1 = customers in no segment), `timezone` "
            "(an IANA name such as Europe/Prague), `execution_time` and `export_format`."
        )

    # Reading the export ---------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        # A re-requested export of a live table may order its rows differently, so a new request starts
        # over and sends every customer again (they replace their earlier copies by key).
        export = ExportReading(self)
        rows = ResumableRows(source=self.source, open_rows=export.open_rows, policy=self.retry_policy,
                             logger=self.logger, give_up_hint=INCOMPLETE_EXPORT_HINT, resume=False)
        for _, record in rows.rows():
            yield record
        if export.builder is not None and (report := export.builder.mismatch_report()):
            self.logger.warning(
                "customers: values that did not fit the column types discovered from the export's "
                "sample were emitted as null (%s). Run discovery again (a larger `schema_sample_rows` "
                "sees more rows) to type these columns as text.", "; ".join(report),
            )
        self.mark_complete(export)

    def open_table(self, response: requests.Response) -> ExportTable:
        """The columns and rows of an export response (read as they arrive)."""
        try:
            table = read_export(response_stream(response), self.source)
        except ExportRefusedError as exc:
            raise self.refusal(response, str(exc), no_permission=exc.no_permission) from None
        table.columns = with_requested_kinds(table.columns, customer_attribute_list(self.config))
        return table

    def log_column_changes(self, builder: CustomerRecordBuilder) -> None:
        """Warn about export columns the catalog lacks, and about a missing key id column."""
        if builder.undeclared:
            self.logger.warning(
                "customers: the export has columns the catalog does not list, and they are left out: %s. "
                "Run discovery again to add them.", ", ".join(builder.undeclared),
            )
        if builder.key_position is None:
            self.logger.warning(
                "customers: the export has no `%s` id column (setting `customer_id_key`), so every customer "
                "is keyed by the sha256 of its ids.", self.id_key,
            )

    def mark_complete(self, export: ExportReading) -> None:
        """Say that the table is whole: STATE's `last_complete_export`, then the held ACTIVATE_VERSION."""
        self.stream_state["last_complete_export"] = {
            "completed_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
            "customers": export.rows_read,
            "format": export.table.format if export.table is not None else None,
        }
        self.release_activate_version()

    # Discovery ------------------------------------------------------------------------------------

    @cached_property
    def discovered_schema(self) -> dict[str, t.Any]:
        """The schema typed from the export's header and first `schema_sample_rows` rows.

        Discovery costs one export request, cut off after the sample; it runs only when the schema is
        asked for (discovery, or a sync without a catalog).
        """
        sample_rows = int(self.config.get("schema_sample_rows") or DEFAULT_SAMPLE_ROWS)
        self.logger.info("customers: discovering the schema from the export's header and first %d rows",
                         sample_rows)
        try:
            response = t.cast("requests.Response", self.request(
                self.http_method, self.path, what="customers: the export sample",
                json=export_request_body(self.config), stream=True,
            ))
            with contextlib.closing(response):  # closing early ends the export on the server's side too
                table = self.open_table(response)
                return discover_schema(table.columns, itertools.islice(table.rows, sample_rows), self.id_key)
        except MissingPermissionError as exc:
            self.logger.warning("customers: cannot discover the customer columns: %s", exc)
            return fallback_schema(self.id_key)
        except MalformedInputError as exc:
            raise FatalAPIError(f"customers: cannot discover the schema: {exc}") from None


@dataclass
class ExportReading:
    """The export as one sync reads it: each opening requests it again and replaces what the last one read."""

    stream: CustomersStream
    table: ExportTable | None = None
    builder: CustomerRecordBuilder | None = None
    rows_read: int = 0
    declared: dict[str, t.Any] = field(init=False)

    def __post_init__(self) -> None:
        self.declared = dict(self.stream.effective_schema.get("properties") or {})

    @contextlib.contextmanager
    def open_rows(self) -> Iterator[Iterator[Numbered]]:
        """Request the export (one try: `ResumableRows` retries) and number its customers from 1."""
        stream = self.stream
        response = t.cast("requests.Response", stream.send(
            stream.http_method, stream.path, json=export_request_body(stream.config), stream=True,
        ))
        try:
            with contextlib.closing(response):
                self.table = stream.open_table(response)
                self.builder = CustomerRecordBuilder(self.table.columns, self.declared, stream.id_key)
                self.rows_read = 0
                stream.log_column_changes(self.builder)
                yield self._records(self.table, self.builder)
        except MalformedInputError as exc:
            if isinstance(exc, TruncatedInputError | CorruptInputError):
                raise
            raise GarbledExportError(exc) from None

    def _records(self, table: ExportTable, builder: CustomerRecordBuilder) -> Iterator[Numbered]:
        build = builder.build  # once per row: no attribute lookups
        for number, row in enumerate(table.rows, start=1):
            self.rows_read = number
            yield number, build(row)


class GarbledExportError(CorruptInputError):
    """A malformed export body, taken for one garbled in transit: the export is generated as it is sent,
    so a malformed body is as likely damaged on the way as cut, and as worth requesting again."""

    def __init__(self, error: MalformedInputError) -> None:
        super().__init__(error.source, error.detail, line=error.line)
        self.args = error.args  # the original message, with its row and unit
