"""What the tap-bloomreach tests share: emulator settings, tap config, catalogs, CLI runs."""

from __future__ import annotations

import base64
import typing as t
from collections.abc import Callable

import pytest
from tap_bloomreach.tap import TapBloomreach

from sandbox.framework import RunningEmulator
from tests.support import Admin, TapRun, assert_no_secrets, run_tap, select_streams

KEY_ID = "sandbox-bloomreach-key-id"
SECRET = "sandbox-bloomreach-secret-92ab"
TOKEN = "sandbox-project-token"
SECRETS = (KEY_ID, SECRET, base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode())
PROJECT_PATH = f"/data/v2/projects/{TOKEN}"
SEGMENTATION_ID = "606488856f8cf6f848b20af8"
PRODUCTS_ID = "5b69de5bc0e6a1000e7f0b51"


def tap_config(server: RunningEmulator, **extra: t.Any) -> dict[str, t.Any]:
    """Config for a tap talking to `server`, quick to give up (tests inject failures on purpose)."""
    return {
        "api_url": server.base_url,
        "project_token": TOKEN,
        "api_key_id": KEY_ID,
        "api_secret": SECRET,
        "max_retries": 2,
        "request_timeout": 20,
        **extra,
    }


def catalog_for(config: dict[str, t.Any], *streams: str) -> dict[str, t.Any]:
    """The tap's discovered catalog (discovery run in-process, over HTTP) with `streams` selected."""
    catalog = TapBloomreach(config=config, parse_env_config=False, setup_mapper=False).catalog_dict
    return select_streams(catalog, *streams)


def sync(config: dict[str, t.Any], *streams: str, catalog: dict[str, t.Any] | None = None,
         state: dict[str, t.Any] | None = None) -> TapRun:
    """Run the real CLI for `streams`; every run's stderr is checked for secrets."""
    run = run_tap("tap-bloomreach", config, catalog=catalog or catalog_for(config, *streams), state=state,
                  timeout=120)
    assert_no_secrets(run.stderr + run.stdout_text, SECRETS)
    return run


def export_requests(server: RunningEmulator) -> int:
    """How many times the emulator has answered `customers/export` (discovery's samples included)."""
    routes = Admin(server.base_url).requests_by_route()
    return sum(count for route, count in routes.items() if route.endswith("/customers/export"))


def message_types(run: TapRun, stream: str) -> list[str]:
    """The Singer message types written for `stream`, in order."""
    return [m["type"] for m in run.messages if m.get("stream") == stream]


@pytest.fixture
def bloomreach(emulator: Callable[..., RunningEmulator]) -> Callable[..., RunningEmulator]:
    """A factory: `bloomreach(scale=10, extra_properties=[...])` starts an emulator for one test."""
    return lambda **settings: emulator("bloomreach", **settings)
