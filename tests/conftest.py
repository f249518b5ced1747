"""Fixtures shared by every test module."""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Iterator

import pytest

from sandbox.framework import RunningEmulator
from tests.postgres import PostgresServer, start_postgres
from tests.reliability.matrix import configure_matrix, print_matrix
from tests.support import assert_contract_kept, contract_violations, start_emulator


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


#: Folders whose tests drive `meltano` (its plugin venvs keep the pinned SDK, so `make test-next-sdk`
#: deselects them with `-m "not e2e"`); modules elsewhere mark themselves.
MELTANO_SUITES = ("e2e", "distribution", "orchestration")


def pytest_configure(config: pytest.Config) -> None:
    configure_matrix()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent.name in MELTANO_SUITES:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> t.Iterator[None]:
    """A request that a fixture's tap run sent and the vendor's API file refuses fails the test's setup."""
    yield
    assert_contract_kept(f"setting up {item.nodeid}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> t.Iterator[None]:
    """A request the test caused that the vendor's API file refuses (or a response it refuses) fails it."""
    try:
        yield
    except BaseException as error:  # the test failed anyway: say what the file refused beside it
        if violations := contract_violations():
            error.add_note("The vendor's API file also refuses:\n" + "\n".join(f"- {v}" for v in violations))
        raise
    assert_contract_kept(item.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    print_matrix(terminalreporter)
