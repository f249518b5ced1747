"""The Singer SDK's standard tap tests, against the Bloomreach emulator (see `tests.standard`)."""

from __future__ import annotations

import typing as t

from tap_bloomreach.tap import TapBloomreach

from tests.bloomreach.conftest import SEGMENTATION_ID, tap_config
from tests.standard import standard_test_class

if t.TYPE_CHECKING:
    from sandbox.framework import RunningEmulator

SETTINGS = {"scale": 40, "catalogs": [
    {"id": "5b69de5bc0e6a1000e7f0b51", "name": "products", "item_prefix": "sku", "size": 1200,
     "categories": 8, "brands": 5},
]}


def config_for(server: RunningEmulator) -> dict[str, t.Any]:
    return tap_config(server, analysis_ids=[SEGMENTATION_ID])


TestTapBloomreach = standard_test_class(TapBloomreach, "bloomreach", SETTINGS, config_for)
