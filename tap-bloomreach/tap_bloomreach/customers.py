"""The `customers` stream: the whole customer base from one `customers/export` response (spec §5.1).

There is no paging and no change filter, so the stream is FULL_TABLE and one run is one export.

What "committed" means here. A full table is complete only when the whole body was read. Records
are written as they are parsed (the body may be gigabytes), so a body that breaks off mid-way has
already sent some records: those are true, current values and replace older copies by key, and nothing
is deleted. What a broken export never emits is the claim of completeness: the ACTIVATE_VERSION message
that lets a target drop the rows of earlier versions is held back until the last row was read (the SDK
would send it before the first record), and `last_complete_export` in the stream's STATE is written
only then. A dropped connection (the HTTP framing says the body is incomplete) is retried by asking for
the whole export again; a body that arrives complete as HTTP but cut as a document (truncated JSON or
CSV) fails the run with an error saying so.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import typing as t
from datetime import UTC, datetime

import requests
import urllib3.exceptions
from marketing_tapkit.readers import MalformedInputError, response_stream
from marketing_tapkit.retry import describe_failure
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_bloomreach.client import BloomreachStream, MissingPermissionError
from tap_bloomreach.customer_schema import (
    CUSTOMER_KEY,
    CustomerRecordBuilder,
    discover_schema,
    fallback_schema,
)
from tap_bloomreach.export_reader import read_export
from tap_bloomreach.export_table import ExportColumn, ExportRefusedError, ExportTable

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

EXPORT_FORMATS = ("table_json", "native_json", "csv")
DEFAULT_EXPORT_TIMEOUT = 3600
DEFAULT_SAMPLE_ROWS = 1000
#: Failures while the body streams in: the connection, not the request, broke (spec §4: retry).
BODY_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
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
    body: dict[str, t.Any] = {
        "format": config.get("export_format") or "table_json",
        "timezone": config.get("timezone") or "UTC",
    }
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
    replication_key = None
    stream_response_body = True
    permission = "GDPR > Export customers"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._discovered_schema: dict[str, t.Any] | None = None
        self._held_version: int | None = None
        self._body_started = False
        self._summary: dict[str, t.Any] = {}

    @property
    def id_key(self) -> str:
        return str(self.config.get("customer_id_key") or "registered")

    @override
    @property
    def schema(self) -> dict[str, t.Any]:
        """The catalog's schema when one was given; otherwise one discovered from a sample of the export.

        Discovery costs one export request, cut off after the header and `schema_sample_rows` rows; it
        runs only when the schema is asked for (discovery, or a sync without a catalog).
        """
        if self._input_schema is not None:
            return self._input_schema
        if self._discovered_schema is None:
            self._discovered_schema = self._sample_schema()
        return self._discovered_schema

    @override
    @property
    def timeout(self) -> tuple[int, int]:  # type: ignore[override]  # requests takes a tuple; the SDK says int
        # (connect, read): the export may think for long before its first byte, and between bytes.
        return (
            int(self.config.get("request_timeout") or 300),
            int(self.config.get("export_timeout") or DEFAULT_EXPORT_TIMEOUT),
        )

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return export_request_body(self.config)

    @override
    def invalid_request_hint(self) -> str:
        return (
            "Check `customer_attributes` (items like {\"type\": \"property\", \"property\": \"email\"}), "
            "`segmentation_id` and `segment_index` (0-based; -1 = customers in no segment), `timezone` "
            "(an IANA name such as Europe/Prague) and `export_format`."
        )

    # Reading the export ---------------------------------------------------------------------------

    def _open(self, response: requests.Response) -> ExportTable:
        source = f"customers export ({self.request_line(response)})"
        # urllib3 closes a body once it is read to the end, and io's buffered readers then refuse the
        # final empty read that ends parsing ("read of closed file"); `closing(response)` closes it.
        response.raw.auto_close = False
        try:
            table = read_export(response_stream(response), source)
        except ExportRefusedError as exc:
            raise self.refusal(response, str(exc), no_permission=exc.no_permission) from None
        table.columns = with_requested_kinds(table.columns, customer_attribute_list(self.config))
        return table

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        with contextlib.closing(response):
            self._body_started = True
            table = self._open(response)
            declared = dict(self.effective_schema.get("properties") or {})
            builder = CustomerRecordBuilder(table.columns, declared, self.id_key)
            self._log_column_changes(builder)
            count = 0
            for row in table.rows:
                yield builder.build(row)
                count += 1
            self._summary = {"customers": count, "format": table.format}
            if report := builder.mismatch_report():
                self.logger.warning(
                    "customers: values that did not fit the column types discovered from the export's "
                    "sample were emitted as null (%s). Run discovery again (a larger `schema_sample_rows` "
                    "sees more rows) to type these columns as text.", "; ".join(report),
                )

    def _log_column_changes(self, builder: CustomerRecordBuilder) -> None:
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

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        policy = self.retry_policy
        for attempt in range(1, policy.max_tries + 1):
            self._body_started = False
            try:
                yield from super().get_records(context)
            except BODY_TRANSPORT_ERRORS as exc:
                if not self._body_started:
                    raise  # the request itself failed: the SDK's retries are already spent
                if attempt == policy.max_tries:
                    raise FatalAPIError(
                        f"customers: the connection broke while the export was streaming "
                        f"({describe_failure(exc)}), {attempt} times; giving up (setting `max_retries`). "
                        "Nothing was marked complete; a slow network may need a larger `export_timeout`."
                    ) from None
                wait = policy.wait_for(exc, attempt)
                self.logger.warning(
                    "customers: the connection broke while the export was streaming (%s); requesting the "
                    "whole export again in %.1f s (try %d of %d). Customers already sent are sent again and "
                    "replace their earlier copies by key.",
                    describe_failure(exc), wait, attempt + 1, policy.max_tries,
                )
                time.sleep(wait)
                continue
            except MalformedInputError as exc:
                if attempt == policy.max_tries:
                    raise FatalAPIError(
                        f"{exc}. The export is incomplete, so this run does not mark `customers` complete: no "
                        "ACTIVATE_VERSION and no `last_complete_export` in STATE; customers already sent only "
                        "replace their own earlier copies, and nothing is deleted. Run the sync again; if the "
                        "body keeps breaking off, the server may be cutting long exports: narrow the export "
                        "with `customer_attributes` or a segment filter."
                    ) from None
                # A body garbled or cut in transit is worth one more request, like a dropped connection.
                wait = policy.wait_for(exc, attempt)
                self.logger.warning(
                    "customers: the export body was malformed (%s); requesting the whole export again in "
                    "%.1f s (try %d of %d).", exc, wait, attempt + 1, policy.max_tries,
                )
                time.sleep(wait)
                continue
            self._mark_complete()
            return

    def _mark_complete(self) -> None:
        """Say that the table is whole: STATE's `last_complete_export`, then the held ACTIVATE_VERSION."""
        self.stream_state["last_complete_export"] = {
            "completed_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
            **self._summary,
        }
        if self._held_version is not None:
            super()._write_activate_version_message(self._held_version)

    @override
    def _write_activate_version_message(self, full_table_version: int) -> None:
        # The SDK sends ACTIVATE_VERSION before the first record; a target acting on it would drop the
        # previous table before this export is known to be complete. Hold it until the last row.
        self._held_version = full_table_version

    # Discovery ------------------------------------------------------------------------------------

    def _sample_schema(self) -> dict[str, t.Any]:
        sample_rows = int(self.config.get("schema_sample_rows") or DEFAULT_SAMPLE_ROWS)
        prepared = self.build_prepared_request(
            method=self.http_method, url=self.get_url(None), headers=self.http_headers,
            json=self.prepare_request_payload(None, None),
        )
        self.logger.info("customers: discovering the schema from the export's header and first %d rows",
                         sample_rows)
        try:
            response = self.request_decorator(self._request)(prepared, None)
            with contextlib.closing(response):  # closing early ends the export on the server's side too
                table = self._open(response)
                return discover_schema(table.columns, itertools.islice(table.rows, sample_rows), self.id_key)
        except MissingPermissionError as exc:
            self.logger.warning("customers: cannot discover the customer columns: %s", exc)
            return fallback_schema(self.id_key)
        except MalformedInputError as exc:
            raise FatalAPIError(f"customers: cannot discover the schema: {exc}") from None
