"""`meltano run` in this project prints no warning a user would learn to ignore."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.profiles import PROFILES
from tests.support import meltano

pytestmark = pytest.mark.e2e

#: Words that mean something in this project (its meltano.yml, its plugins, its settings) is out of date.
OURS_TO_FIX = re.compile(
    r"DeprecationWarning|FutureWarning|UserWarning|deprecated|unknown setting|not a known setting|Traceback",
    flags=re.IGNORECASE,
)
#: Warnings that report on the run, not on this project, and why each is fine.
EXPECTED_WARNINGS = (
    # Meltano: the first run of a pipeline has no state to resume from.
    "No state was found, complete import.",
    # The SDK, on audit_events: the audit API documents no order, so the stream is declared unsorted and
    # its bookmark is only advanced at the end of the stream (docs/vendors/evergage.md, audit log).
    "Stream is assumed to be unsorted, progress is not resumable if interrupted",
)


def test_meltano_run_of_tap_evergage_into_jsonl_prints_no_warning_of_ours(emulator, tmp_path: Path) -> None:
    profile = PROFILES["evergage"]
    server = emulator(profile.vendor, scale=50)
    env = {
        **profile.env(server),
        "TARGET_JSONL_DESTINATION_PATH": str(tmp_path),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    done = meltano("run", "tap-evergage", "target-jsonl", env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    assert (tmp_path / "users.jsonl").stat().st_size > 0
    output = done.stdout + done.stderr
    assert not [line for line in output.splitlines() if OURS_TO_FIX.search(line)]
    unexpected = [
        line for line in output.splitlines()
        if re.search(r"\[warning\s*\]|\bwarning:", line, flags=re.IGNORECASE)
        and not any(expected in line for expected in EXPECTED_WARNINGS)
    ]
    assert not unexpected
