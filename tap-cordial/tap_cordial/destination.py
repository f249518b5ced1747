"""The export destination: what Cordial is told to write to, and how the tap reads it back.

Cordial's export jobs return no download link; they write into a bucket or SFTP folder the customer owns
(spec cordial.md §8.1). The `export_destination` setting describes that place once: `cordial_body()` is
the `destination` object of the export request, and `filesystem()` opens the same place through fsspec,
so that S3, GCS and SFTP are read by one code path (`export_files`, `open_file`), streamed, never whole.
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

DESTINATION_TYPES = ("s3", "gcs", "sftp")
_READ_BLOCK_SIZE = 8 * 1024 * 1024
_PART_NUMBER = re.compile(r"(\d+)")


@dataclasses.dataclass(frozen=True)
class ExportDestination:
    """The `export_destination` setting, checked."""

    type: str
    path: str
    settings: Mapping[str, t.Any]

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> ExportDestination | None:
        """The destination, or None when `export_destination` is not set; raises naming a bad field."""
        raw = config.get("export_destination")
        if not raw:
            return None
        kind = str(raw.get("type") or "").lower()
        if kind not in DESTINATION_TYPES:
            raise config_error(
                f"Setting `export_destination.type` must be one of {', '.join(DESTINATION_TYPES)}, got {kind!r}."
            )
        required = {"s3": ("bucket", "region"), "gcs": ("gcs_bucket",), "sftp": ("server", "username")}[kind]
        if kind == "gcs" and not raw.get("gcs_bucket") and raw.get("bucket"):
            raw = {**raw, "gcs_bucket": raw["bucket"]}
        missing = [f"export_destination.{name}" for name in required if not raw.get(name)]
        if kind == "sftp" and not (raw.get("password") or raw.get("saved_key")):
            missing.append("export_destination.password (or saved_key)")
        if missing:
            raise config_error(f"An export destination of type {kind} needs {', '.join(missing)}.")
        return cls(kind, str(raw.get("path") or "").strip("/"), dict(raw))

    def cordial_body(self) -> dict[str, t.Any]:
        """The `destination` object of an export request (Swagger `DestinationObject`, spec §8.1).

        Only Cordial's own fields: `endpoint_url` and the tap's reading credentials stay here.
        """
        s = self.settings
        body: dict[str, t.Any] = {"type": self.type, "path": f"/{self.path}" if self.type == "sftp" else self.path}
        if self.type == "s3":
            body.update(aws_bucket=s["bucket"], aws_region=s["region"])
            if s.get("aws_access_key_id"):  # absent when an IAM role is configured for the account
                body.update(aws_access_key_id=s["aws_access_key_id"],
                            aws_secret_access_key=s.get("aws_secret_access_key"))
        elif self.type == "gcs":
            body["gcs_bucket"] = s["gcs_bucket"]
        else:
            body.update(server=s["server"], port=int(s.get("port") or 22), username=s["username"])
            if s.get("saved_key"):
                body["savedKey"] = s["saved_key"]
            else:
                body["password"] = s.get("password")
        return body

    def filesystem(self) -> AbstractFileSystem:
        """An fsspec file system on the destination, with the tap's credentials."""
        s = self.settings
        if self.type == "s3":
            client_kwargs = {"region_name": s.get("region")}
            if s.get("endpoint_url"):
                client_kwargs["endpoint_url"] = s["endpoint_url"]
            credentials = {"key": s["aws_access_key_id"], "secret": s.get("aws_secret_access_key")} \
                if s.get("aws_access_key_id") else {}
            return fsspec.filesystem("s3", client_kwargs=client_kwargs, **credentials)
        if self.type == "gcs":
            try:
                return fsspec.filesystem("gcs", token=s.get("gcs_token") or None, project=s.get("gcs_project"))
            except ImportError:
                raise config_error("Reading a GCS export destination needs the `gcsfs` package.") from None
        return fsspec.filesystem(
            "sftp", host=s["server"], port=int(s.get("port") or 22), username=s["username"],
            password=s.get("password"), key_filename=s.get("private_key_file"),
            look_for_keys=False, allow_agent=False, timeout=30,
        )

    @property
    def folder(self) -> str:
        """The folder Cordial writes into, as the file system names it."""
        if self.type == "s3":
            return f"{self.settings['bucket']}/{self.path}".rstrip("/")
        if self.type == "gcs":
            return f"{self.settings['gcs_bucket']}/{self.path}".rstrip("/")
        return f"/{self.path}"

    def describe(self, path: str) -> str:
        """A secret-free name of a file for messages: `s3://bucket/folder/name.json.gz`."""
        return f"{self.type}://{self.settings.get('server', '')}{path}" if self.type == "sftp" \
            else f"{self.type}://{path}"

    def export_files(self, fs: AbstractFileSystem, export_name: str) -> list[str]:
        """The files an export named `export_name` wrote, in part order.

        Their names are not documented (spec §8.7: `<name>.<ext>[.gz]`, or numbered parts with
        `limitRecordsPerFile`, GUESSED), so the folder is listed for names that start with the export's.
        """
        fs.invalidate_cache(self.folder)
        names = []
        for entry in fs.ls(self.folder, detail=False):
            base = str(entry).rsplit("/", 1)[-1]
            if base == export_name or (base.startswith(export_name) and base[len(export_name)] in "._-"):
                names.append(str(entry))
        return sorted(names, key=lambda path: _part_order(path, export_name))

    @staticmethod
    def open_file(fs: AbstractFileSystem, path: str) -> t.BinaryIO:
        """A file of the export, read in blocks (never whole)."""
        return t.cast("t.BinaryIO", fs.open(path, "rb", block_size=_READ_BLOCK_SIZE))


def require_export_destination(config: Mapping[str, t.Any], why: str) -> ExportDestination:
    """The `export_destination` setting, which `why` (what needs it) needs: a config error when it is unset."""
    destination = ExportDestination.from_config(config)
    if destination is None:
        raise config_error(f"{why} needs `export_destination` (an S3 or GCS bucket, or an SFTP folder).")
    return destination


def _part_order(path: str, export_name: str) -> tuple[int, str]:
    """`name.json` first, then `name_1.json`, `name_2.json`, ... `name_10.json` in number order."""
    suffix = path.rsplit("/", 1)[-1][len(export_name):].split(".", 1)[0]
    numbers = _PART_NUMBER.findall(suffix)
    return (int(numbers[-1]) if numbers else 0, path)
