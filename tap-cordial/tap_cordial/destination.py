"""The export destination: what Cordial is told to write to, and how the tap reads it back.

Cordial's export jobs return no download link; they write into a bucket or a folder on a server the
customer owns (spec cordial.md §8.1). The `export_destination` setting describes that place once, in
Cordial's own field names or ours: `cordial_body()` is the `destination` object of the export request,
and `filesystem()` opens the same place through fsspec, so that S3, GCS, SFTP and FTP are read by one
code path (`listable_filesystem`, `export_files`, `open_file`), streamed, never whole.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

import fsspec
from marketing_tapkit.config import config_error

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from fsspec import AbstractFileSystem

DESTINATION_TYPES = ("s3", "gcs", "sftp", "ftp")
#: `aws`: Cordial keeps the file for download from its UI's Jobs page; its API has no download (spec §8.1).
CORDIAL_HOSTED = "aws"
#: Cordial's field names (spec §8.1) for the ones this setting has always had.
CORDIAL_FIELD_NAMES = {"aws_bucket": "bucket", "aws_region": "region", "savedKey": "saved_key"}
DEFAULT_PORTS = {"sftp": 22, "ftp": 21}
_READ_BLOCK_SIZE = 8 * 1024 * 1024
_PART_NUMBER = re.compile(r"(\d+)")
_CONNECT_TIMEOUT = 30


class DestinationUnreadableError(Exception):
    """The tap cannot list the destination folder with the credentials it has."""


@dataclasses.dataclass(frozen=True)
class ExportDestination:
    """The `export_destination` setting, checked, in the tap's field names."""

    type: str
    path: str
    settings: Mapping[str, t.Any]

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> ExportDestination | None:
        """The destination, or None when `export_destination` is not set; raises naming a bad field."""
        given = config.get("export_destination")
        if not given:
            return None
        raw = with_our_field_names(given)
        kind = str(raw.get("type") or "").lower()
        if kind == CORDIAL_HOSTED:
            raise config_error(
                "Setting `export_destination.type` is `aws`: Cordial then keeps the export files for download "
                "from the Jobs page of its UI, and its API offers no way to download them, so the tap could "
                f"never read them. Use a place the tap can read too: {_types_in_words()}."
            )
        if kind not in DESTINATION_TYPES:
            raise config_error(f"Setting `export_destination.type` must be one of {_types_in_words()}, got {kind!r}.")
        if kind == "gcs" and not raw.get("gcs_bucket") and raw.get("bucket"):
            raw["gcs_bucket"] = raw["bucket"]
        required = {"s3": ("bucket", "region"), "gcs": ("gcs_bucket",), "sftp": ("server", "username"),
                    "ftp": ("server", "username", "password")}[kind]
        missing = [f"export_destination.{name}" for name in required if not raw.get(name)]
        if kind == "sftp" and not (raw.get("password") or raw.get("saved_key")):
            missing.append("export_destination.password (or savedKey)")
        if missing:
            raise config_error(f"An export destination of type {kind} needs {', '.join(missing)}.")
        return cls(kind, str(raw.get("path") or "").strip("/"), raw)

    @property
    def port(self) -> int:
        """The SFTP or FTP port: the setting, or the protocol's own."""
        return int(self.settings.get("port") or DEFAULT_PORTS.get(self.type, 0))

    def cordial_body(self) -> dict[str, t.Any]:
        """The `destination` object of an export request (Swagger `DestinationObject`, spec §8.1).

        Only Cordial's own fields: `endpoint_url` and the tap's reading credentials stay here.
        """
        s = self.settings
        server_path = self.type in {"sftp", "ftp"}
        body: dict[str, t.Any] = {"type": self.type, "path": f"/{self.path}" if server_path else self.path}
        if self.type == "s3":
            body.update(aws_bucket=s["bucket"], aws_region=s["region"])
            if s.get("aws_access_key_id"):  # absent when an IAM role is configured for the account
                body.update(aws_access_key_id=s["aws_access_key_id"],
                            aws_secret_access_key=s.get("aws_secret_access_key"))
        elif self.type == "gcs":
            body["gcs_bucket"] = s["gcs_bucket"]
        else:
            body.update(server=s["server"], port=self.port, username=s["username"])
            if s.get("saved_key") and self.type == "sftp":
                body["savedKey"] = s["saved_key"]
            else:
                body["password"] = s.get("password")
        return body

    def filesystem(self, *, fresh: bool = False) -> AbstractFileSystem:
        """An fsspec file system on the destination, with the tap's credentials.

        `fresh`: a file system of its own, not fsspec's shared instance (an FTP or SFTP session serves one
        transfer at a time, so each file downloaded ahead gets its own).
        """
        s = self.settings
        if self.type == "s3":
            client_kwargs = {"region_name": s.get("region")}
            if s.get("endpoint_url"):
                client_kwargs["endpoint_url"] = s["endpoint_url"]
            credentials = {"key": s["aws_access_key_id"], "secret": s.get("aws_secret_access_key")} \
                if s.get("aws_access_key_id") else {}
            return fsspec.filesystem("s3", client_kwargs=client_kwargs, skip_instance_cache=fresh, **credentials)
        if self.type == "gcs":
            # gcsfs's plain JSON-API file system: its default class first asks a gRPC control API for
            # the bucket's layout, which S3-style listing and reading do not need.
            from gcsfs.core import GCSFileSystem  # noqa: PLC0415 - imported only for GCS destinations

            return GCSFileSystem(token=s.get("gcs_token") or None, project=s.get("gcs_project"),
                                 endpoint_url=s.get("endpoint_url") or None, skip_instance_cache=fresh)
        if self.type == "ftp":
            return fsspec.filesystem("ftp", host=s["server"], port=self.port, username=s["username"],
                                     password=s.get("password"), timeout=_CONNECT_TIMEOUT,
                                     skip_instance_cache=fresh)
        return fsspec.filesystem(
            "sftp", host=s["server"], port=self.port, username=s["username"],
            password=s.get("password"), key_filename=s.get("private_key_file"),
            look_for_keys=False, allow_agent=False, timeout=_CONNECT_TIMEOUT, skip_instance_cache=fresh,
        )

    @property
    def bucket(self) -> str | None:
        """The bucket of an S3 or GCS destination; None for a server."""
        return {"s3": self.settings.get("bucket"), "gcs": self.settings.get("gcs_bucket")}.get(self.type)

    @property
    def folder(self) -> str:
        """The folder Cordial writes into, as the file system names it."""
        if self.bucket:
            return f"{self.bucket}/{self.path}".rstrip("/")
        return f"/{self.path}"

    def describe(self, path: str) -> str:
        """A secret-free name of a file for messages: `s3://bucket/folder/name.json.gz`."""
        if self.bucket:
            return f"{self.type}://{path}"
        return f"{self.type}://{self.settings.get('server', '')}{path}"

    def listable_filesystem(self) -> AbstractFileSystem:
        """The file system, once the folder was listed with the tap's credentials.

        Raises `DestinationUnreadableError` naming the settings to fix. A prefix with no objects yet is fine
        in a bucket (Cordial creates the objects); a server's folder must exist, as Cordial will not
        create it (spec §8.1, "Invalid file path").
        """
        fs: AbstractFileSystem | None = None
        try:
            fs = self.filesystem()  # FTP and SFTP log in here
            fs.invalidate_cache(self.folder)
            fs.ls(self.folder, detail=False)
        except FileNotFoundError:
            if self.bucket and fs is not None and self._bucket_exists(fs):
                return fs
            raise DestinationUnreadableError(self._unreadable("it does not exist", self._where_settings())) from None
        except PermissionError as exc:
            raise DestinationUnreadableError(
                self._unreadable(f"access was refused ({_reason(exc)})", self._credential_settings())) from None
        except Exception as exc:  # noqa: BLE001 - every other failure (login, network) is reported the same way
            settings = self._credential_settings() if _is_login_failure(exc) else self._connection_settings()
            raise DestinationUnreadableError(self._unreadable(_reason(exc), settings)) from None
        return fs

    def _bucket_exists(self, fs: AbstractFileSystem) -> bool:
        try:
            return bool(fs.exists(self.bucket))
        except OSError:
            return False

    def _unreadable(self, why: str, settings: tuple[str, ...]) -> str:
        names = ", ".join(f"`export_destination.{name}`" for name in settings)
        return (f"Before creating an export job, the tap lists {self.describe(self.folder)} with its own "
                f"credentials, and cannot: {why}. Check {names}. No export job was created.")

    def _where_settings(self) -> tuple[str, ...]:
        if self.type == "s3":
            return ("bucket", "path", "endpoint_url")
        if self.type == "gcs":
            return ("gcs_bucket", "path", "endpoint_url")
        return ("path",)

    def _credential_settings(self) -> tuple[str, ...]:
        if self.type == "s3":
            return ("aws_access_key_id", "aws_secret_access_key")
        if self.type == "gcs":
            return ("gcs_token", "gcs_project")
        if self.type == "sftp":
            return ("username", "password") if not self.settings.get("saved_key") else ("username", "private_key_file")
        return ("username", "password")

    def _connection_settings(self) -> tuple[str, ...]:
        return ("endpoint_url", "region") if self.type == "s3" else \
            ("endpoint_url",) if self.type == "gcs" else ("server", "port")

    def export_files(self, fs: AbstractFileSystem, export_name: str) -> list[str]:
        """The files an export named `export_name` wrote, in part order.

        Their names are not documented (spec §8.7: `<name>.<ext>[.gz]`, or numbered parts with
        `limitRecordsPerFile`, GUESSED), so the folder is listed for names that start with the export's.
        """
        fs.invalidate_cache(self.folder)
        names = []
        # Full paths from the details: fsspec's FTP listing gives bare file names with `detail=False`.
        for entry in fs.ls(self.folder, detail=True):
            path = str(entry["name"])
            base = path.rsplit("/", 1)[-1]
            if base == export_name or (base.startswith(export_name) and base[len(export_name)] in "._-"):
                names.append(path)
        return sorted(names, key=lambda path: _part_order(path, export_name))

    def open_file(self, fs: AbstractFileSystem, path: str) -> t.BinaryIO:
        """A file of the export, read in blocks (never whole)."""
        return t.cast("t.BinaryIO", fs.open(path, "rb", block_size=_READ_BLOCK_SIZE))


