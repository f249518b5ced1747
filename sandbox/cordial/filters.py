"""Cordial's bracket time filters (`time[gt]`, `purchaseDate[gte]`, `times[start][lt]`, ...) (spec §3, §4).

Collections are ordered by time (index order), so a time filter maps to an index range by bisection
and a deep page costs nothing to find.
"""

from __future__ import annotations

import bisect
import dataclasses
import typing as t
from datetime import UTC, datetime

from sandbox.framework import HTTPError

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from sandbox.framework import Request


def parse_filter_time(value: str) -> float | None:
    """A filter value as epoch seconds; None if it is not a time Cordial would accept (→ 422)."""
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def index_range(
    count: int, time_of: Callable[[int], float], low: float | None, low_inclusive: bool, *,
    high: float | None, high_inclusive: bool,
) -> range:
    """The indexes whose time lies within the bounds, for a collection ordered by time."""
    start, stop = 0, count
    if low is not None:
        finder = bisect.bisect_left if low_inclusive else bisect.bisect_right
        start = finder(range(count), low, key=time_of)
    if high is not None:
        finder = bisect.bisect_right if high_inclusive else bisect.bisect_left
        stop = finder(range(count), high, key=time_of)
    return range(start, max(start, stop))


@dataclasses.dataclass(frozen=True)
class TimeBounds:
    """The bounds a request's `field[gt]`, `field[gte]`, `field[lt]`, `field[lte]` and `field` set."""

    low: float | None = None
    low_inclusive: bool = True
    high: float | None = None
    high_inclusive: bool = True
    given: bool = False  # any filter on the field at all

    @classmethod
    def of(cls, request: Request, field: str) -> TimeBounds:
        """The bounds on `field`; 422 `Time value is incorrect` for an unparsable time."""
        low = high = None
        low_inclusive = high_inclusive = True
        given = False
        exact = request.arg(field)
        for operator in ("gt", "gte", "lt", "lte", ""):
            raw = exact if operator == "" else request.arg(f"{field}[{operator}]")
            if raw is None or raw == "":
                continue
            given = True
            moment = parse_filter_time(raw)
            if moment is None:
                raise HTTPError(422, "Time value is incorrect")
            if operator in {"gt", "gte", ""} and (low is None or moment >= low):
                low, low_inclusive = moment, operator != "gt"
            if operator in {"lt", "lte", ""} and (high is None or moment <= high):
                high, high_inclusive = moment, operator != "lt"
        return cls(low, low_inclusive, high, high_inclusive, given)

    def indexes(self, count: int, time_of: Callable[[int], float]) -> range:
        """The indexes within the bounds of a collection of `count` ordered by `time_of`."""
        return index_range(count, time_of, self.low, self.low_inclusive, high=self.high,
                           high_inclusive=self.high_inclusive)

    def contains(self, value: str | None) -> bool:
        """Whether the date-time text `value` lies within the bounds (False if it is not a time)."""
        moment = parse_filter_time(value) if value is not None else None
        if moment is None:
            return False
        if self.low is not None and (moment < self.low or (moment == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None and (moment > self.high or (moment == self.high and not self.high_inclusive)))
