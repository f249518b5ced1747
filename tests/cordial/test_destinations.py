"""Every destination type of Cordial's export API, in Cordial's own words: S3, GCS, SFTP and FTP end to end
against real servers (moto, fake-gcs-server, asyncssh, pyftpdlib on loopback), `aws` refused, Cordial's field
names accepted, the destination listed before a job is created, and the export settings sent as set."""

from __future__ import annotations

import gzip
import json
import subprocess
from datetime import date, timedelta

import pytest
from tap_cordial.destination import ExportDestination
from tap_cordial.tap import TapCordial

from tests.cordial.support import FTP_PASSWORD, CordialSandbox, ids, run
from tests.support import discover, select_streams


def _by_id(records: list[dict]) -> dict[str, dict]:
    return {r["_id"]: r for r in records}


def _catalog(sandbox: CordialSandbox, stream: str) -> dict:
    """A catalog discovered with good settings, for a run whose settings the tap refuses."""
    return select_streams(discover("tap-cordial", sandbox.config()), stream)


def test_export_mode_through_ftp_gives_the_same_contacts_as_paging(sandbox: CordialSandbox):
    paged = run(sandbox.config(), "contacts")
    exported = run(sandbox.config(sync_mode="export", export_destination=sandbox.ftp_destination()), "contacts")

    assert exported.returncode == 0, exported.stderr[-2000:]
    assert len(paged.records("contacts")) == 30
    assert _by_id(exported.records("contacts")) == _by_id(paged.records("contacts"))
    assert sandbox.export_requests()[-1]["json"]["destination"] == {
        "type": "ftp", "path": "/exports", "server": "127.0.0.1", "port": int(sandbox.emulator.settings["ftp_port"]),
        "username": "cordial", "password": FTP_PASSWORD,
    }
    ftp = sandbox.emulator.destinations.ftp
    assert ftp is not None
    written = sorted((ftp.root / "exports").iterdir())
    assert len(written) == 1 and written[0].name.endswith(".json.gz")
    assert gzip.decompress(written[0].read_bytes()).count(b"\n") == 30


def test_export_mode_through_gcs_reads_every_part_file(cordial):
    box = cordial(scale=30, activities=95)
    destination = box.gcs_destination()
    result = run(box.config(sync_mode="export", export_destination=destination), "contact_activities")

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(set(ids(result.records("contact_activities")))) == 95
    gcs = box.emulator.destinations.gcs
    assert gcs is not None
    names = gcs.object_names("cordial-exports", destination["path"])
    assert len(names) == 1 and names[0].endswith(".json.gz")
    body = box.export_requests()[-1]["json"]["destination"]
    assert body == {"type": "gcs", "gcs_bucket": "cordial-exports", "path": destination["path"]}


def test_audience_trends_through_gcs_in_cordials_own_field_names(sandbox: CordialSandbox):
    start = date.today() - timedelta(days=3)
    destination = {**sandbox.gcs_destination(), "type": "GCS"}  # Cordial's docs write types in capitals
    result = run(sandbox.config(audiences=["vip-customers"], start_date=f"{start}T00:00:00Z",
                                export_destination=destination), "audience_trends")

    assert result.returncode == 0, result.stderr[-2000:]
    assert {r["audience"] for r in result.records("audience_trends")} == {"vip-customers"}


def test_cordials_s3_field_names_work_end_to_end(sandbox: CordialSandbox):
    ours = sandbox.s3_destination()
    theirs = {key: value for key, value in ours.items() if key not in {"bucket", "region"}}
    theirs.update(aws_bucket=ours["bucket"], aws_region=ours["region"], type="S3")
    result = run(sandbox.config(sync_mode="export", export_destination=theirs), "contacts")

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.records("contacts")) == 30
    sent = sandbox.export_requests()[-1]["json"]["destination"]
    assert sent["aws_bucket"] == "cordial-exports" and sent["aws_region"] == "us-east-1"
    assert "endpoint_url" not in sent, "the tap's own reading endpoint is not Cordial's business"


def test_cordial_and_our_field_names_give_the_same_destination_object():
    ours = ExportDestination.from_config({"export_destination": {
        "type": "sftp", "server": "sftp.example.com", "username": "u", "saved_key": "my-key", "path": "out"}})
    theirs = ExportDestination.from_config({"export_destination": {
        "type": "SFTP", "server": "sftp.example.com", "username": "u", "savedKey": "my-key", "path": "out"}})

    assert ours is not None and theirs is not None
    assert theirs.cordial_body() == ours.cordial_body() == {
        "type": "sftp", "path": "/out", "server": "sftp.example.com", "port": 22, "username": "u",
        "savedKey": "my-key"}


def test_aws_destination_is_refused_saying_why_and_what_to_use(sandbox: CordialSandbox):
    result = run(sandbox.config(sync_mode="export", export_destination={"type": "aws"}),
                 catalog=_catalog(sandbox, "contacts"))

    assert result.returncode != 0
    assert "`export_destination.type` is `aws`" in result.stderr
    assert "no way to download" in result.stderr
    assert "`s3`, `gcs`, `sftp`, `ftp`" in result.stderr
    assert sandbox.export_requests() == []


