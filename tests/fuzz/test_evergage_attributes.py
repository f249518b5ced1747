"""Evergage's attribute normalisation: the `[{name, value, updated}]` shape as `{name: value}`, and epoch
milliseconds as RFC 3339 at the same instant."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st
from tap_evergage.client import attributes_as_object, epoch_ms_to_iso

from tests.fuzz.strategies import json_values, text

items = st.one_of(st.fixed_dictionaries({"name": text, "value": json_values},
                                        optional={"updated": st.integers(0, 2**42)}), json_values)


@given(attributes=st.lists(items, max_size=8))
def test_attribute_lists_become_objects_keeping_the_last_value_of_each_name(attributes) -> None:
    expected = {str(i["name"]): i.get("value") for i in attributes if isinstance(i, dict) and "name" in i}
    assert attributes_as_object(attributes) == expected


@given(ms=st.integers(min_value=0, max_value=4_102_444_800_000))
def test_epoch_milliseconds_become_the_same_instant(ms: int) -> None:
    assert round(datetime.fromisoformat(epoch_ms_to_iso(ms)).timestamp() * 1000) == ms


@given(value=st.one_of(text, st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_values_that_are_not_epoch_numbers_are_unchanged(value) -> None:
    assert epoch_ms_to_iso(value) == value
