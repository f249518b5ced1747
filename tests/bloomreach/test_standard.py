"""The Singer SDK's standard tap tests, against the emulator over HTTP.

The SDK builds its test class when this module is imported (it discovers the streams to parametrise
the tests), so the emulator starts at import, on a free port, and stops when the module's tests end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from singer_sdk.testing import get_tap_test_class
from tap_bloomreach.tap import TapBloomreach

from tests.bloomreach.conftest import SEGMENTATION_ID, tap_config
from tests.support import start_emulator

_SERVER = start_emulator("bloomreach", scale=40, catalogs=[
    {"id": "5b69de5bc0e6a1000e7f0b51", "name": "products", "item_prefix": "sku", "size": 1200,
     "categories": 8, "brands": 5},
])

TestTapBloomreach = get_tap_test_class(
    TapBloomreach, config=tap_config(_SERVER, analysis_ids=[SEGMENTATION_ID]),
)


@pytest.fixture(scope="module", autouse=True)
def _stop_emulator() -> Iterator[None]:
    yield
    _SERVER.stop()
