"""Cordial list streams: each declares its path, keys, schema and paging; the rest is in `client.py`."""

from __future__ import annotations

import typing as t

from marketing_tapkit.pagination import PageNumberUntilShortPaginator
from marketing_tapkit.schemas import open_schema
from singer_sdk import typing as th
from typing_extensions import override

from tap_cordial.client import CordialStream, filter_time
from tap_cordial.pagination import TimeSeekPaginator, TimeSeekToken

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

ORDERS_QUERY_CAP = 10_000  # "can retrieve up to 10,000 records at a time" (spec cordial.md §4)

DateTime = th.DateTimeType
OpenObject = th.ObjectType(additional_properties=True)
Strings = th.ArrayType(th.StringType)
# Numbers that Cordial sometimes sends as strings ("qty": "10" in recorded product data, spec §9.1).
NumberOrText = th.CustomType({"type": ["number", "string", "null"]})


class PagedStream(CordialStream):
    """1-based `page` with `per_page`, ending on a short page or a 404 `record not found` (spec §4)."""

    @override
    def get_new_paginator(self) -> PageNumberUntilShortPaginator:
        return PageNumberUntilShortPaginator(start_value=1, page_size=self.page_size)

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"page": next_page_token or 1, "per_page": self.page_size}


class SinglePageStream(CordialStream):
    """A list with no paging parameters."""

    @override
    def get_new_paginator(self) -> None:
        return None


class TimeSeekStream(CordialStream):
    """A list read in time order by `<replication_key>[gte]` queries (see `pagination.py`)."""

    replication_key: str
    is_sorted = True
    #: Records per query before a new query must start (None: every request is a new query).
    query_cap: t.ClassVar[int | None] = None

    @override
    def get_new_paginator(self) -> TimeSeekPaginator:
        return TimeSeekPaginator(per_page=self.page_size, time_field=self.replication_key,
                                 id_field=self.primary_keys[0], query_cap=self.query_cap)

    @override
    def get_url_params(self, context: Context | None, next_page_token: TimeSeekToken | None) -> dict[str, t.Any]:
        token = next_page_token or TimeSeekToken(None, frozenset(), 1, self.page_size)
        self._seek_token = token  # parse_response drops what this query repeats
        params: dict[str, t.Any] = {"per_page": token.per_page}
        since = token.since or self.get_starting_replication_key_value(context)
        if since:
            params[f"{self.replication_key}[gte]"] = filter_time(since)
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        token: TimeSeekToken | None = getattr(self, "_seek_token", None)
        for record in super().parse_response(response):
            if token is None or not token.is_duplicate(record.get(self.replication_key),
                                                       record.get(self.primary_keys[0])):
                yield record


ITEM = th.ObjectType(
    th.Property("productID", th.StringType),
    th.Property("sku", th.StringType),
    th.Property("category", th.StringType),
    th.Property("name", th.StringType),
    th.Property("qty", NumberOrText),
    th.Property("itemPrice", th.NumberType),
    th.Property("salePrice", th.NumberType),
    th.Property("amount", th.NumberType),
    th.Property("url", th.StringType),
    th.Property("attr", OpenObject),
    th.Property("productType", th.StringType),
    th.Property("manufacturerName", th.StringType),
    th.Property("UPCCode", th.StringType),
    th.Property("images", Strings),
    th.Property("tags", Strings),
    th.Property("properties", OpenObject),
    th.Property("description", th.StringType),
    th.Property("linkID", th.StringType),
    th.Property("mcID", th.StringType),
    additional_properties=True,
)


class OrdersStream(TimeSeekStream):
    """Orders by purchase date; each query stops under the 10,000-record cap and the next starts at the
    last purchase date seen (spec §4). Updates to orders older than the bookmark are not seen (§10)."""

    name = "orders"
    path = "/orders"
    primary_keys = ("orderID",)
    replication_key = "purchaseDate"
    query_cap = ORDERS_QUERY_CAP
    schema = open_schema(
        th.Property("orderID", th.StringType, required=True),
        th.Property("_id", th.StringType),
        th.Property("purchaseDate", DateTime),
        th.Property("cID", th.StringType),
        th.Property("status", th.StringType),
        th.Property("linkID", th.StringType),
        th.Property("mcID", th.StringType),
        th.Property("msID", th.StringType),
        th.Property("storeID", th.StringType),
        th.Property("customerID", th.StringType),
        th.Property("items", th.ArrayType(ITEM)),
        th.Property("totalAmount", th.NumberType),
        th.Property("tax", th.NumberType),
        th.Property("shippingAndHandling", th.NumberType),
        th.Property("totalDiscountAmount", th.NumberType),
        th.Property("discountApplication", OpenObject),
        th.Property("shippingAddress", OpenObject),
        th.Property("billingAddress", OpenObject),
        th.Property("properties", OpenObject),
    )

    @override
    def get_url_params(self, context: Context | None, next_page_token: TimeSeekToken | None) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        params.update(page=self._seek_token.page, sort_by="purchaseDate", sort_dir="asc")
        return params


