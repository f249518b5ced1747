"""Pages fetched ahead (`max_concurrent_requests`) against the emulator: records in page order, the scan
ending at the first short page, retries per page, Cordial's rate-limit headers honoured before sending,
and a page refused deep into a scan naming the settings that narrow it."""

from __future__ import annotations

import pytest

from tests.cordial.support import CordialSandbox, ids, run


def _contact_ids(box: CordialSandbox, count: int) -> list[str]:
    return [box.emulator.data.contact(index)["_id"] for index in range(count)]


def _contact_pages(box: CordialSandbox) -> list[dict]:
    return box.emulator.logged_requests("GET", "/v2/contacts")


def test_contacts_fetched_ahead_arrive_in_page_order(cordial):
    box = cordial(scale=430)  # 8 full pages of 50, then a short one
    ahead = run(box.config(max_concurrent_requests=4), "contacts")
    requested_ahead = len(_contact_pages(box))
    box.emulator.request_log.clear()
    one_at_a_time = run(box.config(max_concurrent_requests=1), "contacts")

    assert ahead.returncode == 0, ahead.stderr[-2000:]
    assert ids(ahead.records("contacts")) == _contact_ids(box, 430)
    assert ids(one_at_a_time.records("contacts")) == ids(ahead.records("contacts"))
    assert len(_contact_pages(box)) == 9, "one at a time: exactly the pages there are"
    # The short ninth page ends the scan; at most 3 pages past it were already in flight.
    assert 9 <= requested_ahead <= 12


def test_scan_ends_at_the_first_empty_page_and_discards_what_was_fetched_past_it(cordial):
    box = cordial(scale=150)  # 3 full pages, then an empty one
    result = run(box.config(max_concurrent_requests=4), "contacts")

    assert result.returncode == 0, result.stderr[-2000:]
    assert ids(result.records("contacts")) == _contact_ids(box, 150)
    pages = sorted(int(entry["query"]["page"]) for entry in _contact_pages(box))
    assert pages[:4] == [1, 2, 3, 4]
    assert len(pages) <= 7 and len(set(pages)) == len(pages), "each page once, and none past page 7"


def test_failed_pages_are_retried_under_concurrency_without_losing_order(cordial):
    box = cordial(scale=400)
    box.admin.faults({"kind": "status", "status": 503, "path": "/v2/contacts", "times": 3})
    result = run(box.config(max_concurrent_requests=4), "contacts")

    assert result.returncode == 0, result.stderr[-2000:]
    assert ids(result.records("contacts")) == _contact_ids(box, 400)
    assert "failed (try 1 of" in result.stderr


def test_orders_pages_are_fetched_ahead_within_each_capped_query(cordial):
    box = cordial(scale=20, orders=12_500)
    result = run(box.config(page_size=2500, max_concurrent_requests=4), "orders")

    assert result.returncode == 0, result.stderr[-2000:]
    order_ids = ids(result.records("orders"), "orderID")
    assert order_ids == [box.emulator.data.order(index)["orderID"] for index in range(12_500)]
    queries = [entry["query"] for entry in box.emulator.logged_requests("GET", "/v2/orders")]
    first = [q for q in queries if "purchaseDate[gte]" not in q]
    second = [q for q in queries if "purchaseDate[gte]" in q]
    assert sorted(int(q["page"]) for q in first)[:4] == [1, 2, 3, 4]
    assert second and {q["purchaseDate[gte]"] for q in second} == {second[0]["purchaseDate[gte]"]}

    one_at_a_time = run(box.config(page_size=2500, max_concurrent_requests=1), "orders")
    assert ids(one_at_a_time.records("orders"), "orderID") == order_ids


@pytest.mark.parametrize(("in_flight", "limit"), [(1, 3), (4, 6)])
def test_a_spent_rate_limit_is_waited_out_before_sending(cordial, in_flight: int, limit: int):
    # With 4 in flight the limit must exceed 4: the first 4 leave before any answer says what is left.
    box = cordial(scale=300, rate_limit={"limit": limit, "period": 1})
    result = run(box.config(max_concurrent_requests=in_flight), "contacts")

    assert result.returncode == 0, result.stderr[-2000:]
    assert ids(result.records("contacts")) == _contact_ids(box, 300)
    statuses = [entry["status"] for entry in _contact_pages(box)]
    assert len(statuses) >= 7
    assert 429 not in statuses, "the quota X-Rate-Limit-Remaining announced was spent, then the reset awaited"


def test_page_refused_deep_into_the_scan_names_the_depth_and_the_setting(cordial):
    box = cordial(scale=300, max_page_depth=100)
    result = run(box.config(max_concurrent_requests=1), "contacts")

    assert result.returncode != 0
    assert "The page is out of range" in result.stderr, "Cordial's own words"
    assert "page 3 reached" in result.stderr
    assert "Narrow the scan with `sync_mode`" in result.stderr
