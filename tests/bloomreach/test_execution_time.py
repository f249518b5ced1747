"""`execution_time` and `timezone`: when the customers export and the segmentation results are evaluated.

Both endpoints take the two fields (spec §5.1, §8); the tap sends `execution_time` only when the setting
is set, as epoch seconds, whatever form it was given in. The emulator keeps the JSON bodies it received.
"""

from __future__ import annotations

import pytest

from tests.bloomreach.conftest import SEGMENTATION_ID, sync, tap_config
from tests.support import run_tap

#: 2024-06-30T23:59:59+02:00, the last second of June in Prague (CEST).
END_OF_JUNE_IN_PRAGUE = 1719784799


def _sent(server, path_suffix: str) -> list[tuple[object, object]]:
    """(`execution_time`, `timezone`) of each body the emulator received on `path_suffix`."""
    return [(body.get("execution_time", "unset"), body.get("timezone"))
            for body in (entry["json"] or {} for entry in server.emulator.logged_requests("POST", path_suffix))]


@pytest.mark.parametrize("execution_time", [
    "2024-06-30T23:59:59+02:00", "2024-06-30T21:59:59Z", "2024-06-30T23:59:59", END_OF_JUNE_IN_PRAGUE,
    str(END_OF_JUNE_IN_PRAGUE),
], ids=["iso-with-offset", "iso-utc", "iso-wall-clock-in-timezone", "epoch-number", "epoch-text"])
def test_execution_time_is_sent_as_epoch_seconds_to_the_export_and_the_analyses(bloomreach, execution_time):
    server = bloomreach(scale=12)
    config = tap_config(server, execution_time=execution_time, timezone="Europe/Prague",
                        analysis_ids=[SEGMENTATION_ID])
    run = sync(config, "customers", "segmentation_results")
    assert run.returncode == 0, run.stderr
    assert len(run.records("customers")) == 12
    expected = (END_OF_JUNE_IN_PRAGUE, "Europe/Prague")
    # Discovery's sample is evaluated at the same moment as the sync's export.
    assert _sent(server, "/customers/export") == [expected, expected]
    assert _sent(server, "/analyses/segmentation") == [expected]


def test_execution_time_is_not_sent_when_unset(bloomreach):
    server = bloomreach(scale=5)
    run = sync(tap_config(server, analysis_ids=[SEGMENTATION_ID]), "customers", "segmentation_results")
    assert run.returncode == 0, run.stderr
    assert set(_sent(server, "/customers/export")) == {("unset", "UTC")}
    assert _sent(server, "/analyses/segmentation") == [("unset", "UTC")]


def test_a_wall_clock_execution_time_follows_the_timezone_setting(bloomreach):
    server = bloomreach(scale=3)
    run = sync(tap_config(server, execution_time="2024-01-15", timezone="America/New_York"), "customers")
    assert run.returncode == 0, run.stderr
    midnight_in_new_york = 1705294800  # 2024-01-15T00:00:00-05:00
    assert set(_sent(server, "/customers/export")) == {(midnight_in_new_york, "America/New_York")}


def test_a_misspelt_execution_time_is_named_with_the_setting_it_resembles(bloomreach):
    server = bloomreach(scale=3)
    config = tap_config(server, executionTime=END_OF_JUNE_IN_PRAGUE, strict_settings=True)
    run = run_tap("tap-bloomreach", config, extra_args=["--discover"])
    assert run.returncode != 0
    assert "Setting `executionTime` is not a setting of this tap" in run.stderr
    assert "did you mean `execution_time`?" in run.stderr
    assert server.emulator.logged_requests("POST", "/customers/export") == []
