"""Routes of the Sitecore CDP emulator: the REST APIs a tap reads (spec: shared/specs/sitecore-cdp.md).

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
- Guest REST API v2.1 with Basic auth (§5): `/v2.1/guests` (offset/limit
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
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode

from typing_extensions import override

from sandbox.framework import Emulator, HTTPError, Request, Response, route, stable_hash
from sandbox.framework.contracts import Amendment, OpenAPIContract
from sandbox.sitecore_cdp import data, exports
from sandbox.sitecore_cdp.exports import FILE_PREFIX, s3_error

if t.TYPE_CHECKING:
    from collections.abc import Iterable

AUDIENCE = "https://api.sitecorecloud.io"
MORE_INFO = "https://support.sitecore.com"
UNAUTHORIZED_MESSAGE = (
    "Authentication credentials are required to access the resource. All requests must be authenticated."
)
MAX_LIMIT = 100  # the collections' `limit` maximum (spec §5.2)


#: The official Guest REST API v2.1 file. It describes `/v2.1/guests...` only: OAuth, the Audience
#: export API, `/v2.1/orders` and the presigned files are not checked (docs/api-contracts.md).
GUEST_API = OpenAPIContract("sitecore-guest-v2.1.openapi.yaml", amendments=[
    Amendment(("components", "schemas", "Offset"), {"type": "integer", "minimum": 0},
              "the file types `offset` as an object, yet its own default (0) and example (10) are integers, "
              "as on the docs page S10; as typed, no request with an offset would validate"),
    Amendment(("components", "schemas", "Limit"), {"type": "integer", "minimum": 1},
              "typed object like `offset` (default 10, example 40 are integers); minimum 1, not 10, as the "
              "docs page S10 says (spec §5.2); the maximum 100 stays"),
    Amendment(("paths", "*", "get", "parameters", "name=expand", "schema"), {"default": ["false"]},
              "the inline `expand` schemas are arrays whose default is '' (not an array), so a request "
              "without `expand` would not validate; the documented default is false"),
    Amendment(("paths", "/v2.1/guests", "get", "parameters"),
              [{"in": "query", "name": name, "schema": {"type": "string"}} for name in
               ("email", "orderReferenceId", "orderRef", "identifiers.provider", "identifiers.id")],
              "the operation's own description documents these exact-match filters but does not declare them"),
    Amendment(("paths", "/v2.1/guests", "get", "responses"),
              {"400": {"description": "Bad request", "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/GuestBadRequestResponse"}}}}},
              "an invalid `sort` or an offset past the search window is refused with the documented 400 body "
              "(spec §5.2, §6); the file lists only 200 and 401"),
])


class SitecoreCDPEmulator(Emulator):
    vendor = "sitecore-cdp"
    default_port = 8702
    contract = GUEST_API
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

    @override
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

    # Guest REST API v2.1 (spec §5 and the official OpenAPI beside it) -------------------------------

    def _require_basic(self, request: Request) -> None:
        if request.basic_auth() != (self.settings["client_key"], self.settings["api_token"]):
            raise HTTPError(401, "Bad client key or API token")

    @property
    def touched(self) -> dict[str, str]:
        """Guests changed by a test: setting `touched_guests`, `{index: modifiedAt}`."""
        return t.cast("dict[str, str]", self.settings.get("touched_guests") or {})

    @property
    def guest_count(self) -> int:
        return self.scale if self.settings.get("guests") is None else int(self.settings["guests"])

    def guest_index(self, ref: str) -> int:
        index = data.index_of_ref(ref, self.seed, "guest")
        if index is None or index >= self.guest_count:
            raise HTTPError(404, f"Guest with ref {ref} for client key {self.settings['client_key']} was not found")
        return index

    def expanded_guest(self, index: int, *, expand_extensions: bool) -> dict[str, t.Any]:
        return data.expanded_guest(self.seed, self.base_url, index, self.touched, expand_extensions=expand_extensions)

    def _page(
        self, request: Request, path: str, total: int, *, links: bool = True
    ) -> tuple[int, int, dict[str, t.Any]]:
        """Offset and limit of a collection request, and the collection's `href` and paging links (§5.2, §7)."""
        offset = request.int_arg("offset", 0) or 0
        limit = request.int_arg("limit", 10) or 0
        if offset < 0 or limit < 1:
            raise HTTPError(400, f"Invalid paging: offset={offset}, limit={limit}", summary="Invalid request")
        limit = min(limit, MAX_LIMIT)
        window = self.settings.get("max_offset_window")
        if window is not None and offset + limit > int(window):
            raise HTTPError(400, f"Result window is too large: offset + limit must be at most {window}",
                            summary="Invalid request")
        others = {k: v[0] for k, v in request.query.items() if k not in {"offset", "limit"}}

        def link(at: int) -> dict[str, str]:
            return {"href": f"{self.base_url}{path}?{urlencode({**others, 'offset': at, 'limit': limit})}"}

        capital = self.settings.get("link_case") == "capital"
        body: dict[str, t.Any] = {"href": link(offset)["href"], "offset": offset, "limit": limit}
        if not links:  # the extensions collection has no paging links (RetrieveDataGuestExtensionsResponse)
            return offset, limit, body
        body["First" if capital else "first"] = link(0)
        if offset + limit < total:
            body["Next" if capital else "next"] = link(offset + limit)
        if not capital:
            body["last"] = link(max(0, (total - 1) // limit * limit))
        return offset, limit, body

    @route("GET", r"/v2.1/guests")
    def guests(self, request: Request) -> Response:
        self._require_basic(request)
        indexes = self._guest_indexes(request)
        offset, limit, body = self._page(request, "/v2.1/guests", len(indexes))
        expand = (request.arg("expand") or "").lower() == "true"
        page = indexes[offset : offset + limit]
        expand_extensions = bool(self.settings.get("expand_extensions", True))
        body["items"] = [
            self.expanded_guest(i, expand_extensions=expand_extensions) if expand
            else {"href": f"{self.base_url}/v2.1/guests/{data.ref_for(i, self.seed, 'guest')}"}
            for i in page
        ]
        return Response.json(body)

    def _guest_indexes(self, request: Request) -> list[int] | range:
        indexes: list[int] | range = range(self.guest_count)
        if email := request.arg("email"):
            indexes = [i for i in indexes if f"guest{i:06d}@example.com" == email]
        provider, identifier = request.arg("identifiers.provider"), request.arg("identifiers.id")
        if provider or identifier:
            if not (provider and identifier):
                raise HTTPError(400, "identifiers.provider and identifiers.id must be used together",
                                summary="Invalid request")
            indexes = [i for i in indexes if provider == "ProfileSystem" and identifier == f"PS-{i:08d}"]
        if sort := request.arg("sort"):
            for clause in reversed(sort.split("|")):
                name, _, direction = clause.partition("::")
                if direction not in {"ASC", "DESC"} or name not in {"createdAt", "modifiedAt", "email", "firstName"}:
                    raise HTTPError(400, f"Invalid sort clause {clause!r}: use field::ASC or field::DESC",
                                    summary="Invalid request")
                indexes = sorted(indexes, key=lambda i, n=name: data.guest(self.seed, "", i, self.touched)[n],
                                 reverse=direction == "DESC")
        return indexes

    @route("GET", r"/v2.1/guests/(?P<ref>[^/]+)")
    def guest(self, request: Request, ref: str) -> Response:
        self._require_basic(request)
        index = self.guest_index(ref)
        expand = (request.arg("expand") or "").lower() == "true"
        return Response.json(self.expanded_guest(index, expand_extensions=expand))

    @route("GET", r"/v2.1/guests/(?P<ref>[^/]+)/extensions")
    def extensions(self, request: Request, ref: str) -> Response:
        self._require_basic(request)
        index = self.guest_index(ref)
        names = data.extension_names(index)
        offset, limit, body = self._page(request, f"/v2.1/guests/{ref}/extensions", len(names), links=False)
        expand = (request.arg("expand") or "").lower() == "true"
        body["items"] = [
            data.data_extension(self.seed, self.base_url, index, name, self.touched) if expand
            else {"href": f"{self.base_url}/v2.1/guests/{ref}/extensions/{name}"}
            for name in names[offset : offset + limit]
        ]
        return Response.json(body)

    @route("GET", r"/v2.1/guests/(?P<ref>[^/]+)/extensions/(?P<name>[^/]+)")
    def extension(self, request: Request, ref: str, name: str) -> Response:
        self._require_basic(request)
        index = self.guest_index(ref)
        if name not in {"ext", "ext1", "ext2", "ext3", "ext4", "ext5"}:
            raise HTTPError(400, "Attribute name is invalid (value must be one of ext,ext1,ext2,ext3,ext4,ext5).",
                            summary="Invalid request")
        if name not in data.extension_names(index):
            raise HTTPError(404, f"Data extension {name} for Guest ref {ref} and client key "
                                 f"{self.settings['client_key']} was not found for v2.1")
        return Response.json(data.data_extension(self.seed, self.base_url, index, name, self.touched))

    @route("GET", r"/v2.1/orders")
    def orders(self, request: Request) -> Response:
        self._require_basic(request)
        guest_ref, reference_id = request.arg("guestRef"), request.arg("referenceId")
        if bool(guest_ref) == bool(reference_id):
            raise HTTPError(400, "Exactly one of guestRef or referenceId is required", summary="Invalid request")
        found: Iterable[tuple[int, int]]
        if guest_ref:
            index = self.guest_index(guest_ref)
            found = [(index, n) for n in range(data.order_count(self.seed, index))]
        else:
            found = data.orders_by_reference(self.seed, self.guest_count, reference_id or "")
        found = list(found)
        offset, limit, body = self._page(request, "/v2.1/orders", len(found))
        expand = (request.arg("expand") or "").lower() == "true"
        items = []
        for index, number in found[offset : offset + limit]:
            record = data.order(self.seed, self.base_url, index, number)
            items.append(record if expand else {"href": record["href"], "ref": record["ref"]})
        body["items"] = items
        return Response.json(body)

    @route("GET", r"/v2.1/orders/(?P<ref>[^/]+)")
    def order(self, request: Request, ref: str) -> Response:
        self._require_basic(request)
        packed = data.index_of_ref(ref, self.seed, "order")
        if packed is None or packed // 16 >= self.guest_count or packed % 16 >= data.order_count(
            self.seed, packed // 16
        ):
            raise HTTPError(404, f"Order with ref {ref} for client key {self.settings['client_key']} was not found")
        return Response.json(data.order(self.seed, self.base_url, packed // 16, packed % 16))

    # Audience export API --------------------------------------------------------------------------

    def export_definitions(self) -> list[exports.ExportDefinition]:
        return [exports.ExportDefinition.from_setting(e) for e in self.settings["exports"]]

    def export_by_ref(self, ref: str) -> exports.ExportDefinition:
        """An export by friendly id or UUID: the API accepts either (spec §3)."""
        for export in self.export_definitions():
            if ref in (export.friendly_id, export.uuid(self.seed)):
                return export
        raise HTTPError(404, f"Audience export definition {ref} for client key {self.settings['client_key']} "
                             "was not found")

    def jobs_of(self, export: exports.ExportDefinition) -> list[exports.ExportJob]:
        rows = self.scale if export.rows is None else int(export.rows)
        count = export.jobs + int(self.settings.get("extra_jobs") or 0)
        return exports.export_jobs(self.seed, export, rows, count, int(self.settings["max_rows_per_file"]))

    def members(self, ref: str) -> set[int]:
        """The guest indexes in an export's audience now: its files applied job after job (spec §4).

        A full export's job lists every member; a delta export's jobs add and remove members, its first
        job being a full export. Jobs without output (FAILED) change nothing.
        """
        current: set[int] = set()
        for job in self.jobs_of(self.export_by_ref(ref)):
            if not job.has_output:
                continue
            if job.export.definition_type != "DELTA":
                current = set()
            for file in job.files:
                rows = range(file.first_member, file.first_member + file.rows)
                if file.action == "remove":
                    current.difference_update(rows)
                else:
                    current.update(rows)
        return current

    def job_by_ref(self, execution_ref: str) -> exports.ExportJob:
        for export in self.export_definitions():
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
        return Response.json([exports.job_report(self.seed, client_key, job) for job in jobs])

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

    def listing(self, job: exports.ExportJob) -> dict[str, t.Any]:
        """The job's file listing, with URLs signed now (or already expired: setting `expired_listings`)."""
        expires_in = float(self.settings["url_expires_in"])
        with self._lock:
            if int(self.settings.get("expired_listings") or 0) > 0:
                self.settings["expired_listings"] = int(self.settings["expired_listings"]) - 1
                expires_in = -60.0  # already expired when the client gets it
        return exports.file_listing(self.seed, self.settings["client_key"], job, expires_in=expires_in,
                                    sign=self.presign)

    @route("GET", FILE_PREFIX + r"/(?P<client_key>[^/]+)/(?P<export>[^/]+)/(?P<execution_ref>[^/]+)/(?P<name>[^/]+)")
    def export_file(self, request: Request, client_key: str, export: str, execution_ref: str, name: str) -> Response:
        if request.headers.get("Authorization"):
            return s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm "
                                                     "query parameter, Signature query string parameter or the "
                                                     "Authorization header should be specified")
        if (denied := self.check_presigned(request)) is not None:
            return denied
        try:
            job = self.job_by_ref(execution_ref)
            file = next(f for f in job.files if f.name == name)
        except (HTTPError, StopIteration):
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        extra_columns = list(self.settings.get("extra_columns") or [])
        lines = exports.file_lines(self.seed, job, file, extra_columns)
        return Response.stream(exports.gzip_stream(lines), "application/gzip")


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, status=status)


def _jwt_like(subject: str) -> str:
    """An opaque token shaped like the JWTs Sitecore's auth server issues (`eyJ...`)."""

    def part(value: dict[str, t.Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": subject, "aud": AUDIENCE, "jti": secrets.token_hex(12), "iat": int(time.time())}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"
