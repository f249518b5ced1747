"""The Dagster code location: per tap, an asset group with one asset per part, a job, a daily schedule.

Each asset is one part of a tap (`orchestration.partitions`): materialising it runs one `meltano run`
for that part only, with the part's name as state ID suffix, into the loader ORCHESTRATION_LOADER
(default target-jsonl). A tap's job materialises all its parts; the multiprocess executor (or
dagster-k8s's executor: one pod per part) runs them side by side, and each part retries on its own.

Why one asset per part rather than one asset with Dagster partitions: Dagster runs each partition of
an asset as a run of its own, so a tap's daily sync would be a backfill of N runs; assets of one group
are steps of a single run, which one schedule starts, whose executor runs them in parallel, and whose
retry policy retries only the step that failed (docs/scale-out.md).
"""

import os
import sys
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    Backoff,
    Definitions,
    Jitter,
    MaterializeResult,
    PipesSubprocessClient,
    RetryPolicy,
    ScheduleDefinition,
    asset,
    define_asset_job,
    multiprocess_executor,
)

from orchestration.partitions import PROJECT_ROOT, SPLITS, Part, parts_of, slug

#: A failed part runs again, alone, after 10 s and then 20 s (a vendor outage, a lost connection).
RETRY_POLICY = RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
DAILY = "0 3 * * *"
#: Every run of a tap's job carries this tag with the tap's group as value; `orchestration/dagster.yaml`
#: queues a second run of the same job while one is in progress (two Meltano runs of one job at once
#: could both fail: README, "Two runs of one job at once").
JOB_TAG = "marketing-taps/job"


def loader() -> str:
    return os.environ.get("ORCHESTRATION_LOADER", "target-jsonl")


def run_env(part: Part, loader_name: str) -> dict[str, str]:
    """Where a part's files go, so that parallel runs on one machine share none.

    Meltano writes a plugin's catalog and config to `.meltano/run/<plugin>/`, one place for every run
    of that plugin, and keeps its system database (run records; state too with the default `systemdb`
    backend) in `.meltano/meltano.db`: parallel runs overwrite each other's catalog and race to create
    the database. So each part gets a Meltano system directory of its own, with the installed plugins
    linked in. target-jsonl writes one file per stream: each part gets a folder of its own. (The part's
    own settings are added by `orchestration.meltano_part`, after discovery.)
    """
    env: dict[str, str] = {}
    installed = Path(os.environ.get("MELTANO_SYS_DIR_ROOT", PROJECT_ROOT / ".meltano"))
    parts_root = Path(os.environ.get("ORCHESTRATION_MELTANO_DIR", installed / "orchestration"))
    sys_dir = parts_root / slug(part.tap) / part.name
    sys_dir.mkdir(parents=True, exist_ok=True)
    for plugins in ("extractors", "loaders"):
        if not (sys_dir / plugins).exists():
            (sys_dir / plugins).symlink_to(installed / plugins, target_is_directory=True)
    env["MELTANO_SYS_DIR_ROOT"] = str(sys_dir)
    if loader_name == "target-jsonl":
        base = Path(os.environ.get("TARGET_JSONL_DESTINATION_PATH", PROJECT_ROOT / "output" / "jsonl"))
        destination = base / slug(part.tap) / part.name
        destination.mkdir(parents=True, exist_ok=True)
        env["TARGET_JSONL_DESTINATION_PATH"] = str(destination)
    return env


def part_asset(part: Part, loader_name: str) -> AssetsDefinition:
    group = slug(part.tap)

    @asset(
        name=part.name,
        key_prefix=group,
        group_name=group,
        kinds={"meltano"},
        retry_policy=RETRY_POLICY,
        description=f"`meltano run --state-id-suffix={part.name} {part.tap} {loader_name}` with {part.env()}",
        metadata={"select": list(part.select), "settings": part.settings, "state_id_suffix": part.name},
    )
    def meltano_run(
        context: AssetExecutionContext, pipes_subprocess_client: PipesSubprocessClient
    ) -> MaterializeResult:
        return pipes_subprocess_client.run(
            context=context,
            command=[sys.executable, "-m", "orchestration.meltano_part", part.tap, loader_name, part.name],
            env=run_env(part, loader_name),
            cwd=str(PROJECT_ROOT),
        ).get_materialize_result()

    return meltano_run


def build_definitions() -> Definitions:
    assets, jobs, schedules = [], [], []
    loader_name = loader()
    for tap in SPLITS:
        group = slug(tap)
        assets += [part_asset(part, loader_name) for part in parts_of(tap)]
        job = define_asset_job(
            group, selection=AssetSelection.groups(group), description=f"Every part of {tap}", tags={JOB_TAG: group}
        )
        jobs.append(job)
        schedules.append(ScheduleDefinition(name=f"{group}_daily", job=job, cron_schedule=DAILY))
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        executor=multiprocess_executor,
        resources={"pipes_subprocess_client": PipesSubprocessClient()},
    )


defs = build_definitions()
