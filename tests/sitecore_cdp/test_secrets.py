"""No credential, token or presigned signature reaches stderr or state, even at DEBUG and through failures."""

from __future__ import annotations

import base64
import json

from tests.sitecore_cdp.helpers import BASIC, JOBS, RECORDS, SECRETS, config_for, selected, sync
from tests.support import Admin, assert_no_secrets, run_tap


def _scan(text: str) -> None:
    basic_pair = base64.b64encode(f"{BASIC['client_key']}:{BASIC['api_token']}".encode()).decode()
    assert_no_secrets(text, [*SECRETS, basic_pair])
    for marker in ("eyJ", "X-Amz-Signature", "X-Amz-Date=", "X-Amz-Expires=", "access_token\":"):
        assert marker not in text, f"{marker} leaked"


def test_debug_run_through_refreshes_and_retries_leaks_nothing(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=400, max_rows_per_file=150, token_max_requests=3, expired_listings=1)
    # Five times: the first job's three files (downloaded ahead together) are refused, their URLs expired,
    # before any byte of them would be dropped; then two downloads under fresh URLs are dropped.
    Admin(server.base_url).faults({"kind": "drop", "path": "sitecore-cdp-exports", "after_bytes": 3000, "times": 5})
    run = run_tap(
        "tap-sitecore-cdp", config_for(server.base_url, guest_page_size=50),
        catalog=selected(catalog, JOBS, RECORDS, "guests", "guest_data_extensions"), env={"LOGLEVEL": "DEBUG"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "presigned URL has expired" in run.stderr and "rejected the access token" in run.stderr
    assert "resuming after the last row read" in run.stderr
    assert "sitecore-cdp-exports" in run.stderr, "DEBUG logs the downloads; only their signatures are hidden"
    _scan(run.stderr)
    for state in run.states:
        _scan(json.dumps(state))


def test_failed_run_leaks_nothing_in_its_error(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=50, expired_listings=100)
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"]), selected(catalog, RECORDS),
               expect_success=False)
    assert run.returncode != 0
    _scan(run.stderr)
    for state in run.states:
        _scan(json.dumps(state))


def test_bad_secret_is_not_echoed_in_the_error(emulator) -> None:
    server = emulator("sitecore-cdp", scale=5)
    run = run_tap("tap-sitecore-cdp", config_for(server.base_url, client_secret="wrong-secret-value"),
                  extra_args=["--discover"], env={"LOGLEVEL": "DEBUG"})
    assert run.returncode != 0
    assert_no_secrets(run.stderr, ["wrong-secret-value", BASIC["api_token"]])
