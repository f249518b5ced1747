"""Catalogs, catalog items, consent categories and segmentation results (spec §6, §7, §8).

Each stream declares its path, keys, schema and permission; `client.py` has the rest, and `customers.py`
the customer export.
"""

from __future__ import annotations

import csv
import io
import typing as t
from urllib.parse import quote

from marketing_tapkit.config import config_error
from marketing_tapkit.pagination import decoded_json
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_bloomreach.catalog_reach import REACH, CatalogReader
from tap_bloomreach.client import BloomreachStream
from tap_bloomreach.envelope import is_no_permission_text

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

OpenObject = th.ObjectType(additional_properties=True)
ANALYSES_PERMISSION = "GDPR > Export analyses > Allow"


def _open(properties: th.PropertiesList) -> dict[str, t.Any]:
    """A schema that keeps keys it does not list (the spec leaves extra keys UNVERIFIED)."""
    schema = properties.to_dict()
    schema["additionalProperties"] = True
    return schema


class ConsentCategoriesStream(BloomreachStream):
    """The project's consent categories (needs no permission, spec §7.1)."""

    name = "consent_categories"
    path = "/consent/categories"
    primary_keys = ("id",)
    replication_key = None
    records_key = "results"
    schema = _open(th.PropertiesList(
        th.Property("id", th.StringType, required=True, description="Category id, e.g. newsletter."),
        th.Property("legitimate_interest", th.BooleanType),
        th.Property("sources", OpenObject, description="Which sources may set this consent."),
        th.Property("translations", OpenObject, description="Name and description by language code."),
    ))


class CatalogsStream(BloomreachStream):
    """The project's catalogs (all, or those in `catalog_ids`)."""

    name = "catalogs"
    path = "/catalogs"
    primary_keys = ("id",)
    replication_key = None
    permission = "Catalogs > Get catalog list"
    schema = _open(th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("name", th.StringType),
    ))

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        wanted = [str(c) for c in self.config.get("catalog_ids") or []]
        catalogs = [_with_catalog_id(c) for c in super().get_records(context)]
        if wanted:
            found = {str(c.get("id")) for c in catalogs}
            if missing := [c for c in wanted if c not in found]:
                raise config_error(
                    f"Setting `catalog_ids` lists {', '.join(missing)}, which this project does not have; "
                    f"its catalogs are: {', '.join(sorted(found)) or 'none'}."
                )
            catalogs = [c for c in catalogs if str(c.get("id")) in wanted]
        yield from catalogs

    @override
    def get_child_context(self, record: dict[str, t.Any], context: Context | None) -> dict[str, t.Any]:
        return {"catalog_id": str(record["id"])}


def _with_catalog_id(catalog: t.Any) -> dict[str, t.Any]:
    """A catalog entry keyed by `id`: the spec only infers that name (§6.1), so `catalog_id`/`_id` also do."""
    if not isinstance(catalog, dict):
        raise FatalAPIError(f"catalogs: expected catalog objects in `data`, got {type(catalog).__name__}")
    if catalog.get("id") is None:
        alias = catalog.get("catalog_id", catalog.get("_id"))
        if alias is None:
            raise FatalAPIError(f"catalogs: a catalog without an id: {str(catalog)[:200]}")
        catalog = {**catalog, "id": alias}
    return {**catalog, "id": str(catalog["id"])}


