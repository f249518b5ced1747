"""Consent categories (spec §7.1)."""

from __future__ import annotations

from tap_bloomreach import schemas
from tap_bloomreach.client import BloomreachStream


class ConsentCategoriesStream(BloomreachStream):
    """The project's consent categories (needs no permission, spec §7.1: the connection check reads them)."""

    name = "consent_categories"
    path = "/consent/categories"
    primary_keys = ("id",)
    records_key = "results"
    schema = schemas.CONSENT_CATEGORY
