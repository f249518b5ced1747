"""tap-evergage behaviour against its emulator: paging, partitions, types, errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import requests
from marketing_tapkit.errors import vendor_message
from tap_evergage.client import attributes_as_object

from sandbox.evergage import EvergageEmulator
from tests.support import Admin, discover, run_tap, select_streams

CREDENTIALS = {"api_key_id": "sandbox-api-key-id", "api_secret_key": "sandbox-api-secret-key-0f6c2b"}
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def config_for(base_url: str, **extra: object) -> dict:
    return {"api_url": base_url, **CREDENTIALS, "datasets": ["engage"], **extra}


def sync(base_url: str, *streams: str, **extra: object):  # type: ignore[no-untyped-def]
    """Discover, then sync `streams`; the emulator's request counts start after the discovery."""
    config = config_for(base_url, **extra)
    catalog = select_streams(discover("tap-evergage", config), *streams)
    Admin(base_url).reset()
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    return run


def test_exact_multiple_of_page_size_ends_on_the_empty_page(emulator) -> None:
    server = emulator("evergage", scale=20, duplicates=[])
    admin = Admin(server.base_url)
    # One page at a time: with pages fetched ahead, pages past the end are asked for (and discarded).
    run = sync(server.base_url, "users", page_size=10, max_concurrent_requests=1)
    assert len(run.records("users")) == 20
    assert admin.requests_by_route() == {r"GET /api/dataset/(?P<ref>[^/]+)/users\.(?P<fmt>json|csv)": 3}


def test_short_last_page_ends_the_export_without_another_request(emulator) -> None:
    server = emulator("evergage", scale=25, duplicates=[])
    admin = Admin(server.base_url)
    run = sync(server.base_url, "users", page_size=10, max_concurrent_requests=1)
    assert len(run.records("users")) == 25
    assert admin.request_count() == 3


def test_empty_dataset_yields_no_records_and_no_error(emulator) -> None:
    server = emulator("evergage", scale=0)
    run = sync(server.base_url, "users")
    assert run.records("users") == []


def test_duplicate_across_a_page_boundary_is_emitted_in_order_and_counted(emulator) -> None:
    # User 9 changes during the download and is served again right after user 10, on the next page.
    server = emulator("evergage", scale=20, duplicates=[9])
    run = sync(server.base_url, "users", page_size=10)
    names = [r["name"] for r in run.records("users")]
    assert len(names) == 21 and len(set(names)) == 20
    copies = [r for r in run.records("users") if r["name"] == names[9]]
    assert copies[1]["lastActivity"] > copies[0]["lastActivity"], "the later copy is the current one"
    assert "1 of 21 records were a second copy" in run.stderr


def test_each_dataset_is_a_partition_with_its_own_records(emulator) -> None:
    server = emulator("evergage", scale=12, duplicates=[])
    run = sync(server.base_url, "users", datasets=["engage", "dsMob02"])  # by name and by id
    by_dataset: dict[str, int] = {}
    for record in run.records("users"):
        by_dataset[record["dataset"]] = by_dataset.get(record["dataset"], 0) + 1
    assert by_dataset == {"engage": 12, "dsMob02": 25}


def test_segment_members_are_partitioned_by_dataset_and_segment(emulator) -> None:
    server = emulator("evergage", scale=60, duplicates=[])
    emulated = EvergageEmulator(scale=60, duplicates=[])
    run = sync(server.base_url, "segment_members", segments=["High Value", "sgCR002"], datasets=["engage"])
    members = run.records("segment_members")
    for segment_ref, segment in (("High Value", emulated.settings["segments"][0]),
                                 ("sgCR002", emulated.settings["segments"][1])):
        expected = {
            emulated.data.user("engage", i)["name"] for i in range(60)
            if emulated.data.is_member("engage", segment, i)
        }
        got = {m["name"] for m in members if m["segment"] == segment_ref}
        assert got == expected
    assert all(m["segmentJoined"].endswith("+00:00") for m in members)
    assert all(isinstance(m["segmentInputValues"], dict) for m in members)


