"""Run tap-cordial: `python -m tap_cordial`."""

from tap_cordial.tap import TapCordial

TapCordial.cli()
