"""The Singer SDK's standard tap tests, run against an emulator that a module-scoped fixture starts.

The SDK makes its test class when the test module is imported and parametrises the tests by stream and
property right then, so it needs the tap's catalog before any fixture exists. `standard_test_class`
therefore discovers the catalog from an emulator that lives only while the class is made. The tests
themselves sync from the emulator of the class's module-scoped `standard_emulator` fixture, started
when the module's tests begin and stopped after them, with the same settings: the same records and the
same schemas as at discovery.
"""

from __future__ import annotations

import contextlib
import typing as t

import pytest
from singer_sdk.testing import get_tap_test_class
from singer_sdk.testing.runners import TapTestRunner

from tests.support import assert_contract_kept, start_emulator

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk import Tap

    from sandbox.framework import RunningEmulator

ConfigFor = t.Callable[["RunningEmulator"], dict[str, t.Any]]


@contextlib.contextmanager
def running(vendor: str, settings: dict[str, t.Any]) -> Iterator[RunningEmulator]:
    server = start_emulator(vendor, **settings)
    try:
        yield server
    finally:
        server.stop()
    assert_contract_kept(f"the {vendor} emulator of the standard tests")  # discovery runs at collection


def standard_test_class(
    tap_class: type[Tap], vendor: str, settings: dict[str, t.Any], config_for: ConfigFor, *,
    select_every_stream: bool = False,
) -> type:
    """The SDK's standard test class for `tap_class` against `vendor`'s emulator with `settings`.

    `select_every_stream` hands the tap a catalog with every stream selected, those it leaves off by
    default included, so that the standard tests cover them too; otherwise the tap discovers its own.
    """
    with running(vendor, settings) as discovery:
        config = config_for(discovery)
        catalog = _every_stream_selected(tap_class(config=config).catalog_dict) if select_every_stream else None
        base = get_tap_test_class(tap_class=tap_class, config=config, catalog=catalog)

    class StandardTests(base):  # type: ignore[misc,valid-type]
        @pytest.fixture(scope="module")
        def standard_emulator(self) -> Iterator[RunningEmulator]:
            """The emulator the module's standard tests read, running while they run."""
            with running(vendor, settings) as server:
                yield server

        @pytest.fixture(scope="class")
        def runner(self, standard_emulator: RunningEmulator) -> TapTestRunner:
            """The SDK's runner, pointed at the fixture's emulator; it syncs every stream once."""
            options: dict[str, t.Any] = {"catalog": catalog} if catalog is not None else {}
            test_runner = TapTestRunner(
                tap_class, config=config_for(standard_emulator), parse_env_config=True, **options
            )
            test_runner.sync_all()
            return test_runner

    return StandardTests


def _every_stream_selected(catalog: dict[str, t.Any]) -> dict[str, t.Any]:
    for stream in catalog["streams"]:
        for item in stream["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = True
    return catalog
