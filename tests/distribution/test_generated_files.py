"""plugin.yml and the README settings tables say what the taps say about themselves (`make plugins` fixes them)."""

from __future__ import annotations

import pytest
import yaml

from scripts.generate_plugin_definitions import TAPS, TapInfo, plugin_yml, readme_with_settings
from tests.support import REPO

FIX = "differs from `{tap} --about`: run `make plugins` (scripts/generate_plugin_definitions.py) and commit it"
each_tap = pytest.mark.parametrize("info", TAPS, ids=lambda info: info.name)


@each_tap
def test_plugin_yml_matches_the_taps_about(info: TapInfo) -> None:
    assert (REPO / info.name / "plugin.yml").read_text() == plugin_yml(info), "plugin.yml " + FIX.format(tap=info.name)


@each_tap
def test_readme_settings_table_matches_the_taps_about(info: TapInfo) -> None:
    readme = (REPO / info.name / "README.md").read_text()
    assert readme == readme_with_settings(info, readme), "README.md " + FIX.format(tap=info.name)


@each_tap
def test_repository_meltano_yml_selects_what_plugin_yml_selects(info: TapInfo) -> None:
    """The project's own extractors keep the taps' default selection too (Meltano selects all otherwise)."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    (extractor,) = (e for e in project["plugins"]["extractors"] if e["name"] == info.name)
    definition = yaml.safe_load((REPO / info.name / "plugin.yml").read_text())
    assert extractor.get("select", ["*.*"]) == definition["select"]
