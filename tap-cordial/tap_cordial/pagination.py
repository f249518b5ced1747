"""Paging by time, for lists that have no page parameter or a cap on how deep pages go.

`GET /v2/contactactivities` takes no `page` (spec cordial.md §4): the next page is asked for with a
time filter from the last time seen, so it is known only once the page arrives (one page at a time).
`GET /v2/orders` pages, but serves at most 10,000 records per query, so a query that reaches the cap is
followed by a new one starting at the last purchase date seen; within one query the page numbers are
known ahead (`QueryPagesPaginator`), so those pages are fetched ahead.

Several records can share one second, so a new query starts *at* (`[gte]`) the last time seen, not after
it, and the records of that second already read are dropped (`SeenAtLastTime`): nothing is lost at a
boundary and nothing is emitted twice.
"""

from __future__ import annotations

import dataclasses
import typing as t
from urllib.parse import parse_qs, urlsplit

from marketing_tapkit.pagination import decoded_json
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

if t.TYPE_CHECKING:
    import requests


class SeenAtLastTime:
    """The ids of the records at the latest time seen, in a sequence of records sorted by time."""

    def __init__(self, time_field: str, id_field: str) -> None:
        self.time_field = time_field
        self.id_field = id_field
        self.last_time: t.Any = None
        self.ids: set[str] = set()

    def add(self, record: dict[str, t.Any]) -> bool:
        """Note `record`; False when a record with its id was already seen at its time."""
        record_time, record_id = record.get(self.time_field), str(record.get(self.id_field))
        if record_time != self.last_time:
            self.last_time, self.ids = record_time, set()
        elif record_id in self.ids:
            return False
        self.ids.add(record_id)
        return True


@dataclasses.dataclass(frozen=True)
class TimeSeekToken:
    """Where the next request starts: at `since` (None: the stream's own start), on page `page`."""

    since: str | None
    page: int
    per_page: int


class TimeSeekPaginator(BaseAPIPaginator[TimeSeekToken]):
    """Every request is its own query, starting at the last time seen (no page numbers).

    When one second holds a whole page, the page size doubles (up to `max_per_page`) so the query can
    move past it.
    """

    def __init__(self, *, per_page: int, time_field: str, id_field: str, max_per_page: int = 10_000) -> None:
        super().__init__(TimeSeekToken(None, 1, per_page))
        self.seen = SeenAtLastTime(time_field, id_field)
        self.max_per_page = max_per_page

    @override
    def get_next(self, response: requests.Response) -> TimeSeekToken | None:
        page = decoded_json(response) if response.status_code == 200 else None
        if not isinstance(page, list):
            return None  # 404 "record not found": no more rows
        token = self.current_value
        for record in page:
            self.seen.add(record)
        if len(page) < token.per_page:
            return None
        last_time = self.seen.last_time
        per_page = token.per_page
        if last_time is None or last_time == token.since:
            # The whole query was one second: only a larger page can get past it.
            if per_page >= self.max_per_page:
                raise FatalAPIError(
                    f"More than {self.max_per_page} records share the time {last_time}; "
                    "Cordial's filters cannot page past them."
                )
            per_page = min(self.max_per_page, per_page * 2)
        return TimeSeekToken(last_time, 1, per_page)


class QueryPagesPaginator(BaseAPIPaginator[TimeSeekToken]):
    """The pages of one capped time query: page numbers, known ahead, up to the query's cap.

    The query ends on a short page or at the cap (`position >= query_cap`); the stream then starts the
    next query at the last time seen (see `OrdersStream.request_records`).
    """

    def __init__(self, start: TimeSeekToken, *, query_cap: int) -> None:
        super().__init__(start)
        self.query_cap = query_cap

    def token_after(self, token: TimeSeekToken) -> TimeSeekToken:
        """The next page of the same query (pages past the cap come back empty and are discarded)."""
        return dataclasses.replace(token, page=token.page + 1)

    @override
    def has_more(self, response: requests.Response) -> bool:
        page = decoded_json(response) if response.status_code == 200 else None
        if not isinstance(page, list):
            return False  # 404 "record not found": no more rows
        token = self._page_token(response)
        position = (token.page - 1) * token.per_page + len(page)
        return len(page) >= token.per_page and position < self.query_cap

    @override
    def get_next(self, response: requests.Response) -> TimeSeekToken | None:
        return self.token_after(self.current_value)

    def _page_token(self, response: requests.Response) -> TimeSeekToken:
        """The token of the page `response` answers (pages ahead arrive before `current_value` moves)."""
        page_number = parse_qs(urlsplit(response.url or "").query).get("page", [""])[0]
        start = self.current_value
        return dataclasses.replace(start, page=int(page_number)) if page_number.isdigit() else start
