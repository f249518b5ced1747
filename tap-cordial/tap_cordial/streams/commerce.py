"""Orders and products."""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_cordial import schemas
from tap_cordial.client import PagedStream, TimeSeekStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_cordial.pagination import TimeSeekToken

ORDERS_QUERY_CAP = 10_000  # "can retrieve up to 10,000 records at a time" (spec cordial.md §4)


class OrdersStream(TimeSeekStream):
    """Orders by purchase date; each query stops under the 10,000-record cap and the next starts at the
    last purchase date seen (spec §4). Updates to orders older than the bookmark are not seen (§10)."""

    name = "orders"
    path = "/orders"
    primary_keys = ("orderID",)
    replication_key = "purchaseDate"
    query_cap = ORDERS_QUERY_CAP
    schema = schemas.ORDERS

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
