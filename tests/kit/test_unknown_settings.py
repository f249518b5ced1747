"""A setting a tap does not know is reported by name, with the nearest valid one, before any request.

By default a warning (the run goes on: an old config with a retired key still loads); with
`strict_settings: true` the tap stops before discovery. The message is the behaviour here: it must name
the mistyped key and the setting meant.
"""

from __future__ import annotations

import typing as t

import pytest

from tests.profiles import PROFILES, TapProfile
from tests.support import Admin, run_tap

TYPOS = {"request_timout": 30, "max-retries": 2}


@pytest.fixture(params=sorted(PROFILES), ids=lambda vendor: PROFILES[vendor].tap)
def profile(request: pytest.FixtureRequest) -> TapProfile:
    return PROFILES[request.param]


def _assert_names_each_typo(stderr: str) -> None:
    assert "`request_timout`" in stderr
    assert "did you mean `request_timeout`?" in stderr
    assert "`max-retries`" in stderr
    assert "did you mean `max_retries`?" in stderr


def test_unknown_setting_is_a_warning_naming_the_nearest_setting(
    profile: TapProfile, emulator: t.Callable[..., t.Any]
) -> None:
    server = emulator(profile.vendor, **profile.emulator_settings)
    run = run_tap(profile.tap, {**profile.config(server.base_url), **TYPOS}, extra_args=["--discover"])
    assert run.returncode == 0, run.stderr[-2000:]
    _assert_names_each_typo(run.stderr)


def test_strict_settings_refuses_an_unknown_setting_before_any_request(
    profile: TapProfile, emulator: t.Callable[..., t.Any]
) -> None:
    server = emulator(profile.vendor, **profile.emulator_settings)
    config = {**profile.config(server.base_url), **TYPOS, "strict_settings": True}
    run = run_tap(profile.tap, config, extra_args=["--discover"])
    assert run.returncode != 0
    _assert_names_each_typo(run.stderr)
    assert Admin(server.base_url).request_count() == 0


def test_known_settings_raise_no_warning(profile: TapProfile, emulator: t.Callable[..., t.Any]) -> None:
    server = emulator(profile.vendor, **profile.emulator_settings)
    run = run_tap(profile.tap, {**profile.config(server.base_url), "strict_settings": True}, extra_args=["--discover"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert "is not a setting of this tap" not in run.stderr
