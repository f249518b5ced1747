"""The Meltano SDK's standard tap tests, against an emulator (with its S3 server) started for this module."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class
from tap_cordial.tap import TapCordial

from tests.cordial.support import CordialSandbox
from tests.support import start_emulator

# The SDK builds the test class at import time and discovers streams then, so the emulator starts here.
_SANDBOX = CordialSandbox(start_emulator("cordial", scale=20, **CordialSandbox.FAST_JOBS))
atexit.register(_SANDBOX.server.stop)

TestTapCordial = get_tap_test_class(
    TapCordial,
    config=_SANDBOX.config(
        audiences=["vip-customers", "engaged-30d"],
        export_destination=_SANDBOX.s3_destination("standard-tests"),
    ),
)
