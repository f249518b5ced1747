"""Paging by time, for lists that have no page parameter or a cap on how deep pages go.

`GET /v2/contactactivities` takes no `page` (spec cordial.md §4): the next page is asked for with a
time filter from the last time seen. `GET /v2/orders` pages, but serves at most 10,000 records per
query, so a query that reaches the cap is followed by a new one starting at the last purchase date seen.

Several records can share one second, so a new query starts *at* (`[gte]`) the last time seen, not after
it, and drops the records of that second it has already emitted: nothing is lost at a boundary and
nothing is emitted twice.
"""

from __future__ import annotations

import dataclasses
import typing as t

from marketing_tapkit.pagination import decoded_json
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

if t.TYPE_CHECKING:
    import requests


@dataclasses.dataclass(frozen=True)
class TimeSeekToken:
    """Where the next request starts: at `since` (None: the stream's own start), skipping `seen_ids`."""

    since: str | None
    seen_ids: frozenset[str]
    page: int
    per_page: int

    def is_duplicate(self, record_time: t.Any, record_id: t.Any) -> bool:
        return self.since is not None and record_time == self.since and str(record_id) in self.seen_ids


class TimeSeekPaginator(BaseAPIPaginator[TimeSeekToken]):
    """Pages within a query while they stay under `query_cap`, then starts a new query at the last time.

    With `query_cap=None` every request is its own query (no page numbers). When one second holds a whole
    page, the page size doubles (up to `max_per_page`) so the query can move past it.
    """

    def __init__(self, *, per_page: int, time_field: str, id_field: str, query_cap: int | None,
                 max_per_page: int = 10_000) -> None:
        super().__init__(TimeSeekToken(None, frozenset(), 1, per_page))
        self.time_field = time_field
        self.id_field = id_field
        self.query_cap = query_cap
        self.max_per_page = max_per_page
        self._last_time: t.Any = None
        self._ids_at_last_time: set[str] = set()

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        # A full page of records already emitted (all from the boundary second) is not the end.
        page = decoded_json(response) if response.status_code == 200 else None
        return isinstance(page, list) and len(page) >= self.current_value.per_page

    @override
    def get_next(self, response: requests.Response) -> TimeSeekToken | None:
        page = decoded_json(response) if response.status_code == 200 else None
        if not isinstance(page, list):
            return None  # 404 "record not found": no more rows
        token = self.current_value
        for record in page:
            record_time = record.get(self.time_field)
            if record_time != self._last_time:
                self._last_time, self._ids_at_last_time = record_time, set()
            self._ids_at_last_time.add(str(record.get(self.id_field)))
        position = (token.page - 1) * token.per_page + len(page)
        cap_reached = self.query_cap is not None and position >= self.query_cap
        if len(page) < token.per_page and not cap_reached:
            return None
        if self.query_cap is not None and not cap_reached:
            return dataclasses.replace(token, page=token.page + 1)
        per_page = token.per_page
        if self._last_time is None or self._last_time == token.since:
            # The whole query was one second: only a larger page can get past it.
            if per_page >= self.max_per_page:
                raise FatalAPIError(
                    f"More than {self.max_per_page} records share the time {self._last_time}; "
                    "Cordial's filters cannot page past them."
                )
            per_page = min(self.max_per_page, per_page * 2)
        return TimeSeekToken(self._last_time, frozenset(self._ids_at_last_time), 1, per_page)