class CatalogItemsStream(BloomreachStream):
    """Every item of each catalog, read around the 1001-item reach of the items endpoint (spec §6.3)."""

    name = "catalog_items"
    path = "/catalogs/{catalog_id}/items"
    parent_stream_type = CatalogsStream
    primary_keys = ("catalog_id", "item_id")
    replication_key = None
    permission = "Catalogs > Get catalog items"
    schema = _open(th.PropertiesList(
        th.Property("catalog_id", th.StringType, required=True),
        th.Property("item_id", th.StringType, required=True),
        th.Property("properties", OpenObject, description="The item's columns, as the catalog defines them."),
    ))

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        catalog_id = str((context or {})["catalog_id"])
        reader = CatalogReader(
            fetch=lambda params: self._get_json(self.get_url(context), params, context),
            searchable_fields=lambda: self._searchable_fields(catalog_id, context),
        )
        try:
            for item in reader.items():
                yield {**item, "catalog_id": catalog_id, "item_id": str(item["item_id"])}
        except ValueError as exc:
            raise FatalAPIError(f"catalog_items: unexpected answer for catalog {catalog_id}: {exc}") from None
        if reader.unreached:
            how = f", and partitioned by its `{reader.partition_field}` values" if reader.partition_field else ""
            self.logger.warning(
                "catalog_items: catalog %s has %d items, of which %d could be read and %d could not be "
                "reached: the API returns at most %d items per query (count + skip <= %d), so the tap read "
                "the catalog from both ends in item_id order%s. To read it all, give the catalog a "
                "searchable field whose values each hold fewer than %d items, or use Bloomreach Data Exports.",
                catalog_id, reader.total, reader.reached, reader.unreached, REACH, REACH, how, 2 * REACH,
            )
        elif reader.partition_field:
            self.logger.info(
                "catalog_items: catalog %s (%d items) was read whole by partitioning it on `%s`.",
                catalog_id, reader.total, reader.partition_field,
            )

    def _get_json(self, url: str, params: dict[str, t.Any], context: Context | None) -> dict[str, t.Any]:
        """GET through the SDK's request path (auth, retries, error checks); the decoded body."""
        prepared = self.build_prepared_request(method="GET", url=url, params=params, headers=self.http_headers)
        response = self.request_decorator(self._request)(prepared, context)
        document = decoded_json(response)
        return document if isinstance(document, dict) else {}

    def _searchable_fields(self, catalog_id: str, context: Context | None) -> list[str] | None:
        """The catalog's searchable fields (GET catalogs/{id}, spec §6.2 INFERRED); None if it does not say."""
        url = f"{self.url_base}/catalogs/{quote(catalog_id, safe='')}"
        return searchable_field_names(self._get_json(url, {}, context))

    @override
    def not_found_hint(self) -> str:
        return "The catalog was not found: check `catalog_ids`, or `api_url` and `project_token`."

    @override
    def invalid_request_hint(self) -> str:
        return f"The items endpoint refuses count + skip > {REACH} (spec); this is a tap bug if it persists."


class SegmentationResultsStream(BloomreachStream):
    """One record per segment of each segmentation in `analysis_ids` (spec §8)."""

    name = "segmentation_results"
    path = "/analyses/segmentation"
    http_method = "POST"
    primary_keys = ("analysis_id", "segment")
    replication_key = None
    permission = ANALYSES_PERMISSION
    _analysis_id = ""
    schema = _open(th.PropertiesList(
        th.Property("analysis_id", th.StringType, required=True, description="The segmentation's id."),
        th.Property("analysis_name", th.StringType),
        th.Property("segment", th.StringType, required=True, description="The segment's name."),
        th.Property(
            "segment_index", th.IntegerType,
            description="0-based row position: the `segment_index` of the customers export's segment filter.",
        ),
        th.Property("customers", th.IntegerType, description="Customers in the segment (the `#` column)."),
        th.Property("metrics", OpenObject, description="The other columns, by their header label."),
    ))

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"analysis_id": str(a)} for a in self.config.get("analysis_ids") or []]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context:  # no `analysis_ids`: the SDK still calls once, without a partition
            return
        self._analysis_id = str(context["analysis_id"])  # parse_response is not given the context
        yield from super().get_records(context)

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {
            "analysis_id": (context or {})["analysis_id"],
            "format": "table_json",
            "timezone": self.config.get("timezone") or "UTC",
        }

    @override
    def check_envelope(self, response: requests.Response) -> None:
        start = response.content.lstrip()[:64]
        if not start or start.startswith((b"{", b"[")) or is_no_permission_text(start):
            super().check_envelope(response)
        # otherwise the CSV variant of the table (spec §8), read by parse_response

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        document = decoded_json(response) if response.content.lstrip().startswith(b"{") else None
        if document is None:
            lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
            document = {"header": lines[0] if lines else [], "rows": [line for line in lines[1:] if line]}
        header, rows = document.get("header"), document.get("rows")
        if not isinstance(header, list) or not isinstance(rows, list):
            raise FatalAPIError(f"{self.name}: {self.request_line(response)} answered without header and rows")
        yield from segment_records(self._analysis_id, document.get("name"), header, rows)

    @override
    def invalid_request_hint(self) -> str:
        return ("Check `analysis_ids`: each must be a segmentation id, copied from the segmentation's URL "
                "in the app, and `timezone`.")


def searchable_field_names(document: dict[str, t.Any]) -> list[str] | None:
    """The `field` names a GET catalogs/{id} body allows (`searchable` unless false); None if it has none."""
    data = document.get("data")
    fields = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(fields, list):
        return None
    return [str(f["name"]) for f in fields
            if isinstance(f, dict) and "name" in f and f.get("searchable", True) is not False]


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
