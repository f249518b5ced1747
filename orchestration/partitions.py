"""How each tap's work splits into parts that run as Meltano runs of their own, taken from its settings.

A part narrows the tap to some streams and, where the tap has a natural unit (an Evergage dataset, a
Sitecore audience export, a Bloomreach segment), to one value of the setting that lists those units.
Each tap also gets one part, `other_streams`, for every stream no split names, so that the parts
together select exactly what one un-partitioned `meltano run` selects.

Settings are read as Meltano resolves them, from `meltano.yml` (the plugin, then the active
environment) and `TAP_<NAME>_<SETTING>` environment variables, without starting Meltano: this module
runs whenever Dagster loads the code location, in the webserver, the daemon and every run worker.
"""

from __future__ import annotations

import json
import os
import re
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OTHER_STREAMS = "other_streams"

Settings = Mapping[str, t.Any]
#: The settings of each part of a split, keyed by the part's label: {"engage": {"datasets": ["engage"]}}.
PartSettings = Callable[[Settings], dict[str, dict[str, t.Any]]]


@dataclass(frozen=True)
class Part:
    """One Meltano run's share of a tap: which streams, with which settings changed."""

    tap: str
    #: Dagster asset name and Meltano state ID suffix (`users__engage`): letters, digits, underscores.
    name: str
    #: Meltano `select` patterns for this part.
    select: tuple[str, ...]
    settings: dict[str, t.Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment that makes `meltano run` do this part only (Meltano's setting variables)."""
        return {**self.select_env(), **self.settings_env()}

    def select_env(self) -> dict[str, str]:
        """This part's streams, as Meltano's `select` extra (`TAP_<NAME>__SELECT`)."""
        return {f"{env_prefix(self.tap)}__SELECT": json.dumps(list(self.select))}

    def settings_env(self) -> dict[str, str]:
        """The settings this part narrows, as `TAP_<NAME>_<SETTING>` variables."""
        prefix = env_prefix(self.tap)
        return {
            f"{prefix}_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in self.settings.items()
        }


@dataclass(frozen=True)
class Split:
    """Streams that run apart from the rest: as one part, or one part per value of `parts`."""

    name: str
    streams: tuple[str, ...]
    parts: PartSettings | None = None


def each(setting: str, *, default: t.Sequence[str] = (), unset_means_all: bool = False) -> PartSettings:
    """One part per item of a list setting, each with the list narrowed to that item.

    With `unset_means_all` an empty list is a single part with the setting as it is (e.g. Bloomreach's
    `catalog_ids`: empty means every catalog); otherwise an empty list means no part (e.g. Evergage's
    `segments`: nothing to export).
    """

    def parts(settings: Settings) -> dict[str, dict[str, t.Any]]:
        values = [str(v) for v in settings.get(setting) or default]
        if not values and unset_means_all:
            return {"": {}}
        return {value: {setting: [value]} for value in values}

    return parts


def bloomreach_segments(settings: Settings) -> dict[str, dict[str, t.Any]]:
    """Customers by segment of one segmentation: indexes 0..n-1 and -1 (in no segment), so the union is all.

    The tap cannot list a segmentation's segments, so the orchestration is told which segmentation and
    how many segments it has (ORCHESTRATION_BLOOMREACH_SEGMENTATION_ID, _SEGMENT_COUNT). Without them,
    or when the tap is set to one segment already, customers are one part.
    """
    segmentation = os.environ.get("ORCHESTRATION_BLOOMREACH_SEGMENTATION_ID")
    count = os.environ.get("ORCHESTRATION_BLOOMREACH_SEGMENT_COUNT")
    if not segmentation or not count or settings.get("segmentation_id"):
        return {"": {}}
    return {
        ("no_segment" if index < 0 else f"segment_{index}"): {"segmentation_id": segmentation, "segment_index": index}
        for index in range(-1, int(count))
    }


SPLITS: dict[str, list[Split]] = {
    "tap-evergage": [
        Split("users", ("users",), each("datasets", default=["engage"])),
        Split("segment_members", ("segment_members",), each("segments")),
    ],
    "tap-sitecore-cdp": [
        Split("audience_exports", ("audience_export_jobs", "audience_export_records"), each("audience_exports")),
    ],
    "tap-cordial": [
        *(Split(stream, (stream,)) for stream in ("contacts", "contact_activities", "orders", "products")),
        Split("audience_trends", ("audience_trends",), each("audiences")),
    ],
    "tap-bloomreach": [
        Split("customers", ("customers",), bloomreach_segments),
        Split("catalogs", ("catalogs", "catalog_items"), each("catalog_ids", unset_means_all=True)),
    ],
}


def part_named(tap: str, name: str) -> Part:
    for part in parts_of(tap):
        if part.name == name:
            return part
    raise KeyError(f"{tap} has no part {name}; its parts are: {', '.join(p.name for p in parts_of(tap))}")


def parts_of(tap: str) -> list[Part]:
    """Every part of `tap` for its current settings (unique names: they are asset keys and state IDs)."""
    settings = TapSettings(tap)
    parts: list[Part] = []
    for split in SPLITS[tap]:
        select = tuple(f"{stream}.*" for stream in split.streams)
        for label, changes in (split.parts(settings) if split.parts else {"": {}}).items():
            name = f"{split.name}__{slug(label)}" if label else split.name
            parts.append(Part(tap, name, select, changes))
    covered = [stream for split in SPLITS[tap] for stream in split.streams]
    rest = (*settings.select, *(f"!{stream}.*" for stream in covered))
    parts.append(Part(tap, OTHER_STREAMS, rest))
    names = [part.name for part in parts]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"{tap}: two parts would share the name {', '.join(duplicates)}; rename a setting value")
    return parts


class TapSettings(Mapping[str, t.Any]):
    """A tap's settings as Meltano resolves them: environment variable, active environment, plugin."""

    def __init__(self, tap: str, project_file: Path = PROJECT_ROOT / "meltano.yml") -> None:
        project = yaml.safe_load(project_file.read_text())
        environment = os.environ.get("MELTANO_ENVIRONMENT") or project.get("default_environment")
        self.tap = tap
        self._plugin = _named(project["plugins"]["extractors"], tap)
        self._values: dict[str, t.Any] = dict(self._plugin.get("config") or {})
        for env in project.get("environments") or []:
            if env["name"] == environment:
                extractors = ((env.get("config") or {}).get("plugins") or {}).get("extractors") or []
                self._values.update(_named(extractors, tap, missing_ok=True).get("config") or {})

    def __getitem__(self, name: str) -> t.Any:
        raw = os.environ.get(f"{env_prefix(self.tap)}_{name.upper()}")
        if raw is None:
            return self._values[name]
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def select(self) -> list[str]:
        raw = os.environ.get(f"{env_prefix(self.tap)}__SELECT")
        return list(json.loads(raw) if raw else self._plugin.get("select") or ["*.*"])


def env_prefix(plugin: str) -> str:
    """Meltano's environment variable prefix of a plugin: tap-sitecore-cdp -> TAP_SITECORE_CDP."""
    return plugin.upper().replace("-", "_")


def slug(value: str) -> str:
    """A setting value as a name part: `High Value` -> `high_value` (asset names allow [A-Za-z0-9_])."""
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "_"


def _named(plugins: list[dict[str, t.Any]], name: str, *, missing_ok: bool = False) -> dict[str, t.Any]:
    for plugin in plugins:
        if plugin["name"] == name:
            return plugin
    if missing_ok:
        return {}
    raise KeyError(f"meltano.yml has no extractor {name}")
