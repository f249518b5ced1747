"""Export jobs end to end: the emulator writes files into a real S3 server or onto a real SFTP server,
the tap polls the job and reads the files back through fsspec."""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta

from tests.cordial.support import AWS_SECRET, SFTP_PASSWORD, CordialSandbox, ids, run


def _by_id(records: list[dict]) -> dict[str, dict]:
    return {r["_id"]: r for r in records}


def test_export_mode_through_s3_gives_the_same_contacts_and_activities_as_paging(sandbox: CordialSandbox):
    destination = sandbox.s3_destination()
    paged = run(sandbox.config(), "contacts", "contact_activities")
    exported = run(sandbox.config(sync_mode="export", export_destination=destination),
                   "contacts", "contact_activities")

    assert paged.returncode == 0, paged.stderr[-2000:]
    assert exported.returncode == 0, exported.stderr[-2000:]
    for stream in ("contacts", "contact_activities"):
        assert len(paged.records(stream)) > 0
        assert _by_id(exported.records(stream)) == _by_id(paged.records(stream)), stream
        assert exported.schema(stream) == paged.schema(stream)
    # The files really went through the S3 server, gzipped as requested.
    keys = sandbox.s3_keys(destination["path"])
    assert len(keys) == 2
    assert all(key.endswith(".json.gz") for key in keys)
    polls = sandbox.admin.requests_by_route()["GET /v2/jobs/(?P<job_id>[^/]+)"]
    assert polls >= 2, "each export job was followed until it was done"


def test_export_mode_through_sftp_reads_every_part_file(cordial):
    box = cordial(scale=30, activities=95)
    result = run(box.config(sync_mode="export", export_destination=box.sftp_destination()), "contact_activities")

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(set(ids(result.records("contact_activities")))) == 95
    written = sorted((box.emulator.destinations.sftp.root / "exports").iterdir())
    assert len(written) == 1 and written[0].name.endswith(".json.gz")
    assert gzip.decompress(written[0].read_bytes()).count(b"\n") == 95


def test_failed_job_fails_the_stream_with_the_jobs_details(cordial):
    box = cordial(scale=10, job_outcomes={"ExportContacts": "fail"})
    result = run(box.config(sync_mode="export", export_destination=box.s3_destination()), "contacts")

    assert result.returncode != 0
    assert "ExportContacts" in result.stderr and "failed" in result.stderr
    assert "export_destination" in result.stderr  # the setting to check
    assert result.records("contacts") == []


def test_job_that_never_finishes_fails_after_job_timeout(cordial):
    box = cordial(scale=10, job_outcomes={"*": "stall"})
    config = box.config(sync_mode="export", export_destination=box.s3_destination(), job_timeout=1.5)
    result = run(config, "contacts")

    assert result.returncode != 0
    assert "did not finish within job_timeout=1.5 s" in result.stderr
    assert "Processing" in result.stderr


def test_wrong_sftp_password_fails_before_any_job_naming_the_settings(cordial):
    box = cordial(scale=10)
    config = box.config(sync_mode="export", export_destination=box.sftp_destination(password="wrong-password-1"))
    result = run(config, "contacts")

    assert result.returncode != 0
    assert "cannot" in result.stderr and "`export_destination.password`" in result.stderr
    assert "wrong-password-1" not in result.stderr
    assert box.export_requests() == [], "the tap checks the destination before Cordial does any work"


def test_audience_trends_unpivots_days_and_the_rerun_asks_for_nothing_new(sandbox: CordialSandbox):
    start = date.today() - timedelta(days=6)
    config = sandbox.config(audiences=["vip-customers", "engaged-30d"], start_date=f"{start}T00:00:00Z",
                            export_destination=sandbox.s3_destination())
    first = run(config, "audience_trends")

    assert first.returncode == 0, first.stderr[-2000:]
    records = first.records("audience_trends")
    days = {r["date"] for r in records}
    assert {r["audience"] for r in records} == {"vip-customers", "engaged-30d"}
    assert len(records) == 2 * len(days) and len(days) >= 5
    assert all(isinstance(r["count"], int) for r in records)
    assert first.last_state["bookmarks"]["audience_trends"]["replication_key_value"] == max(days)

    sandbox.admin.reset()
    second = run(config, "audience_trends", state=first.last_state)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.records("audience_trends") == []
    assert not any("audiencetrendsexport" in route for route in sandbox.admin.requests_by_route())


def test_audience_without_analytics_fails_with_cordials_message_and_the_setting(sandbox: CordialSandbox):
    config = sandbox.config(audiences=["lapsed-buyers"], export_destination=sandbox.s3_destination())
    result = run(config, "audience_trends")

    assert result.returncode != 0
    assert "For Audience 'lapsed-buyers' analytics disabled." in result.stderr
    assert "audiences" in result.stderr


def test_secrets_never_reach_logs_or_state(sandbox: CordialSandbox):
    config = sandbox.config(sync_mode="export", export_destination=sandbox.s3_destination(),
                            audiences=["vip-customers"])
    result = run(config)  # `run` scans stderr and state; this checks the whole output as well

    assert result.returncode == 0, result.stderr[-2000:]
    everything = result.stdout_text + result.stderr + json.dumps(result.states)
    assert AWS_SECRET not in everything and SFTP_PASSWORD not in everything


def test_truncated_export_file_fails_naming_the_file(cordial):
    box = cordial(scale=40, truncate_export_files=0.5)
    result = run(box.config(sync_mode="export", export_destination=box.s3_destination()), "contacts")

    assert result.returncode != 0
    assert "s3://cordial-exports/" in result.stderr and ".json.gz" in result.stderr
    assert "ended early" in result.stderr or "truncated" in result.stderr