def with_our_field_names(given: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The destination with Cordial's field names (`aws_bucket`, `aws_region`, `savedKey`) as ours.

    So the destination object of Cordial's docs can be pasted as it is; both names for one field must agree.
    """
    raw = dict(given)
    for cordial_name, our_name in CORDIAL_FIELD_NAMES.items():
        if cordial_name not in raw:
            continue
        value = raw.pop(cordial_name)
        if raw.get(our_name) not in (None, "", value):
            raise config_error(
                f"Settings `export_destination.{cordial_name}` and `export_destination.{our_name}` name the "
                "same field with different values: keep one."
            )
        raw[our_name] = value
    return raw


def require_export_destination(config: Mapping[str, t.Any], why: str) -> ExportDestination:
    """The `export_destination` setting, which `why` (what needs it) needs: a config error when it is unset."""
    destination = ExportDestination.from_config(config)
    if destination is None:
        raise config_error(f"{why} needs `export_destination` (an S3 or GCS bucket, or an SFTP or FTP folder).")
    return destination


def _types_in_words() -> str:
    return ", ".join(f"`{kind}`" for kind in DESTINATION_TYPES)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_login_failure(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("authentication", "login", "530", "credentials", "accessdenied", "403"))


def _part_order(path: str, export_name: str) -> tuple[int, str]:
    """`name.json` first, then `name_1.json`, `name_2.json`, ... `name_10.json` in number order."""
    suffix = path.rsplit("/", 1)[-1][len(export_name):].split(".", 1)[0]
    numbers = _PART_NUMBER.findall(suffix)
    return (int(numbers[-1]) if numbers else 0, path)
