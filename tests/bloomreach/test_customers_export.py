"""The customers export: every format, typed columns, keys, attribute selection, segment filters, schema
evolution, timeouts and what the stream claims when it completes."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.bloomreach.conftest import SEGMENTATION_ID, catalog_for, export_requests, message_types, sync, tap_config
from tests.support import Admin

SCALE = 40


def _sha256_key(identity: dict) -> str:
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize("export_format", ["native_json", "table_json", "csv"])
def test_every_export_format_yields_every_customer_with_soft_ids_as_lists(bloomreach, export_format):
    server = bloomreach(scale=SCALE)
    config = tap_config(server, export_format=export_format)
    run = sync(config, "customers")
    assert run.returncode == 0, run.stderr
    records = run.records("customers")
    data = server.emulator.data
    assert len(records) == SCALE
    assert len({r["customer_key"] for r in records}) == SCALE
    by_key = {r["customer_key"]: r for r in records}
    for index in range(SCALE):
        ids, properties = data.customer(index)
        if "registered" in ids:
            record = by_key[ids["registered"]]
            assert record["registered"] == ids["registered"]
        else:  # anonymous: keyed by a hash, and its registered id is empty
            record = next(r for r in records if r["cookie"] == ids["cookie"])
            assert record["customer_key"].startswith("sha256:")
            assert record["registered"] is None
        assert record["cookie"] == ids["cookie"]  # a soft id stays a list, in every format
        assert record["first_name"] == properties["first_name"]
        if export_format == "csv":  # CSV carries no types: text, as the export wrote it
            assert record["birth_year"] == str(properties["birth_year"])
        else:
            assert record["birth_year"] == properties["birth_year"]
            assert record["vip"] is properties["vip"]
            assert record["total_spent"] == pytest.approx(properties["total_spent"])
    schema = run.schema("customers")["properties"]
    assert schema["cookie"]["type"] == ["array", "null"]
    expected_year_type = ["string", "null"] if export_format == "csv" else ["integer", "null"]
    assert schema["birth_year"]["type"] == expected_year_type


def test_native_json_types_columns_and_keys_anonymous_customers_by_their_ids(bloomreach):
    server = bloomreach(scale=SCALE)
    run = sync(tap_config(server, export_format="native_json"), "customers")
    assert run.returncode == 0, run.stderr
    schema = run.schema("customers")["properties"]
    # The hard id `email` and the property `email` both exist: the later column is renamed by its type.
    assert schema["email"]["description"] == "Customer id `email`."
    assert schema["email__property"]["description"] == "Customer property `email`."
    assert schema["total_spent"]["type"] == ["number", "null"]
    assert schema["vip"]["type"] == ["boolean", "null"]
    anonymous_ids, _ = server.emulator.data.customer(3)
    expected = _sha256_key({"cookie": sorted(anonymous_ids["cookie"])})
    assert expected in {r["customer_key"] for r in run.records("customers")}


def test_qualified_table_json_header_is_read_as_typed_columns(bloomreach):
    server = bloomreach(scale=10, table_header="qualified")
    run = sync(tap_config(server), "customers")
    assert run.returncode == 0, run.stderr
    schema = run.schema("customers")["properties"]
    assert {"registered", "cookie", "email", "email__property", "first_name"} <= set(schema)
    assert all(not name.startswith(("id.", "property.")) for name in schema)
    record = next(r for r in run.records("customers") if r["customer_key"] == "customer-0000001")
    assert record["email__property"] == "user1@example.com"


def test_customer_attributes_choose_the_columns_and_the_key_id_is_added(bloomreach):
    server = bloomreach(scale=SCALE)
    attributes = [{"type": "property", "property": "first_name"}, {"type": "segmentation", "id": SEGMENTATION_ID}]
    run = sync(tap_config(server, customer_attributes=attributes), "customers")
    assert run.returncode == 0, run.stderr
    assert list(run.schema("customers")["properties"]) == ["customer_key", "registered", "first_name", SEGMENTATION_ID]
    data = server.emulator.data
    segments = data.segmentations[SEGMENTATION_ID]["segments"]
    for record in run.records("customers"):
        if record["registered"]:
            index = int(record["registered"].rpartition("-")[2])
            segment = data.segment_of(SEGMENTATION_ID, index)
            assert record[SEGMENTATION_ID] == (segments[segment] if segment >= 0 else None)


@pytest.mark.parametrize("segment_index", [0, -1])
def test_segment_filter_exports_exactly_that_segments_customers(bloomreach, segment_index):
    server = bloomreach(scale=60)
    config = tap_config(server, segmentation_id=SEGMENTATION_ID, segment_index=segment_index,
                        analysis_ids=[SEGMENTATION_ID], export_format="native_json")
    run = sync(config, "customers", "segmentation_results")
    assert run.returncode == 0, run.stderr
    data = server.emulator.data
    expected = [i for i in range(60) if data.segment_of(SEGMENTATION_ID, i) == segment_index]
    cookies = sorted(tuple(r["cookie"]) for r in run.records("customers"))
    assert cookies == sorted(tuple(data.customer(i)[0]["cookie"]) for i in expected)
    if segment_index >= 0:  # the analysis' segment size counts the same customers the filter exports
        segment = next(r for r in run.records("segmentation_results") if r["segment_index"] == segment_index)
        assert segment["customers"] == len(expected)


def test_a_new_customer_property_is_ignored_by_an_old_catalog_and_typed_after_rediscovery(bloomreach):
    server = bloomreach(scale=12)
    config = tap_config(server)
    old_catalog = catalog_for(config, "customers")
    Admin(server.base_url).settings(extra_properties=["loyalty_tier"])

    stale = sync(config, "customers", catalog=old_catalog)
    assert stale.returncode == 0, stale.stderr
    assert "loyalty_tier" in stale.stderr and "Run discovery again" in stale.stderr
    assert all("loyalty_tier" not in r for r in stale.records("customers"))

    fresh = sync(config, "customers")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.schema("customers")["properties"]["loyalty_tier"]["type"] == ["string", "null"]
    assert {r["loyalty_tier"] for r in fresh.records("customers")} == {f"loyalty_tier-{i}" for i in range(7)}


def test_export_timeout_not_request_timeout_bounds_the_wait_for_the_export(bloomreach):
    server = bloomreach(scale=5)
    config = tap_config(server, request_timeout=1, export_timeout=15)
    catalog = catalog_for(config, "customers")
    Admin(server.base_url).faults({"kind": "latency", "seconds": 2, "path": "customers/export"})
    requested = export_requests(server)
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert len(run.records("customers")) == 5
    assert export_requests(server) - requested == 1  # waited for, not requested again


def test_export_slower_than_export_timeout_is_retried(bloomreach):
    server = bloomreach(scale=5)
    config = tap_config(server, export_timeout=1)
    catalog = catalog_for(config, "customers")
    Admin(server.base_url).faults({"kind": "latency", "seconds": 3, "path": "customers/export"})
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert "timed out" in run.stderr.lower() or "timeout" in run.stderr.lower()
    assert len(run.records("customers")) == 5


def test_completion_is_claimed_only_after_the_last_customer(bloomreach):
    server = bloomreach(scale=30)
    run = sync(tap_config(server, emit_activate_version_messages=True), "customers")
    assert run.returncode == 0, run.stderr
    types = message_types(run, "customers")
    # ACTIVATE_VERSION (which lets a target drop older rows) follows the last record, never precedes one.
    assert types.count("ACTIVATE_VERSION") == 1
    assert types.index("ACTIVATE_VERSION") > max(i for i, kind in enumerate(types) if kind == "RECORD")
    completed = run.last_state["bookmarks"]["customers"]["last_complete_export"]
    assert completed["customers"] == 30
    assert completed["format"] == "table_json"
