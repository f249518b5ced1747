"""The list streams against the emulator: paging, the orders cap, time paging, increments, errors."""

from __future__ import annotations

from tests.cordial.support import API_KEY, CordialSandbox, ids, run
from tests.support import discover


def test_orders_beyond_the_10000_record_query_cap_are_all_read(cordial):
    box = cordial(scale=20, orders=12_500)
    result = run(box.config(page_size=2500), "orders")

    assert result.returncode == 0, result.stderr[-2000:]
    order_ids = ids(result.records("orders"), "orderID")
    assert len(order_ids) == 12_500 and len(set(order_ids)) == 12_500
    dates = [r["purchaseDate"] for r in result.records("orders")]
    assert dates == sorted(dates)
    # The fifth page reached the cap, so a second query started at the last purchase date seen.
    assert result.last_state["bookmarks"]["orders"]["replication_key_value"] == dates[-1]


def test_activities_paged_by_time_lose_nothing_where_events_share_a_second(cordial):
    box = cordial(scale=20, activities=100)
    result = run(box.config(page_size=7), "contact_activities")  # 3 events per second: ties at boundaries

    assert result.returncode == 0, result.stderr[-2000:]
    activity_ids = ids(result.records("contact_activities"))
    assert len(activity_ids) == 100 and len(set(activity_ids)) == 100


def test_page_full_of_one_second_grows_the_page_instead_of_looping(cordial):
    box = cordial(scale=20, activities=30)
    result = run(box.config(page_size=2), "contact_activities")  # 3 per second > 2 per page

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(set(ids(result.records("contact_activities")))) == 30


def test_incremental_rerun_reads_only_new_activities_orders_and_jobs(cordial):
    box = cordial(scale=20, activities=60, orders=40)
    config = box.config(page_size=10)
    first = run(config, "contact_activities", "orders", "jobs")
    assert first.returncode == 0, first.stderr[-2000:]
    old_activities = set(ids(first.records("contact_activities")))
    old_orders = set(ids(first.records("orders"), "orderID"))

    box.admin.settings(activities=90, orders=50)
    second = run(config, "contact_activities", "orders", "jobs", state=first.last_state)

    assert second.returncode == 0, second.stderr[-2000:]
    new_activities = set(ids(second.records("contact_activities")))
    new_orders = set(ids(second.records("orders"), "orderID"))
    assert len(new_activities - old_activities) == 30
    assert len(new_activities & old_activities) <= 3  # only the bookmark's own second is read again
    assert len(new_orders - old_orders) == 10
    assert len(new_orders & old_orders) <= 2
    assert len(second.records("jobs")) <= 1  # the job at the bookmark at most


def test_404_record_not_found_ends_a_list_instead_of_failing(cordial):
    box = cordial(scale=40, past_end_404=True)
    result = run(box.config(page_size=10), "contacts", "products")  # 40 contacts: page 5 answers 404

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.records("contacts")) == 40
    assert len(result.records("products")) == 20


def test_contacts_schema_follows_account_attributes_on_rediscovery(sandbox: CordialSandbox):
    def contact_properties() -> dict:
        catalog = discover("tap-cordial", sandbox.config())
        entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "contacts")
        return entry["schema"]["properties"]

    before = contact_properties()
    assert before["loyalty_points"]["type"] == ["number", "null"]
    assert before["birthday"]["format"] == "date-time"
    assert "shoe_size" not in before

    sandbox.admin.settings(extra_contact_attributes=[{"key": "shoe_size", "type": "number"}])
    assert contact_properties()["shoe_size"]["type"] == ["number", "null"]
    result = run(sandbox.config(), "contacts")
    assert result.returncode == 0, result.stderr[-2000:]
    assert any(isinstance(r.get("shoe_size"), int | float) for r in result.records("contacts"))


def test_timestamps_come_out_rfc3339_and_php_empty_maps_as_objects(sandbox: CordialSandbox):
    result = run(sandbox.config(), "contacts", "products", "contact_activities")

    assert result.returncode == 0, result.stderr[-2000:]
    contact = result.records("contacts")[0]
    assert contact["createdAt"].endswith("+00:00")
    assert "lj" not in contact
    assert all(isinstance(r["listJoinDate"], dict) for r in result.records("contacts"))
    assert all(isinstance(v["attr"], dict) for r in result.records("products") for v in r["variants"])
    assert all(isinstance(r["properties"], dict) for r in result.records("contact_activities"))


