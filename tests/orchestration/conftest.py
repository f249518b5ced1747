"""Fixtures of the orchestration tests: Meltano state in a real S3-protocol server, Dagster runs on a temp instance."""

from __future__ import annotations

import itertools
import typing as t
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
    JobExecutionResult,
    execute_job,
    instance_for_test,
)
from dagster import reconstructable as dagster_reconstructable
from sandbox.objectstores import LOCAL_S3_REGION, LocalS3Server

from tests.orchestration import jobs

STATE_PREFIX = "scale-out"


@dataclass
class StateStore:
    server: LocalS3Server
    #: moto keeps its buckets per process, not per server: every test gets a bucket of its own.
    bucket: str

    def env(self) -> dict[str, str]:
        """Meltano's S3 state backend settings, pointing at this server."""
        return {
            "MELTANO_STATE_BACKEND_URI": f"s3://{self.bucket}/{STATE_PREFIX}",
            "MELTANO_STATE_BACKEND_S3_ENDPOINT_URL": self.server.endpoint_url,
            "MELTANO_STATE_BACKEND_S3_AWS_ACCESS_KEY_ID": "sandbox",
            "MELTANO_STATE_BACKEND_S3_AWS_SECRET_ACCESS_KEY": "sandbox-secret",
            "AWS_DEFAULT_REGION": LOCAL_S3_REGION,
        }

    def state_ids(self) -> list[str]:
        """The state ID of every state object in the bucket (`PREFIX/STATE_ID/state.json`)."""
        listing = self.server.client().list_objects_v2(Bucket=self.bucket, Prefix=f"{STATE_PREFIX}/")
        keys = [item["Key"] for item in listing.get("Contents", [])]
        return sorted(key.split("/")[1] for key in keys if key.endswith("/state.json"))


@pytest.fixture
def state_store() -> Iterator[StateStore]:
    server = LocalS3Server().start()
    store = StateStore(server, f"meltano-state-{uuid.uuid4().hex[:12]}")
    server.create_bucket(store.bucket)
    try:
        yield store
    finally:
        server.stop()


@dataclass
class Orchestration:
    """Runs a tap's Dagster job (multiprocess executor) on a temporary instance and reads what happened."""

    instance: DagsterInstance

    def materialise(self, job_name: str, parts: t.Sequence[str] | None = None) -> RunRecord:
        job = dagster_reconstructable(getattr(jobs, job_name))
        selection = [AssetKey([job_name, part]) for part in parts] if parts else None
        result = execute_job(
            job, instance=self.instance, asset_selection=selection,
            run_config={"execution": {"config": {"max_concurrent": 2}}},
        )
        return RunRecord(self.instance, result)


@dataclass
class RunRecord:
    """What one Dagster run did, read from the instance's event log."""

    instance: DagsterInstance
    result: JobExecutionResult

    @property
    def entries(self) -> list[EventLogEntry]:
        return [e for e in self.instance.all_logs(self.result.run_id) if e.dagster_event is not None]

    def steps(self, event_type: DagsterEventType) -> Counter[str]:
        """How many events of `event_type` each step had (a step key is the asset key joined by `__`)."""
        return Counter(
            e.step_key for e in self.entries if e.dagster_event_type == event_type and e.step_key
        )

    def overlapping_steps(self) -> bool:
        """Whether two steps ran at the same time (one started before the other had finished)."""
        spans: dict[str, list[float]] = {}
        for entry in self.entries:
            bounds = (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS)
            if entry.step_key and entry.dagster_event_type in bounds:
                spans.setdefault(entry.step_key, []).append(entry.timestamp)
        intervals = sorted((min(times), max(times)) for times in spans.values())
        return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(intervals))

    def materialisations(self) -> dict[str, dict[str, t.Any]]:
        """Each materialised part's metadata, by part name (each part at most once)."""
        found: dict[str, dict[str, t.Any]] = {}
        for entry in self.entries:
            if entry.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION:
                materialization = entry.asset_materialization
                assert materialization is not None
                part = materialization.asset_key.path[-1]
                assert part not in found, f"{part} materialised twice"
                found[part] = {key: value.value for key, value in materialization.metadata.items()}
        return found


@pytest.fixture
def orchestration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Orchestration]:
    # The step processes inherit this environment, and with it where each part keeps its Meltano files.
    monkeypatch.setenv("ORCHESTRATION_MELTANO_DIR", str(tmp_path / "meltano"))
    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield Orchestration(instance)
