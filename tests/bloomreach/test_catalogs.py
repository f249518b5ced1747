"""Catalogs and their items, read around the `count + skip <= 1001` rule of the items endpoint."""

from __future__ import annotations

from collections import Counter

import requests

from tests.bloomreach.conftest import KEY_ID, PROJECT_PATH, SECRET, sync, tap_config
from tests.support import Admin

ITEMS_ROUTE = "GET /data/v2/projects/(?P<token>[^/]+)/catalogs/(?P<catalog_id>[^/]+)/items"
LARGE_CATALOGS = [
    # 1500 items: more than one query reaches, fewer than both ends of item_id order reach.
    {"id": "c-two-ends", "name": "two ends", "item_prefix": "t", "size": 1500, "categories": 8},
    # 6000 items: only partitions (one query per brand) reach them all.
    {"id": "c-partitioned", "name": "partitioned", "item_prefix": "p", "size": 6000, "categories": 12, "brands": 5},
    # 2500 items and no field with repeating values: 498 cannot be reached at all.
    {"id": "c-unreachable", "name": "unreachable", "item_prefix": "u", "size": 2500},
]


def test_catalogs_larger_than_one_query_reaches_are_read_whole_or_the_shortfall_is_counted(bloomreach):
    server = bloomreach(scale=3, catalogs=LARGE_CATALOGS)
    run = sync(tap_config(server), "catalogs", "catalog_items")
    assert run.returncode == 0, run.stderr
    items = run.records("catalog_items")
    assert len({(i["catalog_id"], i["item_id"]) for i in items}) == len(items)  # no item twice
    per_catalog = Counter(i["catalog_id"] for i in items)
    assert per_catalog == {"c-two-ends": 1500, "c-partitioned": 6000, "c-unreachable": 2002}
    assert {i["item_id"] for i in items if i["catalog_id"] == "c-partitioned"} == {f"p-{n:06d}" for n in range(6000)}
    shortfall = "catalog c-unreachable has 2500 items, of which 2002 could be read and 498 could not be reached"
    assert shortfall in run.stderr
    assert "catalog c-partitioned (6000 items) was read whole by partitioning it on `brand`" in run.stderr
    sample = next(i for i in items if i["item_id"] == "t-000007")
    assert set(sample["properties"]) == {"title", "category", "price", "in_stock"}
    assert sample["catalog_id"] == "c-two-ends"


def test_small_catalogs_take_one_request_each(bloomreach):
    server = bloomreach(scale=3)
    admin = Admin(server.base_url)
    run = sync(tap_config(server), "catalogs", "catalog_items")
    assert run.returncode == 0, run.stderr
    assert {c["name"] for c in run.records("catalogs")} == {"products", "stores"}
    assert Counter(i["catalog_id"] for i in run.records("catalog_items")) == {
        "5b69de5bc0e6a1000e7f0b51": 60, "5b69de5bc0e6a1000e7f0b52": 12}
    assert admin.requests_by_route()[ITEMS_ROUTE] == 2


def test_catalog_ids_select_catalogs_and_an_unknown_id_names_the_setting(bloomreach):
    server = bloomreach(scale=3)
    stores = "5b69de5bc0e6a1000e7f0b52"
    run = sync(tap_config(server, catalog_ids=[stores]), "catalogs", "catalog_items")
    assert run.returncode == 0, run.stderr
    assert [c["id"] for c in run.records("catalogs")] == [stores]
    assert {i["catalog_id"] for i in run.records("catalog_items")} == {stores}

    missing = sync(tap_config(server, catalog_ids=[stores, "not-a-catalog"]), "catalogs", "catalog_items")
    assert missing.returncode != 0
    assert "Setting `catalog_ids` lists not-a-catalog, which this project does not have" in missing.stderr


def test_emulator_refuses_count_plus_skip_beyond_1001(bloomreach):
    server = bloomreach(scale=3)
    url = f"{server.base_url}{PROJECT_PATH}/catalogs/5b69de5bc0e6a1000e7f0b51/items"
    allowed = requests.get(url, params={"count": 1, "skip": 1000}, auth=(KEY_ID, SECRET), timeout=10)
    refused = requests.get(url, params={"count": 2, "skip": 1000}, auth=(KEY_ID, SECRET), timeout=10)
    assert allowed.status_code == 200
    assert allowed.json()["data"] == [] and allowed.json()["total"] == 60
    assert refused.status_code == 400
    assert refused.json() == {"success": False, "errors": ["count + skip must not exceed 1001"]}


DEEP_CATALOG = [{"id": "c-deep", "name": "deep", "item_prefix": "d", "size": 300}]


def test_a_server_answering_short_pages_is_paged_on_by_skip_in_item_order(bloomreach):
    server = bloomreach(scale=3, catalogs=DEEP_CATALOG, items_page_cap=70)
    admin = Admin(server.base_url)
    run = sync(tap_config(server), "catalogs", "catalog_items")
    assert run.returncode == 0, run.stderr
    assert [i["item_id"] for i in run.records("catalog_items")] == [f"d-{n:06d}" for n in range(300)]
    assert admin.requests_by_route()[ITEMS_ROUTE] == 5  # skip 0, 70, 140, 210, 280: one request per page


def test_a_page_refused_deep_into_a_catalog_names_the_skip_reached_and_the_setting_that_narrows_it(bloomreach):
    server = bloomreach(scale=3, catalogs=DEEP_CATALOG, items_page_cap=50, items_max_skip=100)
    run = sync(tap_config(server), "catalogs", "catalog_items")
    assert run.returncode != 0
    assert "failed with HTTP 400: skip must not exceed 100" in run.stderr
    assert "The API refused a page deep into the scan (skip 150 reached)" in run.stderr
    assert "Narrow the scan with `catalog_ids`" in run.stderr
