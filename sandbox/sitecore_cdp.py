"""Emulator of the Sitecore CDP REST APIs a tap reads (spec: shared/specs/sitecore-cdp.md).

What it implements, with the spec section it follows:
- `POST /oauth/token`: OAuth 2 client credentials for the Audience export API, form or JSON body, checking
  client id, secret and audience; tokens expire after `token_expires_in` seconds or, to force an
  expiry in the middle of a run without sleeping, after `token_max_requests` API calls (§2.1, §10.1).
  Errors are Auth0-shaped (`error`, `error_description`; GUESSED in the spec): an unknown client id
  is `invalid_client`, a wrong secret `access_denied`/`Unauthorized`, an audience the key is not
  enabled for is 403.
- Audience export API under `/v2/audienceExports/` with a Bearer token (§3): `reports` is a bare array
  of every finished job in a random (seeded) order, FULL_SYNC and DELTA exports, FAILED and ALERT jobs;
  `executions/{ref}/export` and `latestExport` list the job's files with fresh presigned URLs on every
  call (`expireAt`, `deltaAction` on delta files); refs may be friendly ids or UUIDs.
- Presigned files (`/sitecore-cdp-exports/...`): gzip JSON Lines or CSV (`,` or `|`, header on or off,
  quoted or not) generated on the fly, split at `max_rows_per_file` rows (500,000 in production, §4);
  an expired or forged URL gets S3's 403 XML, and so does a request that also sends an Authorization
  header (S3 allows one auth mechanism). `expired_listings: N` makes the next N listings hand out URLs
  that have already expired.
- Guest REST API v2.1 with Basic auth (§5, in `sitecore_cdp_guests.py`): `/v2.1/guests` (offset/limit
  up to 100, `expand`, `sort`, exact-match filters, lowercase or capitalised paging links, a 400 past
  `max_offset_window`), `/v2.1/guests/{ref}`, its `extensions` and `extensions/{name}`, and `/v2.1/orders` (§5.5).
- Errors in the documented body (§6): `status` as a number, except 401's `"UNAUTHORIZED"`, with
  `moreInfoUrl` (or the older `moreInfo` when `more_info_key` says so).

Settings for tests of incremental runs: `extra_jobs` adds jobs to every export, `extra_columns` adds
columns to every row served from then on, `touched_guests` (`{index: modifiedAt}`) changes guests.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import typing as t
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import parse_qs

from sandbox import sitecore_cdp_data as data
from sandbox.framework import HTTPError, Request, Response, route, stable_hash
from sandbox.sitecore_cdp_guests import SitecoreGuestAPI

AUDIENCE = "https://api.sitecorecloud.io"
MORE_INFO = "https://support.sitecore.com"
UNAUTHORIZED_MESSAGE = (
    "Authentication credentials are required to access the resource. All requests must be authenticated."
)
FILE_PREFIX = "/sitecore-cdp-exports"


class SitecoreCDPEmulator(SitecoreGuestAPI):
    vendor = "sitecore-cdp"
    default_port = 8702
    default_settings: t.ClassVar[dict[str, t.Any]] = {
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret-7d1e",
        "client_key": "sandbox-client-key",
        "api_token": "sandbox-api-token-5b9a",
        "audience": AUDIENCE,  # what the API key is enabled for
        "token_expires_in": 86400,
        "token_max_requests": None,  # a token stops working after this many API requests
        "url_expires_in": 3600,
        "expired_listings": 0,
        "max_rows_per_file": 500_000,
        "exports": [
            {"friendly_id": "weekly-vip-export", "format": "jsonl", "definition_type": "FULL_SYNC", "jobs": 3,
             "failed_jobs": [1]},
            {"friendly_id": "daily-delta-export", "format": "csv", "delimiter": "|", "definition_type": "DELTA",
             "jobs": 4, "alert_jobs": [2]},
            {"friendly_id": "daily_loyalty_members", "format": "csv", "delimiter": ",", "quote_all": True,
             "definition_type": "FULL_SYNC", "jobs": 2},
        ],
        "extra_jobs": 0,
        "extra_columns": [],
        "touched_guests": {},
        "guests": None,  # default: scale
        "expand_extensions": True,  # False: expanded guests list their extensions as links only
        "link_case": "lower",  # lower (first/next) | capital (First/Next, as the official schema)
        "max_offset_window": None,
        "more_info_key": "moreInfoUrl",  # or moreInfo (the older .NET client's name, §6)
    }

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self._tokens: dict[str, dict[str, float]] = {}
        self._token_lock = threading.Lock()

    # Errors ---------------------------------------------------------------------------------------

    def error_response(self, error: HTTPError) -> Response:
        more = {self.settings.get("more_info_key") or "moreInfoUrl": MORE_INFO}
        body: dict[str, t.Any]
        if error.status == 401:
            body = {"status": "UNAUTHORIZED", "code": 401, "message": UNAUTHORIZED_MESSAGE, **more}
        else:
            message = {404: "The specified resource does not exist.", 429: "Too Many Requests"}.get(
                error.status, error.extra.get("summary") or HTTPStatus(error.status).phrase
            )
            detail = "Rate limit exceeded" if error.status == 429 else error.message
            body = {"status": error.status, "code": error.status, "message": message, "developerMessage": detail,
                    **more}
        return Response.json(body, status=error.status, headers=error.headers)

    # OAuth ----------------------------------------------------------------------------------------

    @route("POST", r"/oauth/token")
    def token(self, request: Request) -> Response:
        form = self._form(request)
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type: " + form.get("grant_type", ""))
        if form.get("client_id") != self.settings["client_id"]:
            return _oauth_error(401, "invalid_client", "Unknown client.")
        if form.get("client_secret") != self.settings["client_secret"]:
            return _oauth_error(401, "access_denied", "Unauthorized")
        if form.get("audience") != self.settings["audience"]:
            return _oauth_error(403, "access_denied", f"Service not enabled within domain: {form.get('audience')}")
        expires_in = int(self.settings["token_expires_in"])
        token = _jwt_like(self.settings["client_id"])
        with self._token_lock:
            self._tokens[token] = {"expires": time.time() + expires_in, "uses": 0}
        return Response.json({
            "access_token": token, "scope": "cdp.audience_exports:r", "expires_in": expires_in, "token_type": "Bearer",
        })

    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        if "json" in (request.headers.get("Content-Type") or ""):
            body = request.json()
            return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        return {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}

    def _require_token(self, request: Request) -> None:
        token = request.bearer_token()
        limit = self.settings.get("token_max_requests")
        with self._token_lock:
            grant = self._tokens.get(token or "")
            if grant is None or grant["expires"] < time.time():
                raise HTTPError(401, "Missing, unknown or expired access token")
            grant["uses"] += 1
            if limit is not None and grant["uses"] > int(limit):
                raise HTTPError(401, "The access token has expired")

    # Audience export API --------------------------------------------------------------------------

    def exports(self) -> list[data.ExportDefinition]:
        return [data.ExportDefinition.from_setting(e) for e in self.settings["exports"]]

    def export_by_ref(self, ref: str) -> data.ExportDefinition:
        """An export by friendly id or UUID: the API accepts either (spec §3)."""
        for export in self.exports():
            if ref in (export.friendly_id, export.uuid(self.seed)):
                return export
        raise HTTPError(404, f"Audience export definition {ref} for client key {self.settings['client_key']} "
                             "was not found")

    def jobs_of(self, export: data.ExportDefinition) -> list[data.ExportJob]:
        rows = self.scale if export.rows is None else int(export.rows)
        count = export.jobs + int(self.settings.get("extra_jobs") or 0)
        return data.export_jobs(self.seed, export, rows, count, int(self.settings["max_rows_per_file"]))

    def job_by_ref(self, execution_ref: str) -> data.ExportJob:
        for export in self.exports():
            number = data.index_of_ref(execution_ref, self.seed, "execution", export.friendly_id)
            if number is not None and number < len(jobs := self.jobs_of(export)):
                return jobs[number]
        raise HTTPError(404, f"Execution {execution_ref} was not found")

    @route("GET", r"/v2/audienceExports/definitions/(?P<ref>[^/]+)/reports")
    def reports(self, request: Request, ref: str) -> Response:
        self._require_token(request)
        export = self.export_by_ref(ref)
        jobs = self.jobs_of(export)
        # The order of this array is undocumented (spec §3.2): serve it shuffled, the same every time.
        jobs.sort(key=lambda job: stable_hash(self.seed, "order", job.execution_ref))
        client_key = self.settings["client_key"]
        return Response.json([data.job_report(self.seed, client_key, job) for job in jobs])

    @route("GET", r"/v2/audienceExports/definitions/(?P<ref>[^/]+)/latestExport")
    def latest_export(self, request: Request, ref: str) -> Response:
        self._require_token(request)
        export = self.export_by_ref(ref)
        finished = [job for job in self.jobs_of(export) if job.status == "SUCCESS"]
        if not finished:
            raise HTTPError(404, f"No finished export job for audience export {ref}")
        return Response.json(self.listing(finished[-1]))

    @route("GET", r"/v2/audienceExports/executions/(?P<execution_ref>[^/]+)/export")
    def execution_export(self, request: Request, execution_ref: str) -> Response:
        self._require_token(request)
        job = self.job_by_ref(execution_ref)
        if not job.has_output:
            raise HTTPError(404, f"Execution {execution_ref} has no output: its status is {job.status}")
        if job.number in job.export.expired_jobs:
            raise HTTPError(404, f"The output of execution {execution_ref} is no longer available")
        return Response.json(self.listing(job))

    def listing(self, job: data.ExportJob) -> dict[str, t.Any]:
        """The `ExportFileListing` of a job, with URLs signed now (spec §3.1)."""
        expires_in = float(self.settings["url_expires_in"])
        with self._lock:
            if int(self.settings.get("expired_listings") or 0) > 0:
                self.settings["expired_listings"] = int(self.settings["expired_listings"]) - 1
                expires_in = -60.0  # already expired when the client gets it
        files = []
        for file in job.files:
            entry: dict[str, t.Any] = {
                "url": self.presign(self.file_path(job, file), expires_in),
                "sizeKB": max(1, file.rows * 45 // 1024),
            }
            if file.action and job.export.definition_type == "DELTA":
                entry["deltaAction"] = file.action
            files.append(entry)
        return {
            "executionRef": job.execution_ref,
            "definitionRef": job.export.uuid(self.seed),
            "friendlyId": job.export.friendly_id,
            "clientKey": self.settings["client_key"],
            "expireAt": data.iso_ms(datetime.fromtimestamp(time.time() + expires_in, tz=UTC)),
            "numberOfFiles": len(files),
            "totalSizeKB": sum(f["sizeKB"] for f in files),
            "exports": files,
        }

    def file_path(self, job: data.ExportJob, file: data.ExportFile) -> str:
        return f"{FILE_PREFIX}/{self.settings['client_key']}/{job.export.friendly_id}/{job.execution_ref}/{file.name}"

    @route("GET", FILE_PREFIX + r"/(?P<client_key>[^/]+)/(?P<export>[^/]+)/(?P<execution_ref>[^/]+)/(?P<name>[^/]+)")
    def export_file(self, request: Request, client_key: str, export: str, execution_ref: str, name: str) -> Response:
        if request.headers.get("Authorization"):
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm "
                                                     "query parameter, Signature query string parameter or the "
                                                     "Authorization header should be specified")
        if (denied := self.check_presigned(request)) is not None:
            return denied
        try:
            job = self.job_by_ref(execution_ref)
            file = next(f for f in job.files if f.name == name)
        except (HTTPError, StopIteration):
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        extra_columns = list(self.settings.get("extra_columns") or [])
        lines = data.file_lines(self.seed, job, file, extra_columns)
        return Response.stream(data.gzip_stream(lines), "application/gzip")

def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, status=status)


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
           f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>")
    return Response(status, xml.encode(), {"Content-Type": "application/xml"})


def _jwt_like(subject: str) -> str:
    """An opaque token shaped like the JWTs Sitecore's auth server issues (`eyJ...`)."""

    def part(value: dict[str, t.Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": subject, "aud": AUDIENCE, "jti": secrets.token_hex(12), "iat": int(time.time())}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"
