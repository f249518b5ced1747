"""Consent categories, segmentation results, and the connection check that uses consent categories."""

from __future__ import annotations

from tests.bloomreach.conftest import SECRETS, SEGMENTATION_ID, sync, tap_config
from tests.support import Admin, assert_no_secrets, run_tap

LIFECYCLE_ID = "5f3a1c2b9d8e7f6a5b4c3d2e"


def test_consent_categories_are_exported_by_id(bloomreach):
    server = bloomreach(scale=3)
    run = sync(tap_config(server), "consent_categories")
    assert run.returncode == 0, run.stderr
    categories = {c["id"]: c for c in run.records("consent_categories")}
    assert set(categories) == {"newsletter", "sms", "personalisation"}
    assert categories["newsletter"]["translations"][""]["name"] == "Newsletter"
    assert categories["personalisation"]["legitimate_interest"] is True
    assert run.schema("consent_categories")["properties"]["id"]["type"] == ["string"]


def test_segmentation_results_give_one_record_per_segment_of_each_analysis(bloomreach):
    server = bloomreach(scale=50)
    run = sync(tap_config(server, analysis_ids=[SEGMENTATION_ID, LIFECYCLE_ID]), "segmentation_results")
    assert run.returncode == 0, run.stderr
    records = run.records("segmentation_results")
    assert [(r["analysis_id"], r["segment_index"], r["segment"]) for r in records] == [
        (SEGMENTATION_ID, 0, "online buyers"), (SEGMENTATION_ID, 1, "offline buyers"),
        (SEGMENTATION_ID, 2, "window shoppers"),
        (LIFECYCLE_ID, 0, "new"), (LIFECYCLE_ID, 1, "active"), (LIFECYCLE_ID, 2, "lapsed"),
    ]
    sizes = server.emulator.data.segment_sizes(SEGMENTATION_ID)
    assert [r["customers"] for r in records[:3]] == sizes
    assert records[0]["analysis_name"] == "buyers by source"
    assert set(records[0]["metrics"]) == {"count(purchase)", "avg(purchase.total_price)"}


def test_segmentation_results_without_analysis_ids_sends_no_request(bloomreach):
    server = bloomreach(scale=3)
    admin = Admin(server.base_url)
    run = sync(tap_config(server), "segmentation_results")
    assert run.returncode == 0, run.stderr
    assert run.records("segmentation_results") == []
    assert admin.request_count() == 1  # the in-process discovery's customers sample only


def test_connection_check_reads_only_consent_categories(bloomreach):
    server = bloomreach(scale=3)
    admin = Admin(server.base_url)
    run = run_tap("tap-bloomreach", tap_config(server), extra_args=["--test"])
    assert run.returncode == 0, run.stderr
    assert admin.requests_by_route() == {"GET /data/v2/projects/(?P<token>[^/]+)/consent/categories": 1}


def test_connection_check_with_a_wrong_secret_fails_naming_the_setting(bloomreach):
    server = bloomreach(scale=3)
    wrong = "a-wrong-secret-5f1c"
    run = run_tap("tap-bloomreach", tap_config(server, api_secret=wrong), extra_args=["--test"])
    assert run.returncode != 0
    assert "HTTP 403: invalid secret" in run.stderr and "Check `api_secret`" in run.stderr
    assert_no_secrets(run.stderr, [*SECRETS, wrong])
