"""Local emulators of the vendor APIs our taps read, for tests, benchmarks and the demo.

`python -m sandbox up` starts every emulator; see `sandbox.framework` for how they are built.
"""

from __future__ import annotations

import importlib
import typing as t

if t.TYPE_CHECKING:
    from sandbox.framework import Emulator

#: vendor name -> "module:class". A vendor whose module is not written yet is simply not offered.
VENDORS: dict[str, str] = {
    "evergage": "sandbox.evergage:EvergageEmulator",
    "sitecore-cdp": "sandbox.sitecore_cdp:SitecoreCDPEmulator",
    "cordial": "sandbox.cordial:CordialEmulator",
    "bloomreach": "sandbox.bloomreach:BloomreachEmulator",
}


def emulator_class(vendor: str) -> type[Emulator]:
    """The emulator class for `vendor` (raises KeyError or ImportError if there is none)."""
    module_name, _, class_name = VENDORS[vendor].partition(":")
    return t.cast("type[Emulator]", getattr(importlib.import_module(module_name), class_name))


def available_vendors() -> list[str]:
    """The vendors whose emulator module exists."""
    found = []
    for vendor in VENDORS:
        try:
            emulator_class(vendor)
        except ModuleNotFoundError:
            continue
        found.append(vendor)
    return found
