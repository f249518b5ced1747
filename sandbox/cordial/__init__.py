"""The Cordial emulator: `routes` (the REST API v2), `data` (contacts, events, orders, products,
supplements), `exports` (export requests and jobs), `destinations` (the S3, GCS, SFTP and FTP servers the jobs
write their files to) and `filters` (bracket time filters)."""

from sandbox.cordial.routes import CordialEmulator

__all__ = ["CordialEmulator"]
