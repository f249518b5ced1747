"""Test helpers for tap-cordial: settings that point the tap at a running emulator and its destinations."""

from __future__ import annotations

import json
import typing as t
import uuid

from sandbox.framework import RunningEmulator
from tests.support import Admin, TapRun, assert_no_secrets, discover, run_tap, select_streams

API_KEY = "sandbox-cordial-api-key-3c8f"
AWS_ACCESS_KEY_ID = "sandbox-aws-access-key-id"
AWS_SECRET = "sandbox-aws-secret-9d41c0e7"
SFTP_USER = "cordial"
SFTP_PASSWORD = "sandbox-sftp-password-5e1a"
FTP_PASSWORD = "sandbox-ftp-password-71b2"
SECRETS = (API_KEY, AWS_SECRET, SFTP_PASSWORD, FTP_PASSWORD)


class CordialSandbox:
    """A running Cordial emulator with its S3, GCS, SFTP and FTP servers."""

    #: Jobs that finish within a second, so export tests are quick.
    FAST_JOBS: t.ClassVar[dict[str, t.Any]] = {"job_schedule_seconds": 0.1, "job_seconds": 0.4}

    def __init__(self, server: RunningEmulator) -> None:
        self.server = server
        self.emulator = server.emulator
        self.base_url = server.base_url
        self.admin = Admin(server.base_url)

    @property
    def s3_endpoint_url(self) -> str:
        return str(self.emulator.settings["s3_endpoint_url"])

    @property
    def sftp_port(self) -> int:
        return int(self.emulator.settings["sftp_port"])

    def config(self, **overrides: t.Any) -> dict[str, t.Any]:
        base = {"api_url": self.base_url, "api_key": API_KEY, "page_size": 50, "job_poll_interval": 0.1,
                "max_retries": 3}
        return {**base, **overrides}

    def s3_destination(self, path: str | None = None) -> dict[str, t.Any]:
        return {"type": "s3", "bucket": "cordial-exports", "region": "us-east-1",
                "path": path or f"tap-{uuid.uuid4().hex[:8]}", "aws_access_key_id": AWS_ACCESS_KEY_ID,
                "aws_secret_access_key": AWS_SECRET, "endpoint_url": self.s3_endpoint_url}

    def sftp_destination(self, password: str = SFTP_PASSWORD) -> dict[str, t.Any]:
        return {"type": "sftp", "server": "127.0.0.1", "port": self.sftp_port, "username": SFTP_USER,
                "password": password, "path": "exports"}

    def ftp_destination(self, password: str = FTP_PASSWORD, path: str = "exports") -> dict[str, t.Any]:
        return {"type": "ftp", "server": "127.0.0.1", "port": int(self.emulator.settings["ftp_port"]),
                "username": SFTP_USER, "password": password, "path": path}

    def gcs_destination(self, bucket: str = "cordial-exports", path: str | None = None) -> dict[str, t.Any]:
        """A GCS destination on the sandbox's server; the tap reads it anonymously, as the server allows."""
        return {"type": "gcs", "gcs_bucket": bucket, "path": path or f"tap-{uuid.uuid4().hex[:8]}",
                "endpoint_url": str(self.emulator.settings["gcs_endpoint_url"]), "gcs_token": "anon"}

    def export_requests(self) -> list[dict[str, t.Any]]:
        """The export requests (POST bodies) the emulator received, oldest first."""
        return [entry for entry in self.emulator.logged_requests("POST") if "export" in entry["path"]]

    def s3_keys(self, prefix: str) -> list[str]:
        assert self.emulator.destinations.s3 is not None
        listing = self.emulator.destinations.s3.client().list_objects_v2(Bucket="cordial-exports", Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]


def run(config: dict[str, t.Any], *streams: str, state: dict[str, t.Any] | None = None,
        catalog: dict[str, t.Any] | None = None) -> TapRun:
    """Run tap-cordial's CLI with only `streams` selected (all when none are named)."""
    if streams and catalog is None:
        catalog = select_streams(discover("tap-cordial", config), *streams)
    result = run_tap("tap-cordial", config, catalog=catalog, state=state, timeout=240)
    assert_no_secrets(result.stderr + json.dumps(result.states), SECRETS)
    return result


def ids(records: list[dict[str, t.Any]], key: str = "_id") -> list[str]:
    return [str(r[key]) for r in records]
