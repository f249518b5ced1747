"""The Marketing Cloud Personalization (Evergage) emulator: `routes` (the HTTP API), `data` (users,
accounts, segments, audit events) and `exports` (the JSON and CSV export bodies)."""

from sandbox.evergage.routes import EvergageEmulator

__all__ = ["EvergageEmulator"]
