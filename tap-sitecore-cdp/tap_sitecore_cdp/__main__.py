"""`python -m tap_sitecore_cdp`."""

from tap_sitecore_cdp.tap import TapSitecoreCDP

TapSitecoreCDP.cli()
