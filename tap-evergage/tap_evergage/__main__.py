"""`python -m tap_evergage`."""

from tap_evergage.tap import TapEvergage

TapEvergage.cli()