def test_epoch_milliseconds_become_utc_date_times(emulator) -> None:
    server = emulator("evergage", scale=3, duplicates=[])
    run = sync(server.base_url, "users")
    raw = EvergageEmulator(scale=3).data.user("engage", 0)
    first = run.records("users")[0]
    assert first["firstActivity"].startswith("20") and first["firstActivity"].endswith("+00:00")
    assert datetime.fromisoformat(first["firstActivity"]).timestamp() * 1000 == pytest.approx(raw["firstActivity"])
    schema = run.schema("users")["properties"]
    assert schema["lastActivity"]["format"] == "date-time"
    assert schema["attributes"]["additionalProperties"] is True


def test_custom_attributes_and_unknown_keys_are_kept(emulator) -> None:
    server = emulator("evergage", scale=3, extra_attributes=["loyaltyId"])
    run = sync(server.base_url, "users", include_geo=True)
    record = run.records("users")[0]
    assert record["attributes"]["loyaltyId"] == "loyaltyId-0"
    assert set(record["location"]) == {"deviceProvided", "longlat", "timeZone"}
    assert run.schema("users")["additionalProperties"] is True


def test_wrong_secret_fails_with_the_usual_causes(emulator) -> None:
    server = emulator("evergage", scale=3)
    config = config_for(server.base_url, api_secret_key="not-the-secret")
    run = run_tap("tap-evergage", config)
    assert run.returncode != 0
    for cause in ("HTTP 401", "`api_key_id` or `api_secret_key`", "Can access API", "IP accept list"):
        assert cause in run.stderr


def test_dataset_restricted_token_is_403_with_the_same_guidance(emulator) -> None:
    server = emulator("evergage", scale=3, restricted_datasets=["mobile"])
    run = run_tap("tap-evergage", config_for(server.base_url, datasets=["mobile"]))
    assert run.returncode != 0
    assert "HTTP 403" in run.stderr and "restricted to other datasets" in run.stderr


def test_unknown_dataset_names_the_setting(emulator) -> None:
    server = emulator("evergage", scale=3)
    run = run_tap("tap-evergage", config_for(server.base_url, datasets=["nope"]))
    assert run.returncode != 0
    assert "HTTP 404" in run.stderr and "`datasets`" in run.stderr


def test_non_json_error_bodies_are_reported_verbatim(emulator) -> None:
    server = emulator("evergage", scale=3, error_format="text")
    run = run_tap("tap-evergage", config_for(server.base_url, datasets=["nope"]))
    assert run.returncode != 0
    assert "HTTP 404: Dataset nope not found" in run.stderr


def test_retired_accounts_404_is_a_warning_not_a_failure(emulator) -> None:
    server = emulator("evergage", scale=3, accounts_mode="404")
    run = sync(server.base_url, "accounts")
    assert run.records("accounts") == []
    assert "Account Profiles were retired" in run.stderr


def test_accounts_are_exported_where_a_tenant_still_has_them(emulator) -> None:
    server = emulator("evergage", scale=50, accounts_mode="data")
    run = sync(server.base_url, "accounts")
    assert len(run.records("accounts")) == 5
    assert run.records("accounts")[0]["accountStatus"] in {"active", "trial", "churned"}


def test_accounts_are_not_selected_by_default(emulator) -> None:
    server = emulator("evergage", scale=3)
    catalog = discover("tap-evergage", config_for(server.base_url))
    accounts = next(s for s in catalog["streams"] if s["tap_stream_id"] == "accounts")
    root = next(m for m in accounts["metadata"] if m["breadcrumb"] == [])
    assert root["metadata"]["selected-by-default"] is False