class ProductsStream(PagedStream):
    """The product catalog (full table; `lm` is the last change)."""

    name = "products"
    path = "/products"
    primary_keys = ("productID",)
    replication_key = None
    schema = open_schema(
        th.Property("productID", th.StringType, required=True),
        th.Property("_id", th.StringType),
        th.Property("productName", th.StringType),
        th.Property("productType", th.StringType),
        th.Property("price", th.NumberType),
        th.Property("sale", OpenObject),
        th.Property("variants", th.ArrayType(th.ObjectType(
            th.Property("sku", th.StringType),
            th.Property("attr", OpenObject),
            th.Property("qty", NumberOrText),
            additional_properties=True,
        ))),
        th.Property("accountID", th.IntegerType),
        th.Property("totalQty", th.NumberType),
        th.Property("UPCCode", th.StringType),
        th.Property("category", th.StringType),
        th.Property("description", th.StringType),
        th.Property("images", Strings),
        th.Property("manufacturerName", th.StringType),
        th.Property("inStock", th.BooleanType),
        th.Property("taxable", th.BooleanType),
        th.Property("enabled", th.BooleanType),
        th.Property("url", th.StringType),
        th.Property("tags", Strings),
        th.Property("properties", OpenObject),
        th.Property("ct", DateTime),
        th.Property("lm", DateTime),
    )


class AccountListsStream(SinglePageStream):
    """Contact lists of the account."""

    name = "account_lists"
    path = "/accountlists"
    primary_keys = ("id",)
    replication_key = None
    schema = open_schema(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("enhanced", th.BooleanType),
    )


class ContactAttributesStream(SinglePageStream):
    """The account's contact attributes (they also shape the `contacts` schema)."""

    name = "contact_attributes"
    path = "/accountcontactattributes"
    primary_keys = ("key",)
    replication_key = None
    schema = open_schema(
        th.Property("key", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("type", th.StringType),
        th.Property("index", th.BooleanType),
        th.Property("unique", th.BooleanType),
        th.Property("validators", OpenObject),
        th.Property("schema", OpenObject),
        th.Property("updateUnauthenticated", th.BooleanType),
        th.Property("retainOnDestroy", th.StringType),
        th.Property("ct", DateTime),
        th.Property("lm", DateTime),
    )


class SupplementsStream(PagedStream):
    """Supplement collections; parent of `supplement_records`."""

    name = "supplements"
    path = "/supplements"
    primary_keys = ("key",)
    replication_key = None
    schema = open_schema(
        th.Property("key", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("indexes", th.ArrayType(th.ObjectType(
            th.Property("field", th.StringType), th.Property("type", th.StringType)))),
        th.Property("createdAt", DateTime),
        th.Property("lastDataUpdate", DateTime),
        th.Property("contactObject", th.BooleanType),
        th.Property("autogenerateIDs", th.BooleanType),
    )

    @override
    def get_child_context(self, record: dict[str, t.Any], context: Context | None) -> dict[str, t.Any]:
        return {"supplement_key": record["key"]}


class SupplementRecordsStream(PagedStream):
    """The records of each supplement. The fields every record has are columns; the fields each supplement
    defines for itself are kept in `attributes` (one stream serves every supplement)."""

    name = "supplement_records"
    path = "/supplements/{supplement_key}/records"
    parent_stream_type = SupplementsStream
    primary_keys = ("supplement_key", "id")
    replication_key = None
    schema = th.PropertiesList(
        th.Property("supplement_key", th.StringType, required=True),
        th.Property("id", th.StringType, required=True),
        th.Property("cID", th.StringType, description="The contact the record belongs to, if any."),
        th.Property("ct", DateTime),
        th.Property("lm", DateTime),
        th.Property("created", DateTime),
        th.Property("attributes", OpenObject, description="The supplement's own fields, by name."),
    ).to_dict()
    common_fields: t.ClassVar[frozenset[str]] = frozenset({"id", "cID", "ct", "lm", "created"})

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 422 and "does not exist" in response.text:
            return  # deleted since the parent listed it
        super().validate_response(response)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        if response.status_code == 422:
            self.logger.warning("supplement_records: %s no longer exists; skipped.", response.url)
            return
        yield from super().parse_response(response)

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        row = super().post_process(row, context)
        record = {key: value for key, value in row.items() if key in self.common_fields}
        record["attributes"] = {key: value for key, value in row.items() if key not in self.common_fields}
        record["supplement_key"] = (context or {}).get("supplement_key")
        if record.get("id") is not None:
            record["id"] = str(record["id"])
        return record


class JobsStream(PagedStream):
    """Import and export jobs, incremental on their start time (Cordial keeps jobs 60 days, spec §7)."""

    name = "jobs"
    path = "/jobs"
    primary_keys = ("_id",)
    replication_key = "times_start"
    is_sorted = False
    schema = open_schema(
        th.Property("_id", th.StringType, required=True),
        th.Property("times_start", DateTime,
                    description="Copy of times.start: the replication key must be a top-level field."),
        th.Property("jobName", th.StringType),
        th.Property("status", th.StringType),
        th.Property("totalItems", th.IntegerType),
        th.Property("completedItems", th.IntegerType),
        th.Property("times", th.ObjectType(th.Property("start", DateTime), th.Property("end", DateTime))),
        th.Property("result", OpenObject),
        th.Property("metadata", OpenObject),
        th.Property("run", OpenObject),
        th.Property("statistic", OpenObject),
    )

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        if since := self.get_starting_replication_key_value(context):
            params["times[start][gte]"] = filter_time(since)
        return params

    @override
    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any]:
        row = super().post_process(row, context)
        # The id field is not in Cordial's job schema (spec §7: `_id` INFERRED); accept `id` too.
        if not row.get("_id") and row.get("id"):
            row["_id"] = row["id"]
        row["times_start"] = (row.get("times") or {}).get("start")
        return row
