"""What the tap-sitecore-cdp tests share: emulator credentials, configs and a sync helper."""

from __future__ import annotations

import copy
import typing as t

from sandbox.sitecore_cdp import SitecoreCDPEmulator
from tests.support import TapRun, discover, run_tap, select_streams

TAP = "tap-sitecore-cdp"
OAUTH = {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret-7d1e"}
BASIC = {"client_key": "sandbox-client-key", "api_token": "sandbox-api-token-5b9a"}
SECRETS = [*OAUTH.values(), *BASIC.values()]
RECORDS = "audience_export_records"
JOBS = "audience_export_jobs"
FILE_ROUTE = (
    r"GET /sitecore-cdp-exports/(?P<client_key>[^/]+)/(?P<export>[^/]+)/(?P<execution_ref>[^/]+)/(?P<name>[^/]+)"
)
LISTING_ROUTE = r"GET /v2/audienceExports/executions/(?P<execution_ref>[^/]+)/export"
REPORTS_ROUTE = r"GET /v2/audienceExports/definitions/(?P<ref>[^/]+)/reports"
TOKEN_ROUTE = "POST /oauth/token"
GUESTS_ROUTE = "GET /v2.1/guests"


def config_for(base_url: str, **extra: t.Any) -> dict[str, t.Any]:
    """A config with both credential pairs and the two exports of meltano.yml's sandbox environment."""
    return {
        "api_url": base_url,
        "auth_url": f"{base_url}/oauth/token",
        **OAUTH,
        **BASIC,
        "audience_exports": ["weekly-vip-export", "daily-delta-export"],
        "max_retries": 2,
        **extra,
    }


def catalog_for(config: dict[str, t.Any], *streams: str) -> dict[str, t.Any]:
    return select_streams(discover(TAP, config), *streams)


def selected(catalog: dict[str, t.Any], *streams: str) -> dict[str, t.Any]:
    """A copy of `catalog` with exactly `streams` selected."""
    return select_streams(copy.deepcopy(catalog), *streams)


def expected_keys(model: SitecoreCDPEmulator, *exports: str) -> set[tuple[str, int, int]]:
    """Every (execution_ref, file_index, row_number) the emulator's jobs with output hold."""
    keys = set()
    for name in exports:
        for job in model.jobs_of(model.export_by_ref(name)):
            if job.has_output:
                for index, file in enumerate(job.files):
                    keys.update((job.execution_ref, index, row) for row in range(1, file.rows + 1))
    return keys


def sync(config: dict[str, t.Any], catalog: dict[str, t.Any], state: dict[str, t.Any] | None = None,
         *, expect_success: bool = True) -> TapRun:
    run = run_tap(TAP, config, catalog=catalog, state=state)
    if expect_success:
        assert run.returncode == 0, run.stderr[-4000:]
    return run


def record_keys(run: TapRun) -> list[tuple[str, int, int]]:
    return [(r["execution_ref"], r["file_index"], r["row_number"]) for r in run.records(RECORDS)]
