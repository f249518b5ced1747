"""The parts each tap splits into, from its settings; and the code location built from them (no runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance

from orchestration.definitions import JOB_TAG, RETRY_POLICY, build_definitions
from orchestration.partitions import PROJECT_ROOT as REPO
from orchestration.partitions import SPLITS, parts_of


def test_evergage_parts_follow_the_datasets_and_segments_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP_EVERGAGE_DATASETS", '["engage", "web shop"]')
    parts = {part.name: part for part in parts_of("tap-evergage")}
    assert sorted(parts) == [
        "other_streams", "segment_members__cart_abandoners", "segment_members__high_value",  # meltano.yml
        "users__engage", "users__web_shop",
    ]
    assert parts["users__web_shop"].env() == {
        "TAP_EVERGAGE__SELECT": '["users.*"]', "TAP_EVERGAGE_DATASETS": '["web shop"]',
    }
    assert parts["segment_members__high_value"].settings == {"segments": ["High Value"]}


def test_the_other_streams_part_selects_what_meltano_yml_selects_minus_every_split() -> None:
    other = next(part for part in parts_of("tap-sitecore-cdp") if part.name == "other_streams")
    assert other.select == ("*.*", "!orders.*", "!audience_export_jobs.*", "!audience_export_records.*")
    assert other.settings == {}


def test_bloomreach_customers_split_into_every_segment_and_those_in_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [p.name for p in parts_of("tap-bloomreach")] == ["customers", "catalogs", "other_streams"]
    monkeypatch.setenv("ORCHESTRATION_BLOOMREACH_SEGMENTATION_ID", "seg1")
    monkeypatch.setenv("ORCHESTRATION_BLOOMREACH_SEGMENT_COUNT", "2")
    monkeypatch.setenv("TAP_BLOOMREACH_CATALOG_IDS", '["c1", "c2"]')
    parts = {part.name: part for part in parts_of("tap-bloomreach")}
    customers = {name: part.settings for name, part in parts.items() if name.startswith("customers")}
    assert customers == {
        "customers__no_segment": {"segmentation_id": "seg1", "segment_index": -1},
        "customers__segment_0": {"segmentation_id": "seg1", "segment_index": 0},
        "customers__segment_1": {"segmentation_id": "seg1", "segment_index": 1},
    }
    assert parts["customers__no_segment"].env()["TAP_BLOOMREACH_SEGMENT_INDEX"] == "-1"
    assert parts["catalogs__c2"].select == ("catalogs.*", "catalog_items.*")


def test_two_values_that_would_share_a_part_name_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP_CORDIAL_AUDIENCES", '["VIP customers", "vip-customers"]')
    with pytest.raises(ValueError, match="audience_trends__vip_customers"):
        parts_of("tap-cordial")


def test_each_tap_has_a_job_a_daily_schedule_and_a_retry_policy_on_every_part() -> None:
    defs = build_definitions()
    for tap in SPLITS:
        group = tap.replace("-", "_")
        job = defs.resolve_job_def(group)
        assert defs.resolve_schedule_def(f"{group}_daily").cron_schedule == "0 3 * * *"
        parts = {part.name for part in parts_of(tap)}
        assets = [a for a in defs.resolve_all_asset_specs() if a.key.path[0] == group]
        assert {a.key.path[1] for a in assets} == parts
        assert all(node.definition.retry_policy == RETRY_POLICY for node in job.graph.node_dict.values())


def test_the_shipped_instance_runs_one_run_of_a_job_at_a_time(tmp_path: Path) -> None:
    """Two Meltano runs of one job at once can both fail (README): Dagster queues the second instead."""
    defs = build_definitions()
    for tap in SPLITS:
        group = tap.replace("-", "_")
        assert defs.resolve_job_def(group).tags.get(JOB_TAG) == group
    shutil.copyfile(REPO / "orchestration" / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert limits == [{"key": JOB_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
