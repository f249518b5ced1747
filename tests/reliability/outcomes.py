"""The outcome every recovering scenario must reach: exactly the emulator's records, by primary key."""

from __future__ import annotations

import typing as t

from tests.profiles import TapProfile
from tests.support import TapRun


def assert_exact(profile: TapProfile, run: TapRun, settings: dict[str, t.Any]) -> str:
    assert run.returncode == 0, run.stderr[-3000:]
    got = {profile.record_key(r) for r in run.records(profile.main_stream)}
    expected = profile.expected_keys(settings)
    assert got == expected, f"missing {len(expected - got)}, unexpected {len(got - expected)}"
    return f"recovered, {len(got)}/{len(expected)} rows"