def test_audit_events_stay_inside_the_50_day_window_and_resume_from_the_bookmark(emulator) -> None:
    server = emulator("evergage", audit_events=120)
    first = sync(server.base_url, "audit_events", start_date="2020-01-01T00:00:00Z")
    events = first.records("audit_events")
    assert 90 <= len(events) <= 101  # 60 days of events, of which the API reaches the last 50
    assert "more than 50 days old" in first.stderr
    bookmark = first.last_state["bookmarks"]["audit_events"]["replication_key_value"]
    assert bookmark == max(e["timestamp"] for e in events)
    config = config_for(server.base_url)
    second = run_tap("tap-evergage", config, state=first.last_state,
                     catalog=select_streams(discover("tap-evergage", config), "audit_events"))
    assert second.returncode == 0, second.stderr
    assert [e["timestamp"] for e in second.records("audit_events")] == [bookmark]  # the SDK re-reads >= bookmark


def test_segment_members_without_segments_exports_nothing(emulator) -> None:
    server = emulator("evergage", scale=3)
    run = sync(server.base_url, "segment_members")
    assert run.records("segment_members") == []
    assert "`segments` setting is empty" in run.stderr


def test_attribute_lists_of_the_lookup_shape_become_objects() -> None:
    """The single-user shape (fixture user_lookup_get_example_truncated.txt) has attributes as a list."""
    text = (FIXTURES / "user_lookup_get_example_truncated.txt").read_text()
    assert 'attributes: [{name: "oneSignalClickthroughRate", value: 0, updated: 1541190782448}]' in text
    assert attributes_as_object([{"name": "oneSignalClickthroughRate", "value": 0, "updated": 1541190782448}]) == {
        "oneSignalClickthroughRate": 0
    }


def test_discovery_declares_the_custom_attributes_it_samples(emulator) -> None:
    server = emulator("evergage", scale=5, extra_attributes=["loyaltyId"])
    catalog = discover("tap-evergage", config_for(server.base_url))
    users = next(s for s in catalog["streams"] if s["tap_stream_id"] == "users")
    attributes = users["schema"]["properties"]["attributes"]
    assert set(attributes["properties"]) == {"favoriteCategory", "newsletter", "tier", "loyaltyId"}
    assert attributes["additionalProperties"] is True, "attributes added later are still kept"


def test_discovery_sample_is_retried_under_the_run_policy(emulator) -> None:
    server = emulator("evergage", scale=5, extra_attributes=["loyaltyId"])
    Admin(server.base_url).faults({"kind": "status", "status": 503, "path": r"/users\.json"})
    catalog = discover("tap-evergage", config_for(server.base_url))
    users = next(s for s in catalog["streams"] if s["tap_stream_id"] == "users")
    assert "loyaltyId" in users["schema"]["properties"]["attributes"]["properties"]
    assert Admin(server.base_url).pending_faults() == [], "the fault was not hit"


def test_discovery_without_a_reachable_api_still_offers_open_attributes() -> None:
    # The sample follows the run's retry policy (`max_retries`); none here, to fail fast.
    config = {"api_url": "http://127.0.0.1:9", **CREDENTIALS, "request_timeout": 2, "max_retries": 0}
    catalog = discover("tap-evergage", config)
    users = next(s for s in catalog["streams"] if s["tap_stream_id"] == "users")
    assert users["schema"]["properties"]["attributes"]["additionalProperties"] is True


@pytest.mark.parametrize("fixture", ["users_delete_post_deleted0.txt", "users_delete_post_deleted3.txt"])
def test_plain_text_bodies_are_read_as_the_vendors_message(fixture: str) -> None:

    response = requests.Response()
    response.status_code = 400
    response._content = (FIXTURES / fixture).read_bytes()
    assert vendor_message(response).startswith("Deleted ")


def test_a_deselected_property_is_left_out_of_every_record(emulator) -> None:
    """With nothing deselected the kit skips the SDK's per-record selection walk; with one, it must not."""
    server = emulator("evergage", scale=5)
    config = config_for(server.base_url)
    catalog = select_streams(discover("tap-evergage", config), "users")
    users = next(s for s in catalog["streams"] if s["tap_stream_id"] == "users")
    for item in users["metadata"]:
        if item["breadcrumb"] == ["properties", "displayName"]:
            item["metadata"]["selected"] = False
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    records = run.records("users")
    assert records and all("displayName" not in r for r in records)
    assert all("emailAddress" in r for r in records)
