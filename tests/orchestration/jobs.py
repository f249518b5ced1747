"""Module-level job factories: the multiprocess executor rebuilds a job in each step's process from these."""

from __future__ import annotations

from dagster import JobDefinition

from orchestration.definitions import build_definitions


def job(name: str) -> JobDefinition:
    return build_definitions().resolve_job_def(name)


def tap_evergage() -> JobDefinition:
    return job("tap_evergage")


def tap_bloomreach() -> JobDefinition:
    return job("tap_bloomreach")


def tap_sitecore_cdp() -> JobDefinition:
    return job("tap_sitecore_cdp")
