"""Audience export jobs and records: incremental runs, resuming, file formats, delta exports, expiring URLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter

from sandbox.sitecore_cdp import SitecoreCDPEmulator
from tests.sitecore_cdp.helpers import (
    FILE_ROUTE,
    JOBS,
    LISTING_ROUTE,
    RECORDS,
    TAP,
    config_for,
    expected_keys,
    record_keys,
    selected,
    sync,
)
from tests.support import VENV_BIN, Admin, run_tap

SANDBOX_EXPORTS = ("weekly-vip-export", "daily-delta-export")


def test_rerun_emits_no_synced_job_and_downloads_nothing_for_it(emulator, catalog) -> None:
    settings = {"scale": 10, "max_rows_per_file": 4}
    server = emulator("sitecore-cdp", **settings)
    admin = Admin(server.base_url)
    config = config_for(server.base_url)
    chosen = selected(catalog, JOBS, RECORDS)

    first = sync(config, chosen)
    assert set(record_keys(first)) == expected_keys(SitecoreCDPEmulator(**settings), *SANDBOX_EXPORTS)
    assert len(record_keys(first)) == len(set(record_keys(first))), "no row twice"

    admin.reset()
    second = sync(config, chosen, first.last_state)
    assert second.records(JOBS) == []
    assert second.records(RECORDS) == []
    routes = admin.requests_by_route()
    assert routes.get(LISTING_ROUTE, 0) == 0 and routes.get(FILE_ROUTE, 0) == 0

    # A new job per export: the next run reads it, and only it.
    admin.settings(extra_jobs=1)
    admin.reset()
    third = sync(config, chosen, second.last_state)
    model = SitecoreCDPEmulator(**settings, extra_jobs=1)
    newest = {name: model.jobs_of(model.export_by_ref(name))[-1] for name in SANDBOX_EXPORTS}
    assert {r["executionRef"] for r in third.records(JOBS)} == {job.execution_ref for job in newest.values()}
    assert {r["execution_ref"] for r in third.records(RECORDS)} == {job.execution_ref for job in newest.values()}
    routes = admin.requests_by_route()
    assert routes[LISTING_ROUTE] == 2
    assert routes[FILE_ROUTE] == sum(len(job.files) for job in newest.values())


def test_jobs_are_emitted_oldest_first_though_the_api_lists_them_in_any_order(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=5, exports=[
        {"friendly_id": "weekly-vip-export", "jobs": 9, "failed_jobs": [4]},
    ])
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, JOBS))
    ends = [r["endTime"] for r in run.records(JOBS)]
    assert len(ends) == 9 and ends == sorted(ends)
    bookmark = run.last_state["bookmarks"][JOBS]["partitions"][0]["replication_key_value"]
    assert bookmark == ends[-1]


def test_start_date_skips_jobs_that_finished_before_it(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=5, exports=[{"friendly_id": "weekly-vip-export", "jobs": 4}])
    model = SitecoreCDPEmulator(scale=5, exports=[{"friendly_id": "weekly-vip-export", "jobs": 4}])
    jobs = model.jobs_of(model.export_by_ref("weekly-vip-export"))
    config = config_for(server.base_url, audience_exports=["weekly-vip-export"], start_date=jobs[2].end.isoformat())
    run = sync(config, selected(catalog, JOBS, RECORDS))
    assert [r["executionRef"] for r in run.records(JOBS)] == [jobs[2].execution_ref, jobs[3].execution_ref]
    assert {r["execution_ref"] for r in run.records(RECORDS)} == {jobs[2].execution_ref, jobs[3].execution_ref}


def test_failed_job_is_a_job_record_but_its_output_is_never_requested(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=5)
    admin = Admin(server.base_url)
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, JOBS, RECORDS))
    statuses = Counter(r["status"] for r in run.records(JOBS))
    assert statuses == {"SUCCESS": 2, "FAILED": 1}
    failed = next(r for r in run.records(JOBS) if r["status"] == "FAILED")
    assert failed["executionRef"] not in {r["execution_ref"] for r in run.records(RECORDS)}
    assert admin.requests_by_route()[LISTING_ROUTE] == 2
    assert "ended with status FAILED" in run.stderr and "Segment evaluation timed out" in run.stderr


def test_delta_export_rows_say_whether_they_were_added_or_removed(emulator, catalog) -> None:
    settings = {"scale": 40, "max_rows_per_file": 15}
    server = emulator("sitecore-cdp", **settings)
    run = sync(config_for(server.base_url, audience_exports=["daily-delta-export"]), selected(catalog, RECORDS))
    model = SitecoreCDPEmulator(**settings)
    by_job = {}
    for record in run.records(RECORDS):
        by_job.setdefault(record["execution_ref"], Counter())[record["delta_action"]] += 1
    jobs = model.jobs_of(model.export_by_ref("daily-delta-export"))
    assert by_job[jobs[0].execution_ref] == {"add": 40}, "the first delta run is a full export"
    for job in jobs[1:]:
        assert by_job[job.execution_ref] == {"add": 4, "remove": 2}
    assert {r["definition_type"] for r in run.records(RECORDS)} == {"DELTA"}


def test_pipe_delimited_csv_keeps_quoted_pipes_inside_values(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=30)
    run = sync(config_for(server.base_url, audience_exports=["daily-delta-export"]), selected(catalog, RECORDS))
    rows = [r["data"] for r in run.records(RECORDS)]
    assert set(rows[0]) == {"guestRef", "email", "firstName", "lastName", "city", "loyaltyTier", "rewardPoints"}
    assert "Limerick | Munster" in {row["city"] for row in rows}
    assert "Galway, Connacht" in {row["city"] for row in rows}
    assert all(row["email"].endswith("@example.com") for row in rows)


def test_comma_csv_with_every_field_quoted_is_read_with_the_delimiter_detected(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=30)
    run = sync(config_for(server.base_url, audience_exports=["daily_loyalty_members"]), selected(catalog, RECORDS))
    rows = [r["data"] for r in run.records(RECORDS)]
    assert len(rows) == 60
    assert "Limerick | Munster" in {row["city"] for row in rows}
    assert rows[0]["rewardPoints"].isdigit()


def test_wrong_csv_delimiter_fails_naming_the_setting(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=30)
    config = config_for(server.base_url, audience_exports=["daily-delta-export"], csv_delimiter=",")
    run = sync(config, selected(catalog, RECORDS), expect_success=False)
    assert run.returncode != 0
    assert "csv_delimiter" in run.stderr and "daily-delta-export" in run.stderr


def test_csv_without_header_takes_its_column_names_from_csv_columns(emulator, catalog) -> None:
    exports = [{"friendly_id": "no_header", "format": "csv", "delimiter": "|", "header": False, "jobs": 1,
                "columns": ["guestRef", "email"]}]
    server = emulator("sitecore-cdp", scale=6, exports=exports)
    base = config_for(server.base_url, audience_exports=["no_header"], csv_has_header=False)
    run = sync({**base, "csv_columns": ["guest", "mail"]}, selected(catalog, RECORDS))
    assert [sorted(r["data"]) for r in run.records(RECORDS)] == [["guest", "mail"]] * 6
    unnamed = sync(base, selected(catalog, RECORDS), expect_success=False)
    assert unnamed.returncode != 0 and "csv_columns" in unnamed.stderr


def test_discovery_learns_the_keys_of_data_from_the_newest_output(emulator) -> None:
    server = emulator("sitecore-cdp", scale=10)
    run = run_tap(TAP, config_for(server.base_url), extra_args=["--discover"])
    assert run.returncode == 0, run.stderr
    stream = next(s for s in json.loads(run.stdout_text)["streams"] if s["tap_stream_id"] == RECORDS)
    data = stream["schema"]["properties"]["data"]
    assert data["additionalProperties"] is True
    assert data["properties"]["vipMember"] == {"type": ["boolean", "null"]}
    assert data["properties"]["preferences"]["type"] == ["object", "null"]
    # JSON Lines says rewardPoints is an integer, the CSV export says text: text holds both.
    assert data["properties"]["rewardPoints"] == {"type": ["string", "null"]}


def test_new_export_column_flows_through_data_and_appears_on_rediscovery(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=6)
    admin = Admin(server.base_url)
    config = config_for(server.base_url, audience_exports=["weekly-vip-export"])
    first = sync(config, selected(catalog, RECORDS))
    admin.settings(extra_jobs=1, extra_columns=["favouriteColour"])
    second = sync(config, selected(catalog, RECORDS), first.last_state)
    assert len(second.records(RECORDS)) == 6
    assert all(r["data"]["favouriteColour"].startswith("favouriteColour-") for r in second.records(RECORDS))
    rediscovered = run_tap(TAP, config, extra_args=["--discover"])
    stream = next(s for s in json.loads(rediscovered.stdout_text)["streams"] if s["tap_stream_id"] == RECORDS)
    assert stream["schema"]["properties"]["data"]["properties"]["favouriteColour"] == {"type": ["string", "null"]}


def test_dropped_download_resumes_after_the_last_row_without_duplicates(emulator, catalog) -> None:
    settings = {"scale": 3000, "max_rows_per_file": 2000,
                "exports": [{"friendly_id": "weekly-vip-export", "jobs": 1}]}
    server = emulator("sitecore-cdp", **settings)
    Admin(server.base_url).faults({"kind": "drop", "path": "sitecore-cdp-exports", "after_bytes": 40_000})
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, RECORDS))
    keys = record_keys(run)
    assert len(keys) == len(set(keys)) == 3000
    assert set(keys) == expected_keys(SitecoreCDPEmulator(**settings), "weekly-vip-export")
    assert "resuming after the last row read" in run.stderr


def test_failed_download_run_resumes_at_that_job_and_row(emulator, catalog) -> None:
    settings = {"scale": 3000, "max_rows_per_file": 2000,
                "exports": [{"friendly_id": "weekly-vip-export", "jobs": 2}]}
    server = emulator("sitecore-cdp", **settings)
    admin = Admin(server.base_url)
    model = SitecoreCDPEmulator(**settings)
    second_job = model.jobs_of(model.export_by_ref("weekly-vip-export"))[1]
    admin.faults({"kind": "drop", "path": f"sitecore-cdp-exports/.*/{second_job.execution_ref}/",
                  "after_bytes": 40_000, "times": -1})
    config = config_for(server.base_url, audience_exports=["weekly-vip-export"], max_retries=1)

    failed = sync(config, selected(catalog, RECORDS), expect_success=False)
    assert failed.returncode != 0
    assert "failed 2 times in a row" in failed.stderr and "max_retries" in failed.stderr
    marker = failed.last_state["bookmarks"][RECORDS]["partitions"][0]["job_in_progress"]
    assert marker["execution_ref"] == second_job.execution_ref and marker["row_number"] > 0
    assert "url" not in json.dumps(failed.last_state).lower()

    admin.clear_faults()
    admin.reset()
    resumed = sync(config, selected(catalog, RECORDS), failed.last_state)
    before, after = record_keys(failed), record_keys(resumed)
    assert not set(before) & set(after), "no row is emitted twice"
    assert set(before) | set(after) == expected_keys(model, "weekly-vip-export")
    assert {key[0] for key in after} == {second_job.execution_ref}, "the finished job is not read again"


def test_killed_run_resumes_mid_file_with_nothing_lost(emulator, catalog, tmp_path) -> None:
    settings = {"scale": 20_000, "max_rows_per_file": 12_000,
                "exports": [{"friendly_id": "weekly-vip-export", "jobs": 1}]}
    server = emulator("sitecore-cdp", **settings)
    config = config_for(server.base_url, audience_exports=["weekly-vip-export"])
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(selected(catalog, RECORDS)))
    process = subprocess.Popen(
        [str(VENV_BIN / TAP), "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    seen: list[tuple[str, int, int]] = []
    state = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line)
            if message["type"] == "RECORD":
                record = message["record"]
                seen.append((record["execution_ref"], record["file_index"], record["row_number"]))
            elif message["type"] == "STATE":
                marker = message["value"]["bookmarks"][RECORDS]["partitions"][0].get("job_in_progress")
                if marker and marker["row_number"] > 0 and len(seen) >= 4000:
                    state = message["value"]
                    os.kill(process.pid, signal.SIGKILL)  # as an out-of-memory killer or a lost node would
                    break
    finally:
        process.kill()
        process.wait()
    assert state is not None, "the run ended before it could be killed mid-file"
    marker = state["bookmarks"][RECORDS]["partitions"][0]["job_in_progress"]
    assert seen[-1] == (marker["execution_ref"], marker["file_index"], marker["row_number"])

    resumed = sync(config, selected(catalog, RECORDS), state)
    assert not set(seen) & set(record_keys(resumed))
    assert set(seen) | set(record_keys(resumed)) == expected_keys(SitecoreCDPEmulator(**settings), "weekly-vip-export")


def test_truncated_file_is_downloaded_again(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=500, exports=[{"friendly_id": "weekly-vip-export", "jobs": 1}])
    Admin(server.base_url).faults({"kind": "truncate", "path": "sitecore-cdp-exports", "ratio": 0.5})
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, RECORDS))
    assert len(record_keys(run)) == len(set(record_keys(run))) == 500
    assert "gzip stream ended early" in run.stderr


def test_corrupt_file_fails_naming_export_job_and_file(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=500, exports=[{"friendly_id": "weekly-vip-export", "jobs": 1}])
    Admin(server.base_url).faults({"kind": "corrupt", "path": "sitecore-cdp-exports", "after_bytes": 2000,
                                   "payload": "garbage" * 20, "times": -1})
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, RECORDS),
               expect_success=False)
    assert run.returncode != 0
    assert "export weekly-vip-export, job" in run.stderr and "file 0" in run.stderr
    assert "X-Amz-Signature" not in run.stderr


def test_expired_presigned_urls_are_listed_again_and_the_run_continues(emulator, catalog) -> None:
    settings = {"scale": 8, "expired_listings": 1}
    server = emulator("sitecore-cdp", **settings)
    admin = Admin(server.base_url)
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, RECORDS))
    assert set(record_keys(run)) == expected_keys(SitecoreCDPEmulator(**settings), "weekly-vip-export")
    assert admin.requests_by_route()[LISTING_ROUTE] == 3, "two jobs with output, plus one fresh listing"
    assert "presigned URL has expired" in run.stderr
    assert "X-Amz-Signature" not in run.stderr


def test_urls_that_stay_refused_fail_with_a_clear_error(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=8, expired_listings=100)
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, RECORDS),
               expect_success=False)
    assert run.returncode != 0
    assert "presigned download URL was refused 4 times in a row" in run.stderr
    assert "X-Amz-Signature" not in run.stderr and "X-Amz-Date=" not in run.stderr


def test_token_that_expires_mid_run_is_replaced_and_the_request_retried(emulator, catalog) -> None:
    settings = {"scale": 8, "token_max_requests": 2}
    server = emulator("sitecore-cdp", **settings)
    admin = Admin(server.base_url)
    config = config_for(server.base_url)
    run = sync(config, selected(catalog, JOBS, RECORDS))
    assert set(record_keys(run)) == expected_keys(SitecoreCDPEmulator(**settings), *SANDBOX_EXPORTS)
    assert admin.requests_by_route()["POST /oauth/token"] > 2
    assert "rejected the access token (HTTP 401)" in run.stderr
    assert "eyJ" not in run.stderr


def test_token_refused_right_after_a_refresh_fails_without_looping(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=8, token_max_requests=0)
    admin = Admin(server.base_url)
    run = sync(config_for(server.base_url), selected(catalog, JOBS), expect_success=False)
    assert run.returncode != 0
    assert "refused even after requesting a new one" in run.stderr
    assert "UNAUTHORIZED" in run.stderr and "https://support.sitecore.com" in run.stderr
    assert admin.requests_by_route()["POST /oauth/token"] == 2


def test_one_token_serves_every_stream_of_the_run(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=8)
    admin = Admin(server.base_url)
    sync(config_for(server.base_url), selected(catalog, JOBS, RECORDS))
    assert admin.requests_by_route()["POST /oauth/token"] == 1


def test_rate_limited_job_list_is_retried_after_the_time_asked(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=4)
    Admin(server.base_url).faults({"kind": "status", "status": 429, "retry_after": 1, "path": "reports"})
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, JOBS))
    assert len(run.records(JOBS)) == 3
    assert "HTTP 429" in run.stderr and "retrying in 1.0 s" in run.stderr


def test_job_whose_output_is_gone_is_skipped_with_a_warning_and_not_asked_for_again(emulator, catalog) -> None:
    exports = [{"friendly_id": "weekly-vip-export", "jobs": 3, "expired_jobs": [0]}]
    server = emulator("sitecore-cdp", scale=5, exports=exports)
    admin = Admin(server.base_url)
    config = config_for(server.base_url, audience_exports=["weekly-vip-export"])
    run = sync(config, selected(catalog, RECORDS))
    model = SitecoreCDPEmulator(scale=5, exports=exports)
    jobs = model.jobs_of(model.export_by_ref("weekly-vip-export"))
    assert {r["execution_ref"] for r in run.records(RECORDS)} == {jobs[1].execution_ref, jobs[2].execution_ref}
    assert f"job {jobs[0].execution_ref} of export weekly-vip-export (status SUCCESS) has no files" in run.stderr
    admin.reset()
    again = sync(config, selected(catalog, RECORDS), run.last_state)
    assert again.records(RECORDS) == [] and LISTING_ROUTE not in admin.requests_by_route()


def test_refused_download_fails_with_the_status_and_no_settings_hint(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=5, exports=[{"friendly_id": "weekly-vip-export", "jobs": 1}])
    Admin(server.base_url).faults({"kind": "status", "status": 404, "path": "sitecore-cdp-exports", "times": -1})
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, RECORDS),
               expect_success=False)
    assert run.returncode != 0
    assert "HTTP 404" in run.stderr and "/sitecore-cdp-exports/" in run.stderr
    assert "`audience_exports`" not in run.stderr, "a presigned URL's refusal is not about the settings"
    assert "X-Amz-Signature" not in run.stderr