def test_two_names_for_one_field_must_agree(sandbox: CordialSandbox):
    destination = {**sandbox.s3_destination(), "aws_bucket": "another-bucket"}
    result = run(sandbox.config(sync_mode="export", export_destination=destination),
                 catalog=_catalog(sandbox, "contacts"))

    assert result.returncode != 0
    assert "`export_destination.aws_bucket` and `export_destination.bucket`" in result.stderr


@pytest.mark.parametrize(("kind", "expected_setting"), [
    ("gcs_missing_bucket", "`export_destination.gcs_bucket`"),
    ("ftp_missing_folder", "`export_destination.path`"),
    ("ftp_wrong_password", "`export_destination.password`"),
    ("sftp_missing_folder", "`export_destination.path`"),
    ("s3_missing_bucket", "`export_destination.bucket`"),
])
def test_unlistable_destination_fails_before_any_job_naming_the_setting(sandbox: CordialSandbox, kind: str,
                                                                         expected_setting: str):
    destination = {
        "gcs_missing_bucket": {**sandbox.gcs_destination(bucket="no-such-bucket")},
        "ftp_missing_folder": sandbox.ftp_destination(path="no/such/folder"),
        "ftp_wrong_password": sandbox.ftp_destination(password="wrong-ftp-password-3"),
        "sftp_missing_folder": {**sandbox.sftp_destination(), "path": "no-such-folder"},
        "s3_missing_bucket": {**sandbox.s3_destination(), "bucket": "no-such-bucket"},
    }[kind]
    result = run(sandbox.config(sync_mode="export", export_destination=destination), "contacts")

    assert result.returncode != 0
    assert "Before creating an export job, the tap lists" in result.stderr
    assert expected_setting in result.stderr
    assert "No export job was created" in result.stderr
    assert "wrong-ftp-password-3" not in result.stderr
    assert sandbox.export_requests() == [], "nothing was asked of Cordial"


def test_audience_trends_window_settings_are_sent_as_cordials_timeframe(sandbox: CordialSandbox):
    config = sandbox.config(audiences=["vip-customers"], export_destination=sandbox.s3_destination(),
                            audience_trends_start="2026-01-03", audience_trends_end="2026-01-05")
    result = run(config, "audience_trends")

    assert result.returncode == 0, result.stderr[-2000:]
    sent = sandbox.export_requests()[-1]["json"]
    assert (sent["selected_timeframe_start"], sent["selected_timeframe_end"]) == ("2026-01-03", "2026-01-05")
    assert sorted({r["date"] for r in result.records("audience_trends")}) == ["2026-01-03", "2026-01-04",
                                                                            "2026-01-05"]


def test_audience_trends_without_window_settings_ends_yesterday(sandbox: CordialSandbox):
    start = date.today() - timedelta(days=4)
    config = sandbox.config(audiences=["vip-customers"], export_destination=sandbox.s3_destination(),
                            start_date=f"{start}T00:00:00Z")
    result = run(config, "audience_trends")

    assert result.returncode == 0, result.stderr[-2000:]
    sent = sandbox.export_requests()[-1]["json"]
    assert sent["selected_timeframe_start"] == start.isoformat()
    assert date.fromisoformat(sent["selected_timeframe_end"]) >= date.today() - timedelta(days=2)


def test_audience_trends_window_backwards_is_refused_naming_both_settings(sandbox: CordialSandbox):
    config = sandbox.config(audiences=["vip-customers"], export_destination=sandbox.s3_destination(),
                            audience_trends_start="2026-02-10", audience_trends_end="2026-02-01")
    result = run(config, catalog=_catalog(sandbox, "audience_trends"))

    assert result.returncode != 0
    assert "`audience_trends_end`" in result.stderr and "`audience_trends_start`" in result.stderr


def test_export_name_prefix_names_the_jobs(sandbox: CordialSandbox):
    config = sandbox.config(sync_mode="export", export_destination=sandbox.s3_destination(),
                            export_name_prefix="nightly-warehouse")
    result = run(config, "contacts")

    assert result.returncode == 0, result.stderr[-2000:]
    assert sandbox.export_requests()[-1]["json"]["name"].startswith("nightly-warehouse-contacts-")


def test_export_name_prefix_outside_cordials_name_rule_is_refused(sandbox: CordialSandbox):
    config = sandbox.config(sync_mode="export", export_destination=sandbox.s3_destination(),
                            export_name_prefix="nightly_warehouse")
    result = run(config, catalog=_catalog(sandbox, "contacts"))

    assert result.returncode != 0
    assert "`export_name_prefix`" in result.stderr and "letters, numbers and dashes" in result.stderr


def test_new_settings_are_shown_in_about():
    about = json.loads(subprocess.run(["tap-cordial", "--about", "--format=json"], capture_output=True,
                                      text=True, check=True).stdout)
    settings = about["settings"]["properties"]
    for name in ("audience_trends_start", "audience_trends_end", "export_name_prefix", "strict_settings"):
        assert settings[name]["description"], name
    destination = settings["export_destination"]["properties"]
    for name in ("aws_bucket", "aws_region", "savedKey", "gcs_bucket", "server", "port", "username", "password",
                 "path", "aws_access_key_id", "aws_secret_access_key"):
        assert name in destination, name
    assert TapCordial.config_jsonschema["properties"]["export_name_prefix"]["default"] == "tap-cordial"
