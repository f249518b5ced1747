"""Every recorded Bloomreach body (tests/bloomreach/fixtures) parsed by the tap's own parsers, and the
ones the tap reads served through the emulator to the real tap, byte for byte."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from tap_bloomreach.envelope import body_error_message, envelope_error
from tap_bloomreach.export_reader import read_export
from tap_bloomreach.export_table import ExportColumn
from tap_bloomreach.streams.catalogs import searchable_field_names
from tap_bloomreach.streams.segmentations import segment_records

from tests.bloomreach.conftest import SEGMENTATION_ID, catalog_for, sync, tap_config
from tests.support import Admin

FIXTURES = Path(__file__).parent / "fixtures"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))
ERROR_MESSAGES = {
    "error_access_key_not_found.json": "access key not found",
    "error_errors_list_not_authorized.json": "not authorized to update specified customer properties",
    "error_errors_global_customer_not_found.json": "Customer does not exist",
}


def _body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_every_fixture_is_accounted_for():
    assert len(ALL_FIXTURES) == 18


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_envelope_reads_as_success_or_as_its_error(name):
    document = json.loads(_body(name))
    if name in ERROR_MESSAGES:
        assert envelope_error(document) == ERROR_MESSAGES[name]
    else:
        # Success bodies, including a per-attribute failure under a top-level success (spec §3.2).
        assert envelope_error(document) is None
        assert body_error_message(document) is None or document.get("errors") == []


def test_native_json_export_fixture_is_read_as_typed_columns():
    table = read_export(io.BytesIO(_body("customers_export_native_json.json")), "fixture")
    assert table.format == "native_json"
    assert table.columns == [ExportColumn("id", "registered"), ExportColumn("id", "cookie"),
                             ExportColumn("property", "first_name"), ExportColumn("property", "last_name")]
    assert list(table.rows) == [["test", ["cookie"], "Lukas", "Cerny"]]


@pytest.mark.parametrize("name", ["analyses_segmentation_table_json.json", "analyses_report_table_json.json",
                                  "analyses_funnel_table_json.json"])
def test_analysis_table_fixtures_become_one_record_per_row(name):
    document = json.loads(_body(name))
    records = list(segment_records("a1", document["name"], document["header"], document["rows"]))
    assert len(records) == len(document["rows"])
    assert records[0]["analysis_name"] == document["name"]
    if name.startswith("analyses_segmentation"):
        assert [(r["segment"], r["customers"]) for r in records] == [("already_bought", 0), ("not_bought", 4)]
    else:  # no `segment` or `#` column: the first column names the row, the rest are metrics
        assert records[0]["segment"] == document["rows"][0][0]
        assert len(records[0]["metrics"]) == len(document["header"]) - 1


def test_catalog_get_fixture_without_fields_leaves_partition_fields_open():
    assert searchable_field_names(json.loads(_body("catalogs_get.json"))) is None


def test_recorded_export_served_to_the_tap_becomes_a_customer(bloomreach):
    server = bloomreach(scale=3)
    config = tap_config(server, export_format="native_json")
    Admin(server.base_url).faults({"kind": "status", "status": 200, "times": 2, "path": "customers/export",
                                   "body": _body("customers_export_native_json.json").decode()})
    run = sync(config, "customers", catalog=catalog_for(config, "customers"))  # discovery reads it too
    assert run.returncode == 0, run.stderr
    assert run.records("customers") == [
        {"customer_key": "test", "registered": "test", "cookie": ["cookie"], "first_name": "Lukas",
         "last_name": "Cerny"}]
    assert run.schema("customers")["properties"]["cookie"]["type"] == ["array", "null"]


def test_recorded_catalog_items_and_segmentation_served_to_the_tap_are_read(bloomreach):
    server = bloomreach(scale=3, catalogs=[{"id": "5b69de5bc0basdfsdf0b5", "name": "test_catalog", "size": 1}])
    config = tap_config(server, analysis_ids=[SEGMENTATION_ID])
    catalog = catalog_for(config, "catalogs", "catalog_items", "segmentation_results")
    Admin(server.base_url).faults(
        {"kind": "status", "status": 200, "path": "/items$", "body": _body("catalogs_items_list.json").decode()},
        {"kind": "status", "status": 200, "path": "analyses/segmentation",
         "body": _body("analyses_segmentation_table_json.json").decode()},
    )
    run = sync(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert run.records("catalog_items") == [
        {"catalog_id": "5b69de5bc0basdfsdf0b5", "item_id": "1", "properties": {"one": "foo", "two": "bar"}}]
    assert [(r["segment"], r["customers"]) for r in run.records("segmentation_results")] == [
        ("already_bought", 0), ("not_bought", 4)]
