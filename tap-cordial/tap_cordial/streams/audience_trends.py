"""Audience trends: daily audience sizes, from one `POST /v2/audiencetrendsexport` job per run.

Cordial snapshots each audience with Audience Trend analytics enabled once a day, at midnight
America/Los_Angeles (spec cordial.md §8.2, S15). A run asks for the days after the bookmark up to
yesterday, waits for the job, streams the CSV from the destination and unpivots it: the file has one
row per audience and one column per day (GUESSED layout), the stream one record per audience per day.
Settings `audience_trends_start` / `audience_trends_end` (Cordial's `selected_timeframe_start` / `_end`)
choose the window instead, for a backfill or a re-export.
"""

from __future__ import annotations

import re
import typing as t
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from marketing_tapkit.config import config_error
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_cordial import schemas
from tap_cordial.client import SinglePageStream
from tap_cordial.exports import ExportJob

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

SNAPSHOT_TIMEZONE = ZoneInfo("America/Los_Angeles")
DEFAULT_LOOKBACK_DAYS = 30
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def yesterday() -> date:
    """The last day whose snapshot exists: snapshots are taken at midnight in Los Angeles."""
    return datetime.now(tz=SNAPSHOT_TIMEZONE).date() - timedelta(days=1)


def column_date(header: str) -> date | None:
    """A day column's date: `2024-05-01`, `2024-05-01T00:00:00...` or `05/01/2024`; None otherwise."""
    text = header.strip()
    if match := _US_DATE.match(text):
        month, day, year = (int(part) for part in match.groups())
        return date(year, month, day)
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None
def requested_window(config: t.Mapping[str, t.Any]) -> tuple[date | None, date | None]:
    """Settings `audience_trends_start` and `audience_trends_end` as dates (None when unset), checked."""
    days = []
    for setting in ("audience_trends_start", "audience_trends_end"):
        text = config.get(setting)
        day = column_date(str(text)) if text else None
        if text and day is None:
            raise config_error(f"Setting `{setting}` must be a date (YYYY-MM-DD), got {text!r}.")
        days.append(day)
    start, end = days
    if start and end and end < start:
        raise config_error(
            f"Setting `audience_trends_end` ({end.isoformat()}) is before `audience_trends_start` "
            f"({start.isoformat()}): Cordial refuses such a window."
        )
    return start, end


def unpivot(rows: Iterable[tuple[int, dict[str, t.Any]]], source: str) -> Iterator[dict[str, t.Any]]:
    """`{audience, <day>: count, ...}` rows as `{audience, date, count}` records.

    The first column names the audience whatever its header; columns that are not days are ignored. A
    file already in long form (`audience`, `date`, `count` columns) is passed through.
    """
    days: dict[str, date] | None = None
    audience_column = ""
    for line, row in rows:
        if days is None:
            columns = list(row)
            lowered = {c.strip().lower(): c for c in columns}
            if "date" in lowered and "count" in lowered:
                days = {}
                audience_column = lowered.get("audience", columns[0])
            else:
                audience_column = columns[0]
                days = {c: d for c in columns[1:] if (d := column_date(c)) is not None}
                if not days:
                    raise FatalAPIError(
                        f"audience_trends: {source} has no day columns (header {columns[:5]}...); "
                        "expected one column per day after the audience name."
                    )
        audience = str(row.get(audience_column) or "").strip()
        if not days:  # long form
            value = _count(row[lowered["count"]], source, line)
            day = column_date(str(row[lowered["date"]]))
            if day and value is not None:
                yield {"audience": audience, "date": day.isoformat(), "count": value}
            continue
        for column, day in days.items():
            value = _count(row.get(column), source, line)
            if value is not None:  # an empty cell: no snapshot that day
                yield {"audience": audience, "date": day.isoformat(), "count": value}


def _count(value: t.Any, source: str, line: int) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(float(str(value).replace(",", "")))
    except ValueError:
        raise FatalAPIError(f"audience_trends: {source}, row {line}: {value!r} is not a count") from None


class AudienceTrendsStream(SinglePageStream):
    """Daily size of each audience in setting `audiences`, incremental on the day."""

    name = "audience_trends"
    path = "/audiencetrendsexport"
    primary_keys = ("audience", "date")
    replication_key = "date"
    is_sorted = False
    schema = schemas.AUDIENCE_TRENDS

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        audiences = list(self.config.get("audiences") or [])
        if not audiences:
            self.logger.info("audience_trends: setting `audiences` is empty; nothing to export.")
            return
        chosen_start, chosen_end = requested_window(self.config)
        start, end = chosen_start or self._first_day(context), chosen_end or yesterday()
        if start > end:
            self.logger.info("audience_trends: up to date (last day read: %s).", end.isoformat())
            return
        if chosen_start or chosen_end:
            self.logger.info("audience_trends: exporting the chosen window %s to %s (settings "
                             "`audience_trends_start` / `audience_trends_end`).", start.isoformat(), end.isoformat())
        job = ExportJob.for_stream(self, "`audience_trends`")
        job_id = job.start("audiencetrendsexport", {
            "exportType": "csv", "audiences": audiences,
            "selected_timeframe_start": start.isoformat(), "selected_timeframe_end": end.isoformat(),
        })
        job.wait(job_id)
        for source, rows in job.file_rows():
            yield from unpivot(rows, source)

    def _first_day(self, context: Context | None) -> date:
        """The day after the bookmark; else `start_date`'s day; else 30 days before yesterday."""
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark and (day := column_date(str(bookmark))):
            return day + timedelta(days=1)
        if start := self.config.get("start_date"):
            return column_date(str(start)) or yesterday()
        return yesterday() - timedelta(days=DEFAULT_LOOKBACK_DAYS - 1)
