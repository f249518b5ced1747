"""The customers export going wrong: cut bodies, dropped connections, refusals inside HTTP 200."""

from __future__ import annotations

import pytest
import requests

from tests.bloomreach.conftest import (
    KEY_ID,
    PROJECT_PATH,
    SECRET,
    catalog_for,
    export_requests,
    message_types,
    sync,
    tap_config,
)
from tests.support import Admin

SCALE = 200


def _completion_claims(run) -> list[dict]:
    return [s["bookmarks"]["customers"]["last_complete_export"] for s in run.states
            if "last_complete_export" in s.get("bookmarks", {}).get("customers", {})]


@pytest.mark.parametrize("export_format", ["native_json", "table_json"])
def test_truncated_json_export_fails_clearly_and_claims_no_completion(bloomreach, export_format):
    server = bloomreach(scale=SCALE)
    config = tap_config(server, export_format=export_format, emit_activate_version_messages=True, max_retries=1)
    catalog = catalog_for(config, "customers")
    # Cut on every try: the tap asks once more (a body cut in transit is worth it), then gives up.
    Admin(server.base_url).faults({"kind": "truncate", "ratio": 0.6, "path": "customers/export", "times": -1})
    requested = export_requests(server)
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode != 0
    assert export_requests(server) - requested == 2  # the whole export, requested again once
    assert "before the JSON document was complete" in run.stderr
    assert "export is incomplete" in run.stderr
    assert len({r["customer_key"] for r in run.records("customers")}) < SCALE
    assert "ACTIVATE_VERSION" not in message_types(run, "customers")
    assert _completion_claims(run) == []


def test_csv_export_cut_inside_a_row_is_detected(bloomreach):
    server = bloomreach(scale=SCALE)
    config = tap_config(server, export_format="csv", max_retries=1)
    catalog = catalog_for(config, "customers")
    body = requests.post(f"{server.base_url}{PROJECT_PATH}/customers/export", json={"format": "csv"},
                         auth=(KEY_ID, SECRET), timeout=10).content
    cut = body.index(b'"[""ck-0000150') + 5  # inside the quoted soft-id list of one row
    Admin(server.base_url).faults({"kind": "truncate", "after_bytes": cut, "path": "customers/export", "times": -1})
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode != 0
    assert "malformed CSV" in run.stderr and "cut off" in run.stderr
    assert _completion_claims(run) == []


@pytest.mark.parametrize("fault", [
    {"kind": "truncate", "ratio": 0.6},
    {"kind": "corrupt", "after_bytes": 400, "payload": "@@@@"},  # not JSON: garbled, not cut
], ids=["cut", "garbled"])
def test_an_export_cut_or_garbled_once_is_requested_again_and_completes(bloomreach, fault):
    server = bloomreach(scale=SCALE)
    config = tap_config(server, emit_activate_version_messages=True)
    catalog = catalog_for(config, "customers")
    Admin(server.base_url).faults({**fault, "path": "customers/export"})
    requested = export_requests(server)
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert export_requests(server) - requested == 2  # the broken export, then the whole export again
    assert len({r["customer_key"] for r in run.records("customers")}) == SCALE
    assert len(_completion_claims(run)) == 1
    assert message_types(run, "customers").count("ACTIVATE_VERSION") == 1


def test_dropped_connection_mid_export_is_retried_and_nothing_is_lost(bloomreach):
    scale = 10_000  # a body larger than the 1 MB read buffer, so that customers went out before the drop
    server = bloomreach(scale=scale)
    config = tap_config(server, emit_activate_version_messages=True)
    catalog = catalog_for(config, "customers")
    Admin(server.base_url).faults({"kind": "drop", "after_bytes": 1_300_000, "path": "customers/export"})
    requested = export_requests(server)
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert export_requests(server) - requested == 2  # the dropped export, then the whole export again
    keys = [r["customer_key"] for r in run.records("customers")]
    assert len(set(keys)) == scale  # every customer, the first ones sent twice (same key)
    assert len(keys) > scale
    assert _completion_claims(run)[-1]["customers"] == scale
    assert message_types(run, "customers").count("ACTIVATE_VERSION") == 1


def test_export_answered_with_success_false_in_http_200_is_an_error_naming_the_setting(bloomreach):
    server = bloomreach(scale=5)
    config = tap_config(server, segmentation_id="000000000000000000000000", segment_index=0)
    catalog = catalog_for(tap_config(server), "customers")  # discovered without the filter
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode != 0
    assert "answered HTTP 200 with an error: Segmentation 000000000000000000000000 does not exist" in run.stderr
    assert "`segmentation_id`" in run.stderr


@pytest.mark.parametrize("style", ["text", "403"])
def test_missing_export_permission_is_named_in_discovery_and_sync(bloomreach, style):
    server = bloomreach(scale=5, no_permission_style=style,
                        permissions=["Catalogs > Get catalog list", "Catalogs > Get catalog items"])
    config = tap_config(server)
    catalog = catalog_for(config, "customers")  # discovery survives, with a minimal customers schema
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "customers")
    assert list(entry["schema"]["properties"]) == ["customer_key"]
    run = sync(config, "customers", catalog=catalog)
    assert run.returncode != 0
    assert "lacks the permission GDPR > Export customers" in run.stderr


def test_export_with_rows_before_its_fields_is_read_completely(bloomreach):
    server = bloomreach(scale=SCALE, json_key_order="data_first")
    run = sync(tap_config(server, export_format="native_json"), "customers")
    assert run.returncode == 0, run.stderr
    records = run.records("customers")
    assert len({r["customer_key"] for r in records}) == SCALE
    assert run.schema("customers")["properties"]["birth_year"]["type"] == ["integer", "null"]
    assert all(isinstance(r["cookie"], list) for r in records)
