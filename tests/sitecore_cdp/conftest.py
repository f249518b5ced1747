"""Fixtures of the tap-sitecore-cdp tests."""

from __future__ import annotations

import typing as t

import pytest

from tests.sitecore_cdp.helpers import TAP, config_for
from tests.support import discover, start_emulator


@pytest.fixture(scope="session")
def catalog() -> dict[str, t.Any]:
    """The catalog discovered from the default emulator (a test selects streams in a copy of it)."""
    server = start_emulator("sitecore-cdp", scale=10)
    try:
        return discover(TAP, config_for(server.base_url, audience_exports=[
            "weekly-vip-export", "daily-delta-export", "daily_loyalty_members",
        ]))
    finally:
        server.stop()
