"""`audience_export_mode: latest`: the most recent job of each export, every run, then ACTIVATE_VERSION."""

from __future__ import annotations

import json

from tap_sitecore_cdp.client import base_url_from_config

from sandbox.sitecore_cdp import SitecoreCDPEmulator
from tests.sitecore_cdp.helpers import FILE_ROUTE, RECORDS, TAP, config_for, record_keys, selected, sync
from tests.support import Admin, run_tap

LATEST_ROUTE = r"GET /v2/audienceExports/definitions/(?P<ref>[^/]+)/latestExport"
SETTINGS = {"scale": 60, "max_rows_per_file": 25}
EXPORTS = ["weekly-vip-export", "daily_loyalty_members"]


def newest_job_keys(model: SitecoreCDPEmulator, *exports: str) -> set[tuple[str, int, int]]:
    """The keys of the rows of each export's newest SUCCESS job (what `latestExport` lists)."""
    keys = set()
    for name in exports:
        job = [job for job in model.jobs_of(model.export_by_ref(name)) if job.status == "SUCCESS"][-1]
        for index, file in enumerate(job.files):
            keys.update((job.execution_ref, index, row) for row in range(1, file.rows + 1))
    return keys


def message_types(messages: list[dict]) -> list[str]:
    """The message types in order, each run of RECORDs as one `RECORD`."""
    kinds: list[str] = []
    for message in messages:
        if message["type"] != "STATE" and not (message["type"] == "RECORD" and kinds[-1:] == ["RECORD"]):
            kinds.append(message["type"])
    return kinds


def test_latest_mode_reads_each_exports_most_recent_job_then_activates_its_version(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", **SETTINGS)
    admin = Admin(server.base_url)
    config = config_for(server.base_url, audience_exports=EXPORTS, audience_export_mode="latest")
    run = sync(config, selected(catalog, RECORDS))

    model = SitecoreCDPEmulator(**SETTINGS)
    keys = record_keys(run)
    assert len(keys) == len(set(keys)) and set(keys) == newest_job_keys(model, *EXPORTS)
    assert admin.requests_by_route()[LATEST_ROUTE] == len(EXPORTS), "the vendor's most-recent-job path"
    # The whole snapshot first, then ACTIVATE_VERSION: a target drops the previous one only once this is whole.
    assert message_types(run.messages) == ["SCHEMA", "RECORD", "ACTIVATE_VERSION"]
    activate = next(m for m in run.messages if m["type"] == "ACTIVATE_VERSION")
    assert {m["version"] for m in run.messages if m["type"] == "RECORD"} == {activate["version"]}
    first = run.records(RECORDS)[0]
    assert first["job_end_time"] and first["definition_type"] == "FULL_SYNC", "the job's report fills the envelope"
    assert "replication_key_value" not in json.dumps(run.last_state), "a full table: no bookmark"


def test_latest_mode_rerun_reads_the_newest_job_again_and_a_new_job_once_it_finished(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", **SETTINGS)
    admin = Admin(server.base_url)
    config = config_for(server.base_url, audience_exports=["weekly-vip-export"], audience_export_mode="latest")
    first = sync(config, selected(catalog, RECORDS))
    again = sync(config, selected(catalog, RECORDS), first.last_state)
    assert record_keys(again) == record_keys(first), "the snapshot is whole in every run"

    admin.settings(extra_jobs=1)
    newer = sync(config, selected(catalog, RECORDS), again.last_state)
    model = SitecoreCDPEmulator(**SETTINGS, extra_jobs=1)
    assert set(record_keys(newer)) == newest_job_keys(model, "weekly-vip-export")
    assert not set(record_keys(newer)) & set(record_keys(first))


def test_latest_mode_run_that_fails_mid_snapshot_sends_no_activate_version(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", **SETTINGS)
    admin = Admin(server.base_url)
    admin.faults({"kind": "drop", "path": "part-0001", "after_bytes": 200, "times": -1})
    config = config_for(server.base_url, audience_exports=["weekly-vip-export"], audience_export_mode="latest",
                        max_retries=1)
    run = sync(config, selected(catalog, RECORDS), expect_success=False)
    assert run.returncode != 0 and run.records(RECORDS), "some rows were sent before the failure"
    assert "ACTIVATE_VERSION" not in message_types(run.messages), "the previous snapshot stays"


def test_history_mode_is_the_default_and_never_asks_for_the_latest_export(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", **SETTINGS)
    admin = Admin(server.base_url)
    run = sync(config_for(server.base_url), selected(catalog, RECORDS))
    assert LATEST_ROUTE not in admin.requests_by_route()
    assert "ACTIVATE_VERSION" not in message_types(run.messages)
    assert admin.requests_by_route()[FILE_ROUTE] > 0


def test_audience_export_mode_and_region_jp_are_documented_settings() -> None:
    about = json.loads(run_tap(TAP, {}, extra_args=["--about", "--format", "json"]).stdout_text)
    settings = about["settings"]["properties"]
    assert settings["audience_export_mode"]["enum"] == ["history", "latest"]
    assert "latestExport" in settings["audience_export_mode"]["description"]
    assert "jp" in settings["region"]["enum"] and "`jp`" in settings["region"]["description"]
    assert {"max_concurrent_requests", "strict_settings"} <= set(settings)


def test_region_jp_is_another_name_for_jpe() -> None:
    assert base_url_from_config({"region": "jp"}) == base_url_from_config({"region": "jpe"}) == \
        "https://api-engage-jpe.sitecorecloud.io"


def test_unknown_audience_export_mode_is_refused_before_any_request(emulator) -> None:
    server = emulator("sitecore-cdp", **SETTINGS)
    admin = Admin(server.base_url)
    run = run_tap(TAP, config_for(server.base_url, audience_export_mode="newest"), extra_args=["--discover"])
    assert run.returncode != 0 and "audience_export_mode" in run.stderr
    assert admin.request_count() == 0
