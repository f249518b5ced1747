"""Reading whole catalogs through the 1001-item reach of `GET catalogs/{id}/items` (spec §6.3).

The endpoint pages with `count`/`skip` and refuses `count + skip > 1001`, so one query reaches at most
1001 of the items it matches. The reader goes as far as documented behaviour allows:
1. The items in `item_id` order from the start, then in reverse order from the end until the two
   sides meet: complete for any query matching up to 2002 items.
2. If the catalog holds more, it is partitioned by a query on one field (`query=<value>&field=<name>`):
   the candidate fields are the catalog's searchable fields (GET catalogs/{id}, INFERRED) whose values
   repeat in the items already read; each value is probed with `count=1` to learn how many items it
   matches, the field covering the most is chosen, and each value is read as in 1.
3. Whatever still could not be reached is counted exactly (catalog `total` minus distinct items read)
   and reported by the caller.
Items are deduplicated by `item_id` across the queries (a set of 64-bit hashes, kept only while one
catalog is read), since full-text queries may overlap.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REACH = 1001  # count + skip must not exceed this (spec §6.3)
#: A field with more distinct values than this among the items read is not a partitioning candidate.
MAX_PARTITION_VALUES = 200
_MAX_VALUE_LENGTH = 200

Page = dict[str, t.Any]
Fetch = t.Callable[[dict[str, t.Any]], Page]


class CatalogReader:
    """Yields every item of one catalog it can reach; `total`, `reached` and `unreached` say how far."""

    def __init__(self, fetch: Fetch, searchable_fields: Callable[[], list[str] | None]) -> None:
        """`fetch(params)` returns a page of items; `searchable_fields()` the fields `field` may name."""
        self._fetch = fetch
        self._searchable_fields = searchable_fields
        self._seen: set[int] = set()
        self._values: dict[str, set[str] | None] = {}
        self.total: int | None = None
        self.partition_field: str | None = None

    @property
    def reached(self) -> int:
        return len(self._seen)

    @property
    def unreached(self) -> int:
        return max(0, (self.total or 0) - self.reached)

    def items(self) -> Iterator[dict[str, t.Any]]:
        yield from self._window({})
        if not self.unreached:
            return
        field, values = self._choose_partition()
        if field is None:
            return
        self.partition_field = field
        for value in values:
            yield from self._window({"query": value, "field": field})

    def _page(self, params: dict[str, t.Any], order: str, skip: int, count: int) -> tuple[list[t.Any], int]:
        """One page and the number of items its query matches."""
        page = self._fetch({**params, "order": order, "skip": skip, "count": count})
        data = page.get("data")
        if not isinstance(data, list):
            raise ValueError("the items page has no `data` list")
        total = page.get("total")
        if isinstance(total, int):
            self.total = total
        matched = page.get("matched")
        if not isinstance(matched, int):
            matched = total if isinstance(total, int) else skip + len(data)
        return data, matched

    def _window(self, params: dict[str, t.Any]) -> Iterator[dict[str, t.Any]]:
        """The items matching `params` that the reach allows: from the start, then from the end."""
        from_start: set[int] = set()
        skip = 0
        while True:
            data, matched = self._page(params, "item_id asc", skip, REACH - skip)
            for item in data:
                from_start.add(_item_hash(item))
                yield from self._new(item)
            skip += len(data)
            if not data or skip >= matched or skip >= REACH:
                break
        remaining = matched - skip
        skip = 0
        while remaining > 0 and skip < REACH:
            data, _ = self._page(params, "item_id desc", skip, min(REACH - skip, remaining))
            if not data:
                break
            for item in data:
                if _item_hash(item) in from_start:  # the two sides met
                    return
                yield from self._new(item)
                remaining -= 1
            skip += len(data)

    def _new(self, item: t.Any) -> Iterator[dict[str, t.Any]]:
        if not isinstance(item, dict) or item.get("item_id") is None:
            raise ValueError(f"a catalog item without `item_id`: {str(item)[:200]}")
        key = _item_hash(item)
        if key in self._seen:
            return
        self._seen.add(key)
        self._note_values(item.get("properties"))
        yield item

    def _note_values(self, properties: t.Any) -> None:
        if not isinstance(properties, dict):
            return
        for name, value in properties.items():
            if not isinstance(value, str) or not value.strip() or len(value) > _MAX_VALUE_LENGTH:
                continue
            values = self._values.setdefault(name, set())
            if values is None:
                continue
            values.add(value)
            if len(values) > MAX_PARTITION_VALUES:
                self._values[name] = None  # too many values to be a useful partition

    def _choose_partition(self) -> tuple[str | None, list[str]]:
        searchable = self._searchable_fields()
        candidates = sorted(
            (name for name, values in self._values.items()
             if values and (searchable is None or name in searchable)),
            key=lambda name: len(self._values[name] or ()),
        )
        best: tuple[str | None, list[str], int] = (None, [], 0)
        for name in candidates:
            values = sorted(self._values[name] or ())
            counts = {value: self._page({"query": value, "field": name}, "item_id asc", 0, 1)[1]
                      for value in values}
            useful = [value for value in values if counts[value]]
            coverage = sum(min(counts[value], 2 * REACH) for value in useful)
            if coverage > best[2]:
                best = (name, useful, coverage)
            if sum(counts.values()) >= (self.total or 0) and max(counts.values(), default=0) <= 2 * REACH:
                break  # this field's values cover the catalog within reach
        return best[0], best[1]


def _item_hash(item: dict[str, t.Any]) -> int:
    return hash(str(item.get("item_id")))
