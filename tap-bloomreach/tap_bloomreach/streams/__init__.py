"""The streams, by domain: customers (the export), catalogs and their items, consents, segmentations."""

from tap_bloomreach.streams.catalogs import CatalogItemsStream, CatalogsStream
from tap_bloomreach.streams.consents import ConsentCategoriesStream
from tap_bloomreach.streams.customers import CustomersStream
from tap_bloomreach.streams.segmentations import SegmentationResultsStream

__all__ = [
    "CatalogItemsStream",
    "CatalogsStream",
    "ConsentCategoriesStream",
    "CustomersStream",
    "SegmentationResultsStream",
]
