"""Where Cordial's export jobs put their files: the customer's S3 or GCS bucket, SFTP or FTP server (spec §8.1).

`Destinations` runs the companion object stores of the emulator (`sandbox.framework.objectstores`)
and writes each export file into them over their real protocols, with the credentials the export
request gave, so that the tap reads them back through the same fsspec code it uses against AWS.
Files are JSON Lines, or CSV with flattened dotted columns, gzip if asked, written streaming.
"""

from __future__ import annotations

import ftplib
import gzip
import json
import os
import tempfile
import typing as t

import paramiko

from sandbox.framework import chunked, csv_body, json_lines, peek
from sandbox.framework.objectstores import LocalFTPServer, LocalGCSServer, LocalS3Server, LocalSFTPServer

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sandbox.cordial.exports import ExportFile

DEMO_S3_PORT, DEMO_SFTP_PORT, DEMO_FTP_PORT, DEMO_GCS_PORT = 8713, 8723, 8733, 8743


class Destinations:
    """The S3, GCS, SFTP and FTP servers export jobs write to, and the writer itself."""

    def __init__(self, settings: dict[str, t.Any]) -> None:
        self.settings = settings
        self.s3: LocalS3Server | None = None
        self.sftp: LocalSFTPServer | None = None
        self.ftp: LocalFTPServer | None = None
        self.gcs: LocalGCSServer | None = None

    def _port(self, name: str, demo_port: int, *, demo: bool) -> int:
        port = self.settings.get(f"{name}_port")
        return int(port if port is not None else (demo_port if demo else 0))

    def start(self, *, demo: bool) -> None:
        """Start the four servers (on the demo ports when the emulator is on its own), as settings say."""
        self.s3 = LocalS3Server(port=self._port("s3", DEMO_S3_PORT, demo=demo)).start()
        for bucket in self.settings.get("s3_buckets") or []:
            self.s3.create_bucket(bucket)
        self.sftp = LocalSFTPServer(self.settings.get("sftp_users") or {},
                                    port=self._port("sftp", DEMO_SFTP_PORT, demo=demo)).start()
        for folder in self.settings.get("sftp_folders") or []:
            self.sftp.local_path(folder).mkdir(parents=True, exist_ok=True)
        self.ftp = LocalFTPServer(self.settings.get("ftp_users") or {},
                                  port=self._port("ftp", DEMO_FTP_PORT, demo=demo)).start()
        for folder in self.settings.get("ftp_folders") or []:
            self.ftp.local_path(folder).mkdir(parents=True, exist_ok=True)
        self.gcs = LocalGCSServer(port=self._port("gcs", DEMO_GCS_PORT, demo=demo)).start()
        for bucket in self.settings.get("gcs_buckets") or []:
            self.gcs.create_bucket(bucket)
        self.settings["s3_endpoint_url"] = self.s3.endpoint_url
        self.settings["sftp_port"] = self.sftp.port
        self.settings["ftp_port"] = self.ftp.port
        self.settings["gcs_endpoint_url"] = self.gcs.endpoint_url

    def stop(self) -> None:
        for server in (self.gcs, self.ftp, self.sftp, self.s3):
            if server is not None:
                server.stop()
        self.s3 = self.sftp = self.ftp = self.gcs = None

    def write(self, destination: dict[str, t.Any], export: ExportFile) -> None:
        """Write every file of `export` to `destination`; raises what the transfer raised."""
        kind = destination["type"]
        if kind == "aws":
            return  # kept for download in Cordial's UI: nothing reaches the customer (spec §8.1)
        if kind not in {"s3", "sftp", "ftp", "gcs"}:
            raise ConnectionError(f"the sandbox has no {kind} server")
        folder = str(destination["path"]).strip("/")
        with tempfile.TemporaryDirectory(prefix="cordial-export-") as scratch:
            for file_name, rows in export_parts(export):
                local = write_local_file(export, rows, scratch)
                if ratio := self.settings.get("truncate_export_files"):  # a transfer cut short, for tests
                    os.truncate(local, int(os.path.getsize(local) * float(ratio)))
                remote = f"{folder}/{file_name}" if folder else file_name
                if kind == "s3":
                    self._put_s3(destination, local, remote)
                elif kind == "gcs":
                    self._put_gcs(destination, local, remote)
                elif kind == "ftp":
                    _put_ftp(destination, local, remote)
                else:
                    _put_sftp(destination, local, remote)

    def _put_s3(self, destination: dict[str, t.Any], local: str, key: str) -> None:
        if self.s3 is None:
            raise ConnectionError("the sandbox's S3 server is not running")
        client = self.s3.client(destination["aws_access_key_id"], destination["aws_secret_access_key"])
        client.upload_file(local, destination["aws_bucket"], key)

    def _put_gcs(self, destination: dict[str, t.Any], local: str, name: str) -> None:
        # Cordial writes with its own service account, which the customer granted the bucket (spec §8.1).
        if self.gcs is None:
            raise ConnectionError("the sandbox's GCS server is not running")
        self.gcs.upload(str(destination["gcs_bucket"]), name, local)


