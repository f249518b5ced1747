"""Orders and products."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_cordial import schemas
from tap_cordial.client import PagedStream, TimeSeekStream
from tap_cordial.pagination import QueryPagesPaginator, TimeSeekToken

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

ORDERS_QUERY_CAP = 10_000  # "can retrieve up to 10,000 records at a time" (spec cordial.md §4)


class OrdersStream(TimeSeekStream):
    """Orders by purchase date; each query stops under the 10,000-record cap and the next starts at the
    last purchase date seen (spec §4). Updates to orders older than the bookmark are not seen (§10).

    Within a query the pages are page numbers, fetched ahead; only the next query's start waits for the
    last page of the one before.
    """

    name = "orders"
    path = "/orders"
    primary_keys = ("orderID",)
    replication_key = "purchaseDate"
    schema = schemas.ORDERS
    page_parameter = "page"
    narrow_scan_settings = ("start_date",)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._query = TimeSeekToken(None, 1, self.page_size)

    @override
    def get_new_paginator(self) -> QueryPagesPaginator:
        return QueryPagesPaginator(self._query, query_cap=ORDERS_QUERY_CAP)

    @override
    def query_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        self._query = TimeSeekToken(None, 1, self.page_size)
        while True:
            count, last_time = 0, None
            for record in super().query_records(context):
                count += 1
                last_time = record.get(self.replication_key)
                yield record
            if count < ORDERS_QUERY_CAP:
                return
            if last_time is None or last_time == self._query.since:
                raise FatalAPIError(
                    f"orders: more than {ORDERS_QUERY_CAP:,} orders share the purchase date {last_time}; "
                    "Cordial's query cap cannot page past them."
                )
            self._query = TimeSeekToken(str(last_time), 1, self.page_size)

    @override
    def get_url_params(self, context: Context | None, next_page_token: TimeSeekToken | None) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        params.update(page=self.seek_token(next_page_token).page, sort_by="purchaseDate", sort_dir="asc")
        return params


class ProductsStream(PagedStream):
    """The product catalog (full table; `lm` is the last change)."""

    name = "products"
    path = "/products"
    primary_keys = ("productID",)
    replication_key = None
    schema = schemas.PRODUCTS
