"""Catalogs and their items, read around the 1001-item reach of the items endpoint (spec §6)."""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from marketing_tapkit.config import config_error
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_bloomreach import schemas
from tap_bloomreach.catalog_reach import REACH, CatalogReader
from tap_bloomreach.client import BloomreachStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class CatalogsStream(BloomreachStream):
    """The project's catalogs (all, or those in `catalog_ids`)."""

    name = "catalogs"
    path = "/catalogs"
    primary_keys = ("id",)
    permission = "Catalogs > Get catalog list"
    schema = schemas.CATALOG

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
    permission = "Catalogs > Get catalog items"
    schema = schemas.CATALOG_ITEM
    # Paged by `skip`: a page refused deep into a catalog names the skip reached, and the setting that
    # leaves the catalog out.
    page_parameter = "skip"
    narrow_scan_settings = ("catalog_ids",)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        catalog_id = str((context or {})["catalog_id"])
        items_url = self.get_url(context)
        reader = CatalogReader(
            fetch=lambda params: self.get_document(items_url, what=f"catalog_items: a page of {catalog_id}",
                                                   params=params),
            searchable_fields=lambda: searchable_field_names(self.get_document(
                f"/catalogs/{quote(catalog_id, safe='')}", what=f"catalog_items: the fields of {catalog_id}",
            )),
        )
        try:
            for item in reader.items():
                yield {**item, "catalog_id": catalog_id, "item_id": str(item["item_id"])}
        except ValueError as exc:
            raise FatalAPIError(f"catalog_items: unexpected answer for catalog {catalog_id}: {exc}") from None
        self._log_reach(catalog_id, reader)

    def _log_reach(self, catalog_id: str, reader: CatalogReader) -> None:
        """Say how much of the catalog the reach allowed, and how to read the rest."""
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

    @override
    def not_found_hint(self) -> str:
        return "The catalog was not found: check `catalog_ids`, or `api_url` and `project_token`."

    @override
    def invalid_request_hint(self) -> str:
        return f"The items endpoint refuses count + skip > {REACH} (spec); this is a tap bug if it persists."


def searchable_field_names(document: dict[str, t.Any]) -> list[str] | None:
    """The `field` names a GET catalogs/{id} body allows (`searchable` unless false); None if it has none."""
    data = document.get("data")
    fields = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(fields, list):
        return None
    return [str(f["name"]) for f in fields
            if isinstance(f, dict) and "name" in f and f.get("searchable", True) is not False]
