"""Fixtures for tap-cordial: a Cordial emulator with its real S3 and SFTP servers, and tap settings for it."""

from __future__ import annotations

import typing as t
from collections.abc import Callable

import pytest

from sandbox.framework import RunningEmulator
from tests.cordial.support import CordialSandbox


@pytest.fixture
def cordial(emulator: Callable[..., RunningEmulator]) -> Callable[..., CordialSandbox]:
    """A factory: `cordial(scale=20, job_outcomes=...)` starts the emulator, its S3 and SFTP servers."""

    def start(**settings: t.Any) -> CordialSandbox:
        return CordialSandbox(emulator("cordial", **{**CordialSandbox.FAST_JOBS, **settings}))

    return start


@pytest.fixture
def sandbox(cordial: Callable[..., CordialSandbox]) -> CordialSandbox:
    """The emulator at a small scale."""
    return cordial(scale=30)
