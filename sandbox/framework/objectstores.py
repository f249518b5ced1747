"""Real object stores on loopback, for export destinations: an S3-compatible server and an SFTP server.

Cordial's export jobs never hand back a download link; they write files into a bucket or onto an SFTP
server that the customer owns (spec cordial.md §8.1). To test that path for real, the emulator writes
export files into these servers over their real protocols, and the tap reads them back through the
same fsspec code it uses against AWS or a customer's SFTP host.

- `LocalS3Server`: moto's S3 implementation in server mode (HTTP on a loopback port). It accepts any
  access key, as moto does; buckets are created with `create_bucket`.
- `LocalSFTPServer`: an asyncssh SSH server offering only the SFTP subsystem, password authentication
  against a fixed user table, every user chrooted into one directory on disk.

Both run in daemon threads, bind to free ports when given port 0, and stop cleanly with `stop()`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
import typing as t
from pathlib import Path

import asyncssh
import boto3
from moto.server import ThreadedMotoServer

LOGGER = logging.getLogger("sandbox.objectstores")

#: Region the local S3 server pretends to be in (any value works with moto).
LOCAL_S3_REGION = "us-east-1"


class LocalS3Server:
    """moto's S3 on `127.0.0.1:port` (0 = a free port)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> LocalS3Server:
        # werkzeug logs every request at INFO: keep it out of the sandbox's output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self, access_key: str = "sandbox", secret_key: str = "sandbox-secret") -> t.Any:  # noqa: S107
        """A boto3 S3 client for this server."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=LOCAL_S3_REGION,
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        if name not in existing:
            client.create_bucket(Bucket=name)


class LocalSFTPServer:
    """An SFTP-only SSH server on `127.0.0.1:port` with password users, chrooted into `root`."""

    def __init__(
        self,
        users: dict[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        root: str | Path | None = None,
    ) -> None:
        self.users = dict(users)
        self.host = host
        self.port = port
        self._owns_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="sandbox-sftp-"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: t.Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._connections: list[t.Any] = []

    def start(self) -> LocalSFTPServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="sandbox-sftp", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError(f"the SFTP server did not start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            async def close() -> None:
                self._server.close()
                for connection in list(self._connections):
                    connection.close()
                await self._server.wait_closed()
                await asyncio.sleep(0.05)  # let the closed sessions' tasks finish

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def local_path(self, remote_path: str) -> Path:
        """Where a path as SFTP clients see it lives on disk."""
        return self.root / remote_path.lstrip("/")

    def _run(self) -> None:
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        users = self.users
        root = str(self.root).encode()
        connections = self._connections

        class PasswordOnlyServer(asyncssh.SSHServer):
            def connection_made(self, conn: t.Any) -> None:
                connections.append(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                connections[:] = [c for c in connections if not c.is_closed()]

            def begin_auth(self, username: str) -> bool:
                return True  # every login must authenticate

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username in users and users[username] == password

        async def serve() -> None:
            key = asyncssh.generate_private_key("ssh-ed25519")
            self._server = await asyncssh.create_server(
                PasswordOnlyServer,
                self.host,
                self.port,
                server_host_keys=[key],
                sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=root),
                allow_scp=False,
            )
            self.port = self._server.sockets[0].getsockname()[1]

        try:
            loop.run_until_complete(serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
