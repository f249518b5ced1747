"""Sitecore CDP's timestamps (its own format, bookmarks compared as text) and its export files (CSV with
`,` or `|`, JSON Lines), read by the kit's `read_any_records` (as the tap reads export files) from the
sandbox's writers."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from marketing_tapkit.readers import CSVOptions, open_decompressed, read_any_records
from tap_sitecore_cdp.client import format_timestamp, parse_timestamp

from tests.fuzz.bodies import expected, write
from tests.fuzz.strategies import stream_records, text

moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1), timezones=st.just(UTC))


@given(moment=moments)
def test_format_then_parse_is_the_instant_to_the_millisecond(moment: datetime) -> None:
    assert parse_timestamp(format_timestamp(moment)) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@given(first=moments, second=moments)
def test_formatted_timestamps_order_as_text_as_their_instants_do(first: datetime, second: datetime) -> None:
    assert (format_timestamp(first) < format_timestamp(second)) == (
        first.replace(microsecond=first.microsecond // 1000 * 1000)
        < second.replace(microsecond=second.microsecond // 1000 * 1000))


@given(value=st.one_of(text, st.integers(), st.none()))
def test_anything_that_is_not_a_timestamp_parses_as_none_or_an_aware_instant(value) -> None:
    parsed = parse_timestamp(value)
    assert parsed is None or parsed.tzinfo is not None


@given(records=stream_records(flat=True), delimiter=st.sampled_from([",", "|"]), detect=st.booleans(),
       fmt=st.sampled_from(["csv", "jsonl"]), gzipped=st.booleans())
def test_export_files_read_back_equal(records, delimiter: str, detect: bool, fmt: str, gzipped: bool) -> None:
    records[0].setdefault("id", 1)
    body = write(fmt, records, delimiter=delimiter, quote_all=True, gzipped=gzipped)
    reader = open_decompressed(io.BytesIO(body), "file 0")
    options = CSVOptions(delimiter=None if detect else delimiter)
    assert list(read_any_records(reader, "file 0", csv_options=options)) == expected(fmt, records)
