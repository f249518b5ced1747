"""The export half of the Cordial emulator: export POSTs, their validation, and writing the files.

A mixin of `CordialEmulator` (routes are found on the class, mixins included). Spec cordial.md §8:
`contactexports` (jobName `ExportContacts`), `contactactivityexport` (`ExportEvents`) and
`audiencetrendsexport` (`ExportAudienceTrends`, GUESSED) validate synchronously (400 destination, 406
configuration), answer `{"jobId"}`, and write their files to the destination in the background.
"""

from __future__ import annotations

import os
import tempfile
import typing as t
from datetime import date

import paramiko

from sandbox.cordial_data import CordialData, index_range, parse_filter_time
from sandbox.cordial_exports import (
    NAME_PATTERN,
    ExportFile,
    JobStore,
    config_error,
    destination_error,
    export_parts,
    validate_destination,
    write_local_file,
)
from sandbox.framework import HTTPError, Request, Response, route

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from sandbox.objectstores import LocalS3Server, LocalSFTPServer


class CordialExportRoutes:
    """Export routes and the writer that puts files into S3 or onto the SFTP server."""

    settings: dict[str, t.Any]
    data: CordialData
    jobs: JobStore
    s3: LocalS3Server | None
    sftp: LocalSFTPServer | None

    def _audience(self, name: str) -> dict[str, t.Any]:
        raise NotImplementedError

    def _in_audience(self, audience: str, index: int) -> bool:
        raise NotImplementedError

    # Routes: exports ------------------------------------------------------------------------------

    def _start_job(self, job_name: str, destination: dict[str, t.Any], export: ExportFile) -> Response:
        outcomes = self.settings.get("job_outcomes") or {}
        outcome = outcomes.get(job_name) or outcomes.get("*") or "done"
        job = self.jobs.create(job_name, destination, export, outcome)
        return Response.json({"jobId": job.job_id})

    @staticmethod
    def _export_basics(body: t.Any, *, export_types: set[str]) -> tuple[str, str, dict[str, t.Any]]:
        if not isinstance(body, dict):
            raise HTTPError(400, "Invalid JSON provided.", error_key="INVALID_JSON_PROVIDED")
        name = body.get("name")
        if not name:
            raise config_error("Field 'name' should be provided.")
        if not NAME_PATTERN.match(str(name)):
            raise config_error("The name may only contain letters, numbers, and dashes.")
        export_type = str(body.get("exportType") or "").lower()
        if not export_type:
            raise config_error("Field 'exportType' should be specified")
        if export_type not in export_types:
            raise destination_error("The selected export type is invalid.")
        return str(name), export_type, validate_destination(body.get("destination"))

    @route("POST", r"/v2/contactexports")
    def contact_export(self, request: Request) -> Response:
        body = request.json()
        name, export_type, destination = self._export_basics(body, export_types={"json", "csv", "txt"})
        fields = [str(f) for f in body.get("fields") or []]
        list_names = []
        by_id = {str(item["id"]): item["name"] for item in self.data.lists}
        names = {item["name"] for item in self.data.lists}
        for ref in body.get("lists") or []:
            if str(ref) in by_id:
                list_names.append(by_id[str(ref)])
            elif ref in names:
                list_names.append(str(ref))
            else:
                raise destination_error(f"List '{ref}' does not exist.")
        audience = body.get("audience-key")
        if audience:
            self._audience(str(audience))
        data, count = self.data, self.data.count("contacts")

        def rows() -> Iterator[dict[str, t.Any]]:
            for index in range(count):
                if audience and not self._in_audience(str(audience), index):
                    continue
                yield contact_export_row(data.contact(index), fields, list_names)

        export = ExportFile(name, "csv" if export_type == "txt" else export_type, rows, count,
                            compress=bool(body.get("compress")), show_header=bool(body.get("showHeader")))
        return self._start_job("ExportContacts", destination, export)

    @route("POST", r"/v2/contactactivityexport")
    def contact_activity_export(self, request: Request) -> Response:
        body = request.json()
        name, export_type, destination = self._export_basics(body, export_types={"json", "csv", "txt"})
        if body.get("selected_action_name") and body.get("selected_action_names"):
            raise config_error("Please use only one from existing filters 'selected_action_name' OR "
                               "'selected_action_names'")
        start_text, end_text = body.get("selected_timeframe_start"), body.get("selected_timeframe_end")
        start = parse_filter_time(str(start_text)) if start_text else None
        end = parse_filter_time(str(end_text)) if end_text else None
        if start is None or end is None:
            raise config_error("Both fields 'selected_timeframe_start' and 'selected_timeframe_end' should be "
                               "present.")
        if end < start:
            raise config_error("'selected_timeframe_end' cannot be in past in comparison with "
                               "'selected_timeframe_start'")
        actions = set(body.get("selected_action_names") or ([body["selected_action_name"]]
                                                              if body.get("selected_action_name") else []))
        count = self.data.count("activities", 3)
        indexes = index_range(count, self.data.activity_time, start, True, high=end, high_inclusive=True)
        data = self.data

        def rows() -> Iterator[dict[str, t.Any]]:
            for index in indexes:
                record = data.activity(index)
                if not actions or record["action"] in actions:
                    yield activity_export_row(record)

        export = ExportFile(name, "csv" if export_type == "txt" else export_type, rows, len(indexes),
                            compress=bool(body.get("compress")),
                            limit_per_file=int(body.get("limitRecordsPerFile") or 0),
                            show_header=bool(body.get("showHeader", True)))
        return self._start_job("ExportEvents", destination, export)

    @route("POST", r"/v2/audiencetrendsexport")
    def audience_trends_export(self, request: Request) -> Response:
        body = request.json()
        name, _, destination = self._export_basics(body, export_types={"csv"})
        audiences = body.get("audiences")
        if not audiences or not isinstance(audiences, list):
            raise config_error("Field 'audiences' should be provided.")
        start_text, end_text = body.get("selected_timeframe_start"), body.get("selected_timeframe_end")
        if not start_text or not end_text:
            raise config_error("Both fields 'selected_timeframe_start' and 'selected_timeframe_end' should be "
                               "present.")
        start, end = _iso_date(start_text, "selected_timeframe_start"), _iso_date(end_text, "selected_timeframe_end")
        if end < start:
            raise config_error("'selected_timeframe_end' cannot be in past in comparison with "
                               "'selected_timeframe_start'")
        for audience_name in audiences:
            audience = next((a for a in self.settings.get("audiences", []) if a["name"] == audience_name), None)
            if audience is None:
                raise config_error(f"Audience '{audience_name}' does not exist.")
            if not audience.get("trends"):
                raise config_error(f"For Audience '{audience_name}' analytics disabled.")
        days = self.data.days(start, end)
        data = self.data

        def rows() -> Iterator[dict[str, t.Any]]:
            for audience_name in audiences:
                yield {"audience": audience_name, **{d.isoformat(): data.audience_count(audience_name, d)
                                                     for d in days}}

        export = ExportFile(name, "csv", rows, len(audiences), compress=bool(body.get("compress")),
                            columns=["audience", *(d.isoformat() for d in days)], show_header=True)
        return self._start_job("ExportAudienceTrends", destination, export)  # jobName GUESSED (spec §7)

    # Writing export files -------------------------------------------------------------------------

    def _write_export(self, destination: dict[str, t.Any], export: ExportFile) -> None:
        kind = destination["type"]
        if kind == "aws":
            return  # kept for download in Cordial's UI: nothing reaches the customer (spec §8.1)
        if kind not in {"s3", "sftp"}:
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
                else:
                    self._put_sftp(destination, local, remote)

    def _put_s3(self, destination: dict[str, t.Any], local: str, key: str) -> None:
        if self.s3 is None:
            raise ConnectionError("the sandbox's S3 server is not running")
        client = self.s3.client(destination["aws_access_key_id"], destination["aws_secret_access_key"])
        client.upload_file(local, destination["aws_bucket"], key)

    def _put_sftp(self, destination: dict[str, t.Any], local: str, remote: str) -> None:
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


def contact_export_row(contact: dict[str, t.Any], fields: list[str], list_names: list[str]) -> dict[str, t.Any]:
    """A contact as a JSON contact export writes it (GUESSED): `_id`, channels, the requested fields, and
    one 1/0 column per requested list (S4: "a 1 for being on the list or a 0 for not")."""
    row: dict[str, t.Any] = {"_id": contact["_id"], "channels": contact["channels"]}
    for field in fields:
        if field in contact and field not in {"lists", "lj", "_id", "channels"}:
            row[field] = contact[field]
    for name in list_names:
        row[name] = 1 if name in contact["lists"] else 0
    return row


def activity_export_row(activity: dict[str, t.Any]) -> dict[str, t.Any]:
    """An event as an export writes it: stored field names (`a` action, `ats` time) (spec §8.4, GUESSED)."""
    row = {k: v for k, v in activity.items() if k not in {"action", "time"}}
    row["a"] = activity["action"]
    row["ats"] = activity["time"]
    return row


def _iso_date(value: t.Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise config_error(f"The '{field}' is invalid. ISO-8601 is a recommended format.") from None
