"""Fixtures shared by every test module."""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Iterator

import pytest

from sandbox.framework import RunningEmulator
from tests.postgres import PostgresServer, start_postgres
from tests.reliability.matrix import configure_matrix, print_matrix
from tests.support import start_emulator


@pytest.fixture
def emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """A factory: `emulator("evergage", scale=10)` starts one on a free port, stopped after the test."""
    started: list[RunningEmulator] = []

    def start(vendor: str, **settings: t.Any) -> RunningEmulator:
        server = start_emulator(vendor, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server (initdb + pg_ctl on a free port), stopped at the end of the session."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


def pytest_configure(config: pytest.Config) -> None:
    configure_matrix()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    print_matrix(terminalreporter)
