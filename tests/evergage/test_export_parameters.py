"""The Account and User Export APIs' parameters as settings (issue 13), the CSV format, the host, deep pages.

Each parameter is checked where it matters: in the emulator's request log (what the tap sent), and in
`--about` (what the user can find).
"""

from __future__ import annotations

import json
import subprocess
import typing as t

import pytest

from sandbox.evergage import EvergageEmulator
from tests.support import VENV_BIN, Admin, discover, run_tap, select_streams

CREDENTIALS = {"api_key_id": "sandbox-api-key-id", "api_secret_key": "sandbox-api-secret-key-0f6c2b"}
USERS_ROUTE = "/api/dataset/engage/users"


def config_for(base_url: str, **extra: object) -> dict[str, t.Any]:
    return {"api_url": base_url, **CREDENTIALS, "datasets": ["engage"], **extra}


def sync_logged(base_url: str, *streams: str, **extra: object) -> tuple[t.Any, list[dict[str, t.Any]]]:
    """Sync `streams` (discovered first); returns the run and the requests of the sync alone."""
    config = config_for(base_url, **extra)
    catalog = select_streams(discover("tap-evergage", config), *streams)
    admin = Admin(base_url)
    admin.reset()
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    return run, admin.request_log()


def about() -> dict[str, t.Any]:
    done = subprocess.run([str(VENV_BIN / "tap-evergage"), "--about", "--format=json"], capture_output=True,
                          text=True, check=True)
    return t.cast("dict[str, t.Any]", json.loads(done.stdout))


def test_export_parameters_are_documented_settings_in_about() -> None:
    properties = about()["settings"]["properties"]
    for setting, param in (("filter", "`filter`"), ("segmentation_id", "`segmentationId`"),
                           ("segment_id", "`segmentId`")):
        assert param in properties[setting]["description"]
        assert "sent only when set" in properties[setting]["description"]
    assert properties["export_format"]["enum"] == ["json", "csv"]
    assert properties["export_format"]["default"] == "json"
    assert "strict_settings" in properties, "the kit's settings are the tap's"


@pytest.mark.parametrize("stream", ["users", "accounts"])
def test_filter_segmentation_id_and_segment_id_are_sent_to_users_and_accounts(emulator, stream: str) -> None:
    server = emulator("evergage", scale=40, accounts_mode="data", duplicates=[])
    _, log = sync_logged(server.base_url, stream, filter="High Value", segmentation_id="sgn-7",
                         segment_id="sgHV001", engagement_start_date="2025-01-01T00:00:00Z",
                         engagement_end_date="2025-02-01T00:00:00Z", page_size=3)
    pages = [entry["query"] for entry in log if entry["path"] == f"/api/dataset/engage/{stream}.json"]
    assert pages, log
    for query in pages:
        assert query["filter"] == "High Value"
        assert query["segmentationId"] == "sgn-7"
        assert query["segmentId"] == "sgHV001"
        assert query["start"] == "1735689600000" and query["end"] == "1738368000000"
        assert query["pageSize"] == "3"


def test_export_parameters_are_not_sent_when_unset(emulator) -> None:
    server = emulator("evergage", scale=5)
    _, log = sync_logged(server.base_url, "users")
    queries = [entry["query"] for entry in log if entry["path"].startswith(USERS_ROUTE)]
    assert queries and all(set(q) == {"page", "pageSize"} for q in queries), queries


def test_filter_exports_only_the_segments_members(emulator) -> None:
    server = emulator("evergage", scale=60, duplicates=[])
    emulated = EvergageEmulator(scale=60, duplicates=[])
    run, _ = sync_logged(server.base_url, "users", filter="sgCR002")
    segment = emulated.settings["segments"][1]
    expected = [emulated.data.user("engage", i)["name"] for i in range(60)
                if emulated.data.is_member("engage", segment, i)]
    assert [r["name"] for r in run.records("users")] == expected


def test_segment_members_keep_their_own_filter_and_ignore_the_users_settings(emulator) -> None:
    server = emulator("evergage", scale=20)
    _, log = sync_logged(server.base_url, "segment_members", segments=["Newsletter"], filter="High Value",
                         segment_id="sgHV001", segmentation_id="sgn-7")
    queries = [entry["query"] for entry in log if entry["path"].startswith(USERS_ROUTE)]
    assert queries and all(q["filter"] == "Newsletter" for q in queries)
    assert not any({"segmentId", "segmentationId"} & set(q) for q in queries)


@pytest.mark.parametrize(("stream", "settings", "extra"), [
    ("users", {"duplicates": [4, 11]}, {"include_geo": True}),
    ("segment_members", {"duplicates": []}, {"segments": ["High Value"]}),
    ("accounts", {"accounts_mode": "data"}, {}),
])
def test_csv_export_gives_the_same_records_and_schema_as_json(emulator, stream: str, settings: dict[str, t.Any],
                                                              extra: dict[str, t.Any]) -> None:
    server = emulator("evergage", scale=70, extra_attributes=["loyaltyId"], **settings)
    as_json, _ = sync_logged(server.base_url, stream, page_size=6, **extra)
    as_csv, log = sync_logged(server.base_url, stream, page_size=6, export_format="csv", **extra)
    assert {entry["path"].rsplit(".", 1)[1] for entry in log} == {"csv"}, "every page was asked as CSV"
    assert as_csv.records(stream) == as_json.records(stream)
    assert len(as_csv.records(stream)) > 6, "more than one page"
    assert as_csv.schema(stream) == as_json.schema(stream)


def test_csv_page_garbled_in_transit_is_fetched_again(emulator) -> None:
    # 45 users: the four pages first in flight are all needed, so the fault cannot land on a discarded one.
    server = emulator("evergage", scale=45, duplicates=[])
    config = config_for(server.base_url, export_format="csv", page_size=10)
    catalog = select_streams(discover("tap-evergage", config), "users")
    # Three delimiters too many on a row: its width no longer matches the header.
    Admin(server.base_url).faults({"kind": "corrupt", "after_bytes": 200, "payload": ",,,", "path": r"/users\.csv"})
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert len(run.records("users")) == 45
    assert Admin(server.base_url).pending_faults() == [], "the fault was not hit"
    assert "retrying" in run.stderr


def test_without_instance_the_legacy_host_is_named_in_a_warning() -> None:
    config = {**CREDENTIALS, "account_name": "acme", "request_timeout": 2, "max_retries": 0}
    run = run_tap("tap-evergage", config, extra_args=["--discover"])
    assert "No `instance` set: using the legacy host acme.evergage.com" in run.stderr
    assert "set `instance`" in run.stderr
    with_instance = run_tap("tap-evergage", {**config, "instance": "us-1"}, extra_args=["--discover"])
    assert "legacy host" not in with_instance.stderr


def test_a_page_refused_deep_into_the_export_names_the_depth_and_the_narrowing_settings(emulator) -> None:
    server = emulator("evergage", scale=100, duplicates=[], max_page_window=30)
    config = config_for(server.base_url, page_size=10)
    catalog = select_streams(discover("tap-evergage", config), "users")
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode != 0
    assert "HTTP 400" in run.stderr and "Result window is too large" in run.stderr
    assert "page 3 reached" in run.stderr
    for setting in ("`datasets`", "`filter`", "`segment_id`"):
        assert setting in run.stderr
    assert len(run.records("users")) == 30, "every page before the refused one was emitted"