def test_supplement_records_are_read_for_each_supplement(sandbox: CordialSandbox):
    result = run(sandbox.config(page_size=3), "supplements", "supplement_records")

    assert result.returncode == 0, result.stderr[-2000:]
    keys = {(r["supplement_key"], r["id"]) for r in result.records("supplement_records")}
    assert {k for k, _ in keys} == {"cars", "stores"}
    assert len(keys) == 2 * 7  # scale 30 / 4 per supplement


def test_bad_key_says_to_check_the_key_and_its_ip_allow_list(sandbox: CordialSandbox):
    result = run(sandbox.config(api_key="not-the-key-1234"), "products", catalog={"streams": []})

    assert result.returncode != 0
    assert "401" in result.stderr and "IP allow-list" in result.stderr and "api_key" in result.stderr
    assert "Access Denied: Authentication Failure" in result.stderr
    assert "not-the-key-1234" not in result.stderr


def test_address_outside_the_keys_allow_list_gets_the_same_advice(cordial):
    box = cordial(scale=10, allowed_ips=["10.0.0.0/8"])
    result = run(box.config(), "products", catalog={"streams": []})

    assert result.returncode != 0
    assert "IP allow-list" in result.stderr
    assert API_KEY not in result.stderr


def test_429_waits_as_long_as_x_rate_limit_reset_says(sandbox: CordialSandbox):
    sandbox.admin.faults({"kind": "status", "status": 429, "path": "/v2/products", "times": 2,
                          "headers": {"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "0",
                                      "X-Rate-Limit-Reset": "1"}})
    # One page at a time: with pages ahead, a fault could land on a page past the end, which is discarded.
    result = run(sandbox.config(max_concurrent_requests=1), "products")

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.records("products")) == 15
    assert result.stderr.count("HTTP 429 Too Many Requests; retrying in 1.0 s") == 2


def test_rate_limited_account_still_completes_the_sync(cordial):
    box = cordial(scale=30, rate_limit={"limit": 2, "period": 1})
    result = run(box.config(page_size=5), "products")

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.records("products")) == 15
    assert "HTTP 429" in result.stderr


def test_dropped_connection_mid_page_is_retried(sandbox: CordialSandbox):
    sandbox.admin.faults({"kind": "drop", "path": "/v2/contacts", "after_bytes": 300})
    result = run(sandbox.config(), "contacts")

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.records("contacts")) == 30


def test_validation_error_with_plural_messages_is_reported_in_vendors_words(sandbox: CordialSandbox):
    body = '{"error":true,"messages":{"validationErrors":{"per_page":["The per page must be a number."]}}}'
    sandbox.admin.faults({"kind": "status", "status": 422, "path": "/v2/products", "body": body})
    result = run(sandbox.config(max_concurrent_requests=1), "products")  # the fault lands on the one page

    assert result.returncode != 0
    assert "The per page must be a number." in result.stderr


def test_a_page_garbled_once_is_fetched_again(sandbox: CordialSandbox):
    sandbox.admin.faults({"kind": "corrupt", "path": "/v2/products", "after_bytes": 0, "payload": "{oops"})
    result = run(sandbox.config(max_concurrent_requests=1), "products")

    assert result.returncode == 0, result.stderr
    assert len(result.records("products")) == 15
    assert sandbox.admin.requests_by_route()["GET /v2/products"] == 2, "the one page, then the same page again"


def test_a_page_that_stays_malformed_fails_naming_the_stream(sandbox: CordialSandbox):
    sandbox.admin.faults({"kind": "corrupt", "path": "/v2/products", "after_bytes": 0, "payload": "{oops",
                          "times": -1})
    result = run(sandbox.config(max_retries=1), "products")

    assert result.returncode != 0
    assert "products" in result.stderr and "not valid JSON" in result.stderr
