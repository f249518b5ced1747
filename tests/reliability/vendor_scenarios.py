"""Faults only some vendors have: expiring presigned URLs and OAuth tokens, export jobs that fail or
never finish, truncated export files, Cordial's `X-Rate-Limit-Reset`. Each returns the outcome text."""

from __future__ import annotations

import typing as t

import requests

from tests.profiles import TapProfile
from tests.reliability.outcomes import assert_exact
from tests.support import Admin, TapRun, assert_no_secrets, discover, run_tap, select_streams


def _sync(profile: TapProfile, base_url: str, *faults: dict[str, t.Any], **overrides: t.Any) -> TapRun:
    config = {**profile.config(base_url), **overrides}
    catalog = select_streams(discover(profile.tap, config), profile.main_stream)
    if faults:
        Admin(base_url).faults(*faults)
    run = run_tap(profile.tap, config, catalog=catalog)
    assert_no_secrets(run.stderr + str(run.states), profile.secrets)
    return run


def truncated_file_once(profile: TapProfile, base_url: str) -> str:
    run = _sync(profile, base_url, {"kind": "truncate", "ratio": 0.5, "path": profile.data_path})
    return assert_exact(profile, run, profile.emulator_settings)


def _sync_after(profile: TapProfile, base_url: str, **emulator_settings: t.Any) -> TapRun:
    """Discover, then change the emulator (so discovery does not use up the change), then sync."""
    config = profile.config(base_url)
    catalog = select_streams(discover(profile.tap, config), profile.main_stream)
    Admin(base_url).settings(**emulator_settings)
    run = run_tap(profile.tap, config, catalog=catalog)
    assert_no_secrets(run.stderr + str(run.states), profile.secrets)
    return run


def expired_presigned_url(profile: TapProfile, base_url: str) -> str:
    run = _sync_after(profile, base_url, expired_listings=1)
    assert "presigned URL has expired" in run.stderr
    return assert_exact(profile, run, profile.emulator_settings)


def token_expires_mid_run(profile: TapProfile, base_url: str) -> str:
    run = _sync_after(profile, base_url, token_max_requests=3)
    return assert_exact(profile, run, profile.emulator_settings)


def rate_limit_reset_header(profile: TapProfile, base_url: str) -> str:
    fault = {"kind": "status", "status": 429, "times": 2, "headers": {"X-Rate-Limit-Reset": "1"},
             "path": profile.data_path}
    run = _sync(profile, base_url, fault)
    assert "retrying in 1.0 s" in run.stderr
    return assert_exact(profile, run, profile.emulator_settings)


def _export_config(profile: TapProfile, base_url: str, **overrides: t.Any) -> dict[str, t.Any]:
    s3 = requests.get(f"{base_url}/_sandbox/settings", timeout=10).json()["s3_endpoint_url"]
    destination = {"type": "s3", "bucket": "cordial-exports", "region": "us-east-1", "path": "reliability",
                   "aws_access_key_id": "reliability", "aws_secret_access_key": profile.secrets[-1],
                   "endpoint_url": s3}
    return {"sync_mode": "export", "export_destination": destination, "job_poll_interval": 0.2, **overrides}


def export_job_fails(profile: TapProfile, base_url: str) -> str:
    Admin(base_url).settings(job_outcomes={"*": "fail"})
    run = _sync(profile, base_url, **_export_config(profile, base_url))
    assert run.returncode != 0
    assert "failed after" in run.stderr and "export_destination" in run.stderr
    return "failed clearly"


def export_job_never_finishes(profile: TapProfile, base_url: str) -> str:
    Admin(base_url).settings(job_outcomes={"*": "stall"})
    run = _sync(profile, base_url, **_export_config(profile, base_url, job_timeout=2))
    assert run.returncode != 0
    assert "job_timeout" in run.stderr
    return "failed clearly"


SITECORE = {
    "truncated gzip file": truncated_file_once,
    "expired presigned URL": expired_presigned_url,
    "OAuth token expires mid-run": token_expires_mid_run,
}
CORDIAL = {
    "429 + X-Rate-Limit-Reset": rate_limit_reset_header,
    "export job fails": export_job_fails,
    "export job never finishes": export_job_never_finishes,
}
BLOOMREACH = {"truncated export body": truncated_file_once}
