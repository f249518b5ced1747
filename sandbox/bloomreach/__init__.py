"""The Bloomreach Engagement emulator: `routes` (the HTTP API), `data` (customers, segments, catalogs)
and `exports` (customer exports and analyses, streamed)."""

from sandbox.bloomreach.routes import BloomreachEmulator

__all__ = ["BloomreachEmulator"]
