"""Cordial's value normalisation (`normalize_value`): timestamps without a colon in the offset become
RFC 3339, PHP's empty maps become objects, and nothing else changes, at any depth."""

from __future__ import annotations

import copy
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st
from tap_cordial.client import PHP_MAP_KEYS, normalize_value

from tests.fuzz.strategies import json_values

moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1))
offsets = st.tuples(st.sampled_from("+-"), st.integers(0, 14), st.sampled_from([0, 30, 45]))


def cordial_time(moment: datetime, offset: tuple[str, int, int], fraction: bool) -> str:
    sign, hours, minutes = offset
    clock = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}" if fraction else "")
    return f"{clock}{sign}{hours:02d}{minutes:02d}"


@given(moment=moments, offset=offsets, fraction=st.booleans())
def test_cordial_timestamps_become_rfc3339_at_the_same_instant(moment, offset, fraction: bool) -> None:
    value = cordial_time(moment, offset, fraction)
    fixed = normalize_value({"lastModified": value, "nested": [{"at": value}]})
    parsed = datetime.fromisoformat(fixed["lastModified"])
    assert parsed.replace(tzinfo=None) == (moment if fraction else moment.replace(microsecond=0))
    assert parsed.utcoffset() is not None
    assert fixed["nested"][0]["at"] == fixed["lastModified"]


@given(value=json_values)
def test_normalising_never_mutates_its_input_and_is_idempotent(value) -> None:
    before = copy.deepcopy(value)
    once = normalize_value(value)
    assert value == before
    assert normalize_value(once) == once


@given(record=st.dictionaries(st.sampled_from(sorted(PHP_MAP_KEYS)), st.just([]), min_size=1))
def test_php_empty_maps_become_objects(record) -> None:
    assert normalize_value(record) == {key: {} for key in record}
