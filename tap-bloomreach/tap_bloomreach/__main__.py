"""`python -m tap_bloomreach`."""

from tap_bloomreach.tap import TapBloomreach

TapBloomreach.cli()
