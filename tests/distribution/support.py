"""What the distribution tests share: the packages, their wheels, and rows counted by primary key."""

from __future__ import annotations

import json
import typing as t
from collections.abc import Iterable
from pathlib import Path

from scripts.generate_plugin_definitions import TAPS
from tests.profiles import PROFILES, TapProfile

KIT = "marketing-tapkit"
PACKAGES = (KIT, *(info.name for info in TAPS))
TAP_PROFILES: dict[str, TapProfile] = {profile.tap: profile for profile in PROFILES.values()}


def wheel(dist: Path, package: str) -> Path:
    """The one wheel of `package` in `dist`."""
    (found,) = dist.glob(f"{package.replace('-', '_')}-*.whl")
    return found


def distinct_keys(records: Iterable[dict[str, t.Any]], keys: tuple[str, ...]) -> int:
    """How many distinct primary keys `records` hold (a target that upserts keeps this many rows)."""
    return len({json.dumps([record.get(key) for key in keys]) for record in records})


def rows_by_key(profile: TapProfile, records_of: t.Callable[[str], list[dict[str, t.Any]]]) -> dict[str, int]:
    """Distinct keys per stream that `profile` expects rows of, for comparison with `profile.expected_rows`."""
    return {stream: distinct_keys(records_of(stream), profile.table_keys[stream]) for stream in profile.table_keys}
