"""The Sitecore CDP emulator: `routes` (OAuth, the Guest REST API, the Audience export API), `data`
(guests, data extensions, orders) and `exports` (audience export jobs, their files and listings)."""

from sandbox.sitecore_cdp.routes import SitecoreCDPEmulator

__all__ = ["SitecoreCDPEmulator"]
