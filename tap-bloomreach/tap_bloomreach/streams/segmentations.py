"""Segmentation results: one record per segment of each segmentation in `analysis_ids` (spec §8)."""

from __future__ import annotations

import io
import typing as t

import msgspec
from marketing_tapkit.errors import JSON_DECODE_ERRORS
from marketing_tapkit.pagination import decoded_json
from marketing_tapkit.readers import CSVOptions, MalformedInputError, open_csv_table
from marketing_tapkit.streams import request_line
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_bloomreach import schemas
from tap_bloomreach.client import BloomreachStream
from tap_bloomreach.envelope import is_no_permission_text
from tap_bloomreach.evaluation import evaluation_fields

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

ANALYSES_PERMISSION = "GDPR > Export analyses > Allow"
#: The CSV variant of an analysis table is comma-separated (spec §8), whatever its cells hold.
_ANALYSIS_CSV = CSVOptions(delimiter=",")


class SegmentationResultsStream(BloomreachStream):
    """One record per segment of each segmentation in `analysis_ids` (spec §8)."""

    name = "segmentation_results"
    path = "/analyses/segmentation"
    http_method = "POST"
    primary_keys = ("analysis_id", "segment")
    permission = ANALYSES_PERMISSION
    partitions_setting = "analysis_ids"
    schema = schemas.SEGMENT

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"analysis_id": str(a)} for a in self.config.get(self.partitions_setting) or []]

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"analysis_id": (context or {})["analysis_id"], "format": "table_json", **evaluation_fields(self.config)}

    @override
    def check_envelope(self, response: requests.Response) -> None:
        start = response.content.lstrip()[:64]
        if not start or start.startswith((b"{", b"[")) or is_no_permission_text(start):
            super().check_envelope(response)
        # otherwise the CSV variant of the table (spec §8), read by parse_response

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        document = decoded_json(response) if response.content.lstrip().startswith(b"{") else self._csv_table(response)
        header, rows = document.get("header"), document.get("rows")
        if not isinstance(header, list) or not isinstance(rows, list):
            raise FatalAPIError(f"{self.name}: {request_line(response, self.http_method)} answered without header "
                                "and rows")
        yield from segment_records(requested_analysis_id(response), document.get("name"), header, rows)

    def _csv_table(self, response: requests.Response) -> dict[str, t.Any]:
        """The CSV variant of the table as the JSON one's `header` and `rows`."""
        source = f"{self.name} ({request_line(response, self.http_method)})"
        try:
            table = open_csv_table(io.BytesIO(response.content), source, options=_ANALYSIS_CSV)
            return {"header": table.columns, "rows": [row for _, row in table.rows]}
        except MalformedInputError as exc:
            raise FatalAPIError(f"{self.name}: {exc}") from None

    @override
    def invalid_request_hint(self) -> str:
        return ("Check `analysis_ids`: each must be a segmentation id, copied from the segmentation's URL "
                "in the app, `timezone` and `execution_time`.")


def requested_analysis_id(response: requests.Response) -> str:
    """The `analysis_id` the request of `response` asked for (the page hooks are not given the context)."""
    body = response.request.body if response.request is not None else None
    try:
        payload = msgspec.json.decode(body) if body else {}
    except JSON_DECODE_ERRORS:
        payload = {}
    return str(payload.get("analysis_id", "")) if isinstance(payload, dict) else ""


def segment_records(
    analysis_id: str, name: t.Any, header: list[t.Any], rows: list[t.Any]
) -> Iterable[dict[str, t.Any]]:
    """A segmentation table (`segment`, metrics..., `#`) as one record per segment row."""
    labels = [str(label) for label in header]
    lowered = [label.strip().lower() for label in labels]
    segment_column = lowered.index("segment") if "segment" in lowered else 0
    size_column = lowered.index("#") if "#" in lowered else None
    for position, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(labels):
            raise FatalAPIError(f"segmentation_results: row {position + 1} of analysis {analysis_id} does not "
                                f"match its header of {len(labels)} columns")
        yield {
            "analysis_id": analysis_id,
            "analysis_name": name,
            "segment": str(row[segment_column]),
            "segment_index": position,
            "customers": _count(row[size_column]) if size_column is not None else None,
            "metrics": {labels[i]: value for i, value in enumerate(row) if i not in {segment_column, size_column}},
        }


def _count(value: t.Any) -> int | None:
    """A segment size: an int from JSON, or digits from CSV; anything else is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
