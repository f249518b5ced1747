"""The Meltano SDK's standard tap tests, against the Cordial emulator and its S3 server (see `tests.standard`)."""

from __future__ import annotations

import typing as t

from tap_cordial.tap import TapCordial

from tests.cordial.support import CordialSandbox
from tests.standard import standard_test_class

if t.TYPE_CHECKING:
    from sandbox.framework import RunningEmulator

SETTINGS = {"scale": 20, **CordialSandbox.FAST_JOBS}


def config_for(server: RunningEmulator) -> dict[str, t.Any]:
    sandbox = CordialSandbox(server)
    return sandbox.config(
        audiences=["vip-customers", "engaged-30d"], export_destination=sandbox.s3_destination("standard-tests"),
    )


TestTapCordial = standard_test_class(TapCordial, "cordial", SETTINGS, config_for)
