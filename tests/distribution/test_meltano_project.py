"""A user's own Meltano project adds every tap from its plugin.yml and runs it, outside this repository."""

from __future__ import annotations

import json
import os
import subprocess
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.distribution.support import KIT, TAP_PROFILES, rows_by_key, wheel
from tests.support import REPO, VENV_BIN

pytestmark = pytest.mark.e2e

TARGET_JSONL = {
    "name": "target-jsonl",
    "namespace": "target_jsonl",
    "pip_url": "target-jsonl==0.1.4",  # as in the repository's meltano.yml
    "settings": [{"name": "destination_path", "kind": "string"}, {"name": "do_timestamp_file", "kind": "boolean"}],
    "config": {"do_timestamp_file": False},
}


def user_meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(VENV_BIN / "meltano"), *args], cwd=project, capture_output=True, text=True, check=False, timeout=900,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})},
    )
    assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stderr[-5000:]}"
    return done


def tap_env(tap: str, config: dict[str, t.Any]) -> dict[str, str]:
    """`config` as the environment variables Meltano reads settings from (`TAP_X_SETTING`, JSON for non-text)."""
    prefix = tap.upper().replace("-", "_")
    return {f"{prefix}_{key.upper()}": v if isinstance(v, str) else json.dumps(v) for key, v in config.items()}


def test_meltano_adds_each_tap_from_its_plugin_yml_installs_the_wheels_and_runs_it_into_jsonl(
    built_dist: Path, tmp_path: Path, emulator
) -> None:
    user_meltano(tmp_path, "init", "project", "--no_usage_stats")
    project = tmp_path / "project"
    for tap in sorted(TAP_PROFILES):
        definition = REPO / tap / "plugin.yml"
        user_meltano(project, "add", tap, "--from-ref", str(definition), "--no-install")
        # What the README tells a user: --from-ref keeps the definition but not its default selection.
        select = yaml.safe_load(definition.read_text())["select"]
        user_meltano(project, "config", "set", tap, "_select", json.dumps(select))

    meltano_yml = project / "meltano.yml"
    document = yaml.safe_load(meltano_yml.read_text())
    assert {e["name"] for e in document["plugins"]["extractors"]} == set(TAP_PROFILES)
    assert "utilities" not in document["plugins"], "`meltano add` took a word for a plugin"
    for extractor in document["plugins"]["extractors"]:
        assert extractor["pip_url"] == extractor["name"], "plugin.yml installs the published package"
        extractor["pip_url"] = f"{wheel(built_dist, KIT)} {wheel(built_dist, extractor['name'])}"
    document["plugins"]["loaders"] = [TARGET_JSONL]
    document["venv"] = {"backend": "uv"}
    meltano_yml.write_text(yaml.safe_dump(document, sort_keys=False))
    user_meltano(project, "install")

    for tap, profile in sorted(TAP_PROFILES.items()):
        server = emulator(profile.vendor, **profile.emulator_settings)
        out = tmp_path / "jsonl" / tap
        out.mkdir(parents=True)
        env = {
            **tap_env(tap, profile.config(server.base_url)),
            **profile.emulator_env(server.emulator),
            "TARGET_JSONL_DESTINATION_PATH": str(out),
        }
        user_meltano(project, "run", tap, "target-jsonl", env=env)

        def records(stream: str, out: Path = out) -> list[dict[str, t.Any]]:
            path = out / f"{stream}.jsonl"
            return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

        assert rows_by_key(profile, records) == profile.expected_rows(profile.emulator_settings), tap
        server.stop()