def _put_ftp(destination: dict[str, t.Any], local: str, remote: str) -> None:
    with ftplib.FTP() as ftp:  # noqa: S321 - FTP is a destination Cordial offers (spec §8.1)
        ftp.connect(str(destination["server"]), int(destination.get("port") or 21), timeout=30)
        ftp.login(str(destination["username"]), str(destination.get("password") or ""))
        folder, _, name = f"/{remote}".rpartition("/")
        try:
            ftp.cwd(folder or "/")
        except ftplib.error_perm as exc:
            raise FileNotFoundError(f"No such file or directory: {folder}") from exc
        with open(local, "rb") as body:
            ftp.storbinary(f"STOR {name}", body)


def _put_sftp(destination: dict[str, t.Any], local: str, remote: str) -> None:
    port = int(destination.get("port") or 22)
    transport = paramiko.Transport((str(destination["server"]), port))
    try:
        transport.connect(username=destination["username"], password=destination.get("password"))
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:
            raise ConnectionError("Could not initialize SFTP subsystem")
        folder = remote.rsplit("/", 1)[0] if "/" in remote else "."
        sftp.stat(f"/{folder}" if folder != "." else ".")  # FileNotFoundError: "Invalid file path"
        sftp.put(local, f"/{remote}")
        sftp.close()
    finally:
        transport.close()


# ---------------------------------------------------------------------------------------- file output


def encode_rows(export: ExportFile, rows: Iterable[dict[str, t.Any]]) -> Iterator[bytes]:
    """The bytes of one export file (JSON Lines, or CSV with flattened dotted columns)."""
    if export.export_type == "json":
        yield from json_lines(rows)
        return
    first, flat_rows = peek(flatten(row) for row in rows)
    columns = export.columns if export.columns is not None or first is None else list(first)
    if columns is None:
        return  # no rows and no columns known: an empty file
    cells = ([_csv_value(flat.get(column)) for column in columns] for flat in flat_rows)
    yield from csv_body(cells, columns if export.show_header else None)


def _csv_value(value: t.Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def flatten(row: dict[str, t.Any], prefix: str = "") -> dict[str, t.Any]:
    flat: dict[str, t.Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in {"properties", "listJoinDate"}:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def export_parts(export: ExportFile) -> Iterator[tuple[str, Iterator[dict[str, t.Any]]]]:
    """(file name, rows) for each file of the export."""
    extension = "json" if export.export_type == "json" else export.export_type
    suffix = f".{extension}" + (".gz" if export.compress else "")
    rows = iter(export.rows())
    if not export.limit_per_file:
        yield f"{export.name}{suffix}", rows
        return
    number = 0
    while True:
        first = next(rows, None)
        if first is None:
            if number == 0:
                yield f"{export.name}_1{suffix}", iter(())
            return
        number += 1
        limit = export.limit_per_file

        def take(first: dict[str, t.Any] = first, limit: int = limit) -> Iterator[dict[str, t.Any]]:
            yield first
            for _ in range(limit - 1):
                row = next(rows, None)
                if row is None:
                    return
                yield row

        yield f"{export.name}_{number}{suffix}", take()


def write_local_file(export: ExportFile, rows: Iterable[dict[str, t.Any]], directory: str) -> str:
    """Write one export file to a temporary path (gzip if asked), streaming; returns the path."""
    handle, path = tempfile.mkstemp(prefix="cordial-export-", dir=directory)
    with os.fdopen(handle, "wb") as raw:
        if export.compress:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5) as zipped:
                for chunk in chunked(encode_rows(export, rows)):
                    zipped.write(chunk)
        else:
            for chunk in chunked(encode_rows(export, rows)):
                raw.write(chunk)
    return path
