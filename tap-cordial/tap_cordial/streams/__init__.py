"""Cordial's streams, by domain: the account (lists, attributes, supplements, jobs), commerce (orders,
products), contacts (and their activities), and audience trends."""

from tap_cordial.streams.account import (
    AccountListsStream,
    ContactAttributesStream,
    JobsStream,
    SupplementRecordsStream,
    SupplementsStream,
)
from tap_cordial.streams.audience_trends import AudienceTrendsStream
from tap_cordial.streams.commerce import OrdersStream, ProductsStream
from tap_cordial.streams.contacts import ContactActivitiesStream, ContactsStream

__all__ = [
    "AccountListsStream",
    "AudienceTrendsStream",
    "ContactActivitiesStream",
    "ContactAttributesStream",
    "ContactsStream",
    "JobsStream",
    "OrdersStream",
    "ProductsStream",
    "SupplementRecordsStream",
    "SupplementsStream",
]
