"""Routes of the Cordial emulator: REST API v2, read side and export jobs (spec: shared/specs/cordial.md).

What it implements, with the spec section it follows:
- Basic auth with the API key as user name and an empty password; 401 `{"error": "Access Denied:
  Authentication Failure"}` (a string `error`, unlike every other error body) also for a client IP
  outside the key's allow-list (setting `allowed_ips`, CIDRs) (§2).
- Bare-array lists with 1-based `page`/`per_page`; bracket filters (`time[gt]`, `purchaseDate[gte]`,
  `times[start][lt]`, ...); 422 `Time value is incorrect` for an unparsable time; 404 `record not found`
  for a filtered list that matches nothing; `[]` past the end of an unfiltered list (§3, §4).
- `GET /v2/orders` serves at most 10,000 records per query (page x per_page window) (§4).
- `GET /v2/contactactivities` has no `page`: clients page by `time[gt]`; events are time-ordered and
  three share each second (§4).
- `+0000` date-times, PHP's `[]` for empty maps, strings for numbers in product variants (§9.1).
- Export POSTs (`contactexports`, `contactactivityexport`, `audiencetrendsexport`) with the documented
  400/406 validation errors, jobs that move Scheduled → Processing → Done/Failed over time, and files
  written into the destination over real S3 or SFTP (see `sandbox.cordial.destinations`) (§7, §8).
- 415 for a POST whose Content-Type is not JSON or form data (§3); `X-Rate-Limit-Limit`, `-Remaining`
  and `-Reset` on every answer while setting `rate_limit` (`{"limit": N, "period": seconds}`) is set, and
  429 with those and `Retry-After` once the per-route window is used up (§5); the kit's faults.
- Setting `max_page_depth` (tests): a page starting past that many records answers 400, as stores that
  cap how deep a list can be paged do (GUESSED for Cordial: its docs name no such cap).

Companion servers: `on_start` starts a local S3 server, an SFTP server, an FTP server and a GCS server
(`sandbox.cordial.destinations`), creates the buckets (`s3_buckets`, `gcs_buckets`) and folders
(`sftp_folders`, `ftp_folders`) of the demo, and records their addresses in the settings
(`s3_endpoint_url`, `sftp_port`, `ftp_port`, `gcs_endpoint_url`). On the demo port (8703) they listen on
8713, 8723, 8733 and 8743; elsewhere on free ports.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
import typing as t
from datetime import UTC, datetime
from urllib.parse import urlsplit

from typing_extensions import override

from sandbox.cordial import exports
from sandbox.cordial.data import CordialData
from sandbox.cordial.destinations import Destinations
from sandbox.cordial.exports import ExportFile, JobStore
from sandbox.cordial.filters import TimeBounds
from sandbox.framework import Emulator, HTTPError, Request, Response, route
from sandbox.framework.contracts import Amendment, SwaggerContract

if t.TYPE_CHECKING:
    from collections.abc import Callable

QUERY_CAP = 10_000  # GET /v2/orders "can retrieve up to 10,000 records at a time" (spec §4)
MAX_PER_PAGE = 10_000
RECORD_NOT_FOUND = "record not found"


#: Cordial's Swagger 2.0 file (its `/docs/v2/`); every route here but `/v2/health` is in it.
PHP_EMPTY_MAP = {"type": ["object", "array"], "maxItems": 0}  # an object, or `[]` where it is empty
CORDIAL_API = SwaggerContract("cordial-v2.swagger.json", amendments=[
    Amendment(("paths", "*", "*", "responses"), {"429": {"description": "Too Many Requests"}},
              "every route is rate limited: 429 with X-Rate-Limit-* and Retry-After (spec §5, support "
              "article S7); the file declares no 429, and no body for it is documented"),
    Amendment(("paths", "*", "get", "responses"), {"400": {"description": "Page too deep"}},
              "the emulator's `max_page_depth` setting refuses a page deep into a list with 400, as stores that "
              "cap how deep a list pages do (the taps' deep-page message is tested with it); the file declares "
              "no such refusal"),
    Amendment(("paths", "*", "*", "responses"), {"401": {"$ref": "#/responses/AuthenticationFailure"}},
              "a wrong key or an address outside the key's allow-list is 401 on every route (spec §2); "
              "the file declares it on some operations only"),
    Amendment(("paths", "/v2/products", "get", "responses"), {"404": {"$ref": "#/responses/RecordNotFound"}},
              "a page past the end may be 404 `record not found` as on the other lists (spec §4, §12; "
              "setting past_end_404); the file declares RecordNotFound under 400 here"),
    *(Amendment(("definitions", definition, "properties", field), PHP_EMPTY_MAP,
                "PHP encodes an empty map as `[]` (recorded traffic, spec §9.1)", replace=True)
      for definition, field in [("ItemsO", "attr"), ("ItemsO", "properties"), ("OrderO", "properties"),
                                ("VariantsP", "attr"), ("ProductResponse", "properties"),
                                ("ActivityActivityShow", "properties")]),
    Amendment(("definitions", "VariantsP", "properties", "qty"), {"type": ["integer", "string"]},
              "a variant's `qty` came back as a string in real data (spec §9.1)"),
    Amendment(("definitions", "ItemsO", "required"), ["productID", "sku", "name"],
              "the recorded order's items have no `category` (spec §9.1); the file requires it", replace=True),
    Amendment(("definitions", "SourceCE", "properties", "lists", "items"), {"type": ["number", "string"]},
              "the property's own description allows list names or ids (e.g. [\"monthly_newsletter\"] "
              "or [8756]), but its items are typed number"),
    Amendment(("definitions", "SourceCE", "required"), ["destination", "fields"],
              "`accountId` is required by the file but the account follows from the API key (spec §8.3, "
              "INFERRED, unverified: the tap has no account id setting)", replace=True),
    Amendment(("definitions", "SourceAE", "required"), ["exportType", "destination"],
              "the file's list (`fields`, `accountId`) is copied from contactexports; the support article "
              "S6 and the 406 messages document `name` and `audiences` instead (spec §8.2)", replace=True),
])


class CordialEmulator(Emulator):
    vendor = "cordial"
    default_port = 8703
    contract = CORDIAL_API
    default_settings: t.ClassVar[dict[str, t.Any]] = {
        "api_key": "sandbox-cordial-api-key-3c8f",
        "allowed_ips": None,  # e.g. ["127.0.0.0/8"]; None accepts every address
        "contacts": None,  # default: scale
        "activities": None,  # default: 3 x scale
        "orders": None,  # default: scale
        "products": None,  # default: scale / 2
        "supplement_records": None,  # default: scale / 4 per supplement
        "extra_contact_attributes": [],  # [{"key", "type"}] added to the account (schema evolution)
        "audiences": [
            {"name": "vip-customers", "trends": True},
            {"name": "engaged-30d", "trends": True},
            {"name": "lapsed-buyers", "trends": False},
        ],
        "default_per_page": 25,  # GUESSED (spec §4)
        "past_end_404": False,  # a page past the end: [] (default) or 404 record not found (§12)
        "job_schedule_seconds": 0.5,
        "job_seconds": 2.0,
        "job_outcomes": {},  # jobName or "*" -> "fail" | "stall"
        "job_history": 12,
        "truncate_export_files": None,  # e.g. 0.5: export files are cut to half their size (tests)
        "rate_limit": None,
        "object_stores": True,
        "s3_port": None,
        "sftp_port": None,
        "s3_buckets": ["cordial-exports"],
        "sftp_users": {"cordial": "sandbox-sftp-password-5e1a"},
        "sftp_folders": ["exports"],
        "ftp_port": None,
        "ftp_users": {"cordial": "sandbox-ftp-password-71b2"},
        "ftp_folders": ["exports"],
        "gcs_port": None,
        "gcs_buckets": ["cordial-exports"],
        "max_page_depth": None,  # e.g. 500: a page whose first record is past 500 answers 400 (tests)
    }

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.data = CordialData(self.settings)
        #: The companion S3, GCS, SFTP and FTP servers (public: tests read what the export jobs wrote there).
        self.destinations = Destinations(self.settings)
        self.jobs = JobStore(self.destinations.write)
        self._windows: dict[str, tuple[float, int]] = {}
        self._window_lock = threading.Lock()
        #: Every API request served, oldest first (public: tests read what the tap sent).

    @override
    def on_settings_changed(self) -> None:
        self.data = CordialData(self.settings)

    # Companion object stores ----------------------------------------------------------------------

    @override
    def on_start(self) -> None:
        if self.settings.get("object_stores"):
            self.destinations.start(demo=urlsplit(self.base_url).port == self.default_port)

    @override
    def on_stop(self) -> None:
        self.destinations.stop()

    # Errors, auth, rate limits ----------------------------------------------------------------------

    @override
    def error_response(self, error: HTTPError) -> Response:
        body: t.Any
        if "body" in error.extra:
            body = error.extra["body"]
        elif error.status == 401:
            body = {"error": "Access Denied: Authentication Failure"}
        elif error.status == 500:
            body = {"error": "an error has occurred"}
        elif error.status == 404 and error.message != RECORD_NOT_FOUND:
            body = {"error": error.message}  # an unknown route: the v1 traffic's shape (spec §6)
        else:
            body = {"error": True, "errorKey": error.extra.get("error_key", "GENERIC_ERROR_KEY"),
                    "message": error.message}
            if error.status == 404:
                body["errorKey"] = "RECORD_NOT_FOUND"
            if error.status == 429:
                body = {"error": True, "message": error.message}
        return Response.json(body, status=error.status, headers=error.headers)

    @override
    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_sandbox/"):
            return super().handle(request)
        response = self._serve(request)
        return response

    def _serve(self, request: Request) -> Response:
        try:
            self._authorize(request)
            if request.method in {"POST", "PUT"}:
                content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if content_type not in {"application/json", "application/x-www-form-urlencoded"}:
                    raise HTTPError(415, "Unsupported Media Type: Content-Type header must be application/json "
                                         "or application/x-www-form-urlencoded.", error_key="UNSUPPORTED_MEDIA_TYPE")
            limit_headers = self._rate_limit(request)
        except HTTPError as error:
            return self.error_response(error)
        if request.path.rstrip("/") != request.path or not request.path.startswith("/v2/"):
            return self.error_response(HTTPError(404, f"'{request.path}' is not found."))
        response = super().handle(request)
        if response.status == 404 and b"No route for" in (response.body if isinstance(response.body, bytes) else b""):
            response = self.error_response(HTTPError(404, f"'{request.path}' is not found."))
        response.headers.update(limit_headers)
        return response

    def _authorize(self, request: Request) -> None:
        credentials = request.basic_auth()
        if credentials is None or credentials[0] != self.settings["api_key"]:
            raise HTTPError(401, "Access Denied: Authentication Failure")
        allowed = self.settings.get("allowed_ips")
        if allowed is not None:
            address = ipaddress.ip_address(request.client)
            if not any(address in ipaddress.ip_network(cidr, strict=False) for cidr in allowed):
                raise HTTPError(401, "Access Denied: Authentication Failure")

    def _rate_limit(self, request: Request) -> dict[str, str]:
        """A fixed window per method and resource; 429 with Cordial's headers when it is used up (§5)."""
        policy = self.settings.get("rate_limit")
        if not policy:
            return {}
        limit, period = int(policy["limit"]), float(policy.get("period", 60))
        key = f"{request.method} {'/'.join(request.path.split('/')[:3])}"
        now = time.time()
        with self._window_lock:
            started, used = self._windows.get(key, (now, 0))
            if now - started >= period:
                started, used = now, 0
            reset = max(1, math.ceil(started + period - now))
            if used >= limit:
                headers = {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": "0",
                           "X-Rate-Limit-Reset": str(reset), "Retry-After": str(reset)}
                raise HTTPError(429, "Too Many Requests", headers=headers)
            self._windows[key] = (started, used + 1)
        return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(limit - used - 1),
                "X-Rate-Limit-Reset": str(reset)}

    # Paging helpers -------------------------------------------------------------------------------

    def _per_page(self, request: Request) -> int:
        per_page = request.int_arg("per_page", int(self.settings["default_per_page"])) or 0
        if per_page < 1 or per_page > MAX_PER_PAGE:
            raise HTTPError(400, f"per_page must be between 1 and {MAX_PER_PAGE}.")
        return per_page

    def _page(self, request: Request) -> int:
        page = request.int_arg("page", 1) or 0
        if page < 1:
            raise HTTPError(400, "page must be 1 or more.")
        return page

    def _list(self, rows: list[t.Any], *, filtered: bool) -> Response:
        """A bare-array page; a filtered query that matches nothing is 404 `record not found` (§4)."""
        if not rows and (filtered or self.settings.get("past_end_404")):
            raise HTTPError(404, RECORD_NOT_FOUND)
        return Response.json(rows)

    def _paged(self, request: Request, indexes: range | list[int], make: Callable[[int], t.Any], *,
               filtered: bool = False, cap: int | None = None) -> Response:
        page, per_page = self._page(request), self._per_page(request)
        start = (page - 1) * per_page
        depth = self.settings.get("max_page_depth")
        if depth is not None and start >= int(depth):
            raise HTTPError(400, f"The page is out of range: at most {int(depth)} records of a list can be paged.",
                            error_key="PAGE_OUT_OF_RANGE")
        stop = start + per_page
        if cap is not None:
            stop = min(stop, cap)
        return self._list([make(i) for i in indexes[start:max(start, stop)]], filtered=filtered)

    # Routes: account set-up -----------------------------------------------------------------------

    @route("GET", r"/v2/health")
    def health(self, request: Request) -> Response:
        return Response.json({"status": "ok"})  # body GUESSED (spec §1)

    @route("GET", r"/v2/accountcontactattributes")
    def contact_attributes(self, request: Request) -> Response:
        rows = self.data.attributes
        kind, indexed = request.arg("type"), request.arg("indexed")
        if kind:
            rows = [a for a in rows if a["type"] == kind]
        if indexed in {"0", "1"}:
            rows = [a for a in rows if a["index"] == (indexed == "1")]
        return self._list(rows, filtered=bool(kind or indexed))

    @route("GET", r"/v2/accountlists")
    def account_lists(self, request: Request) -> Response:
        name = request.arg("name")
        rows = [item for item in self.data.lists if not name or item["name"] == name]
        return self._list(rows, filtered=bool(name))

    @route("GET", r"/v2/accountlists/(?P<list_id>[^/]+)(?P<count>/count)?")
    def account_list(self, request: Request, list_id: str, count: str | None) -> Response:
        for item in self.data.lists:
            if str(item["id"]) == list_id:
                if count:
                    members = sum(1 for i in range(self.data.count("contacts")) if item["name"] in
                                  self.data.contact(i)["lists"])
                    return Response.json({**item, "count": members})
                return Response.json(item)
        raise HTTPError(404, RECORD_NOT_FOUND)

    # Routes: contacts -----------------------------------------------------------------------------

    @route("GET", r"/v2/contacts")
    def contacts(self, request: Request) -> Response:
        count = self.data.count("contacts")
        email = request.arg("email")
        if email:
            prefix, _, number = email.partition("@")[0].partition("contact")
            index = int(number) if not prefix and number.isdigit() and int(number) < count else None
            return self._list([self.data.contact(index)] if index is not None else [], filtered=True)
        audience = request.arg("audience-key")
        indexes: range | list[int] = range(count)
        if audience:
            self.data.audience(audience)
            indexes = [i for i in range(count) if self.data.in_audience(audience, i)]
        return self._paged(request, indexes, self.data.contact, filtered=bool(audience))

    @route("GET", r"/v2/contacts/(?P<key>[^/]+)")
    def contact(self, request: Request, key: str) -> Response:
        key = key.removeprefix("email:")
        for index in range(self.data.count("contacts")):
            record = self.data.contact(index)
            if key in (record["_id"], record["channels"]["email"]["address"]):
                return Response.json(record)
        raise HTTPError(404, RECORD_NOT_FOUND)

    # Routes: contact activities -------------------------------------------------------------------

    def _activity_indexes(self, request: Request, time_field: str = "time") -> tuple[range, bool]:
        bounds = TimeBounds.of(request, time_field)
        return bounds.indexes(self.data.count("activities", 3), self.data.activity_time), bounds.given

    @route("GET", r"/v2/contactactivities")
    def contact_activities(self, request: Request) -> Response:
        indexes, filtered = self._activity_indexes(request)
        per_page = self._per_page(request)
        action, email = request.arg("action"), request.arg("email")
        rows: list[dict[str, t.Any]] = []
        for index in indexes:  # no `page` parameter: clients move `time[gt]` forward (spec §4)
            record = self.data.activity(index)
            if (action and record["action"] != action) or (email and record["email"] != email):
                continue
            rows.append(record)
            if len(rows) >= per_page:
                break
        return self._list(rows, filtered=filtered or bool(action or email))

    # Routes: orders and products ------------------------------------------------------------------

    @route("GET", r"/v2/orders")
    def orders(self, request: Request) -> Response:
        bounds = TimeBounds.of(request, "purchaseDate")
        indexes: range | list[int] = bounds.indexes(self.data.count("orders"), self.data.order_time)
        if request.arg("sort_dir", "asc") == "desc":
            indexes = indexes[::-1]
        contact_id = request.arg("cID")
        if contact_id:
            indexes = [i for i in indexes if self.data.order(i)["cID"] == contact_id]
        return self._paged(request, indexes, self.data.order, filtered=bounds.given or bool(contact_id), cap=QUERY_CAP)

    @route("GET", r"/v2/orders/(?P<order_id>[^/]+)")
    def order(self, request: Request, order_id: str) -> Response:
        if order_id.startswith("R") and order_id[1:].isdigit() and int(order_id[1:]) < self.data.count("orders"):
            return Response.json(self.data.order(int(order_id[1:])))
        raise HTTPError(404, RECORD_NOT_FOUND)

    @route("GET", r"/v2/products")
    def products(self, request: Request) -> Response:
        return self._paged(request, range(self.data.count("products", 0.5)), self.data.product)

    @route("GET", r"/v2/products/(?P<product_id>[^/]+)")
    def product(self, request: Request, product_id: str) -> Response:
        if product_id.isdigit() and 0 < int(product_id) <= self.data.count("products", 0.5):
            return Response.json(self.data.product(int(product_id) - 1))
        raise HTTPError(404, RECORD_NOT_FOUND)

    # Routes: supplements --------------------------------------------------------------------------

    @route("GET", r"/v2/supplements")
    def supplements(self, request: Request) -> Response:
        rows = self.data.supplements
        return self._paged(request, range(len(rows)), lambda i: rows[i])

    @route("GET", r"/v2/supplements/(?P<key>[^/]+)/records")
    def supplement_records(self, request: Request, key: str) -> Response:
        if key not in {s["key"] for s in self.data.supplements}:
            raise HTTPError(422, f"The supplement '{key}' does not exist.")
        count = self.data.count("supplement_records", 0.25)
        return self._paged(request, range(count), lambda i: self.data.supplement_record(key, i))

    # Routes: exports ------------------------------------------------------------------------------

    def _start_job(self, job_name: str, destination: dict[str, t.Any], export: ExportFile) -> Response:
        outcomes = self.settings.get("job_outcomes") or {}
        outcome = outcomes.get(job_name) or outcomes.get("*") or "done"
        job = self.jobs.create(job_name, destination, export, outcome)
        return Response.json({"jobId": job.job_id})

    @route("POST", r"/v2/contactexports")
    def contact_export(self, request: Request) -> Response:
        return self._start_job("ExportContacts", *exports.contact_export(request.json(), self.data))

    @route("POST", r"/v2/contactactivityexport")
    def contact_activity_export(self, request: Request) -> Response:
        return self._start_job("ExportEvents", *exports.contact_activity_export(request.json(), self.data))

    @route("POST", r"/v2/audiencetrendsexport")
    def audience_trends_export(self, request: Request) -> Response:
        # jobName GUESSED (spec §7)
        return self._start_job("ExportAudienceTrends", *exports.audience_trends_export(request.json(), self.data))

    # Routes: jobs ---------------------------------------------------------------------------------

    def _all_jobs(self) -> list[dict[str, t.Any]]:
        now = time.time()
        today = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        history = self.data.history_jobs(today)
        schedule, run = float(self.settings["job_schedule_seconds"]), float(self.settings["job_seconds"])
        created = [job.view(schedule, run, now) for job in self.jobs.all()]
        return history + created

    @route("GET", r"/v2/jobs")
    def jobs_list(self, request: Request) -> Response:
        per_page = self._per_page(request)
        if "statistic" in (request.arg("include") or "") and per_page > 25:
            raise HTTPError(400, "When include=statistic is requested, per_page must not exceed 25.",
                            error_key="JOBS_STATISTIC_PER_PAGE_EXCEEDED")
        rows = self._all_jobs()
        filtered = False
        for name in ("jobName", "status"):
            if value := request.arg(name):
                rows = [r for r in rows if r.get(name) == value]
                filtered = True
        for part in ("start", "end"):
            bounds = TimeBounds.of(request, f"times[{part}]")
            if bounds.given:
                filtered = True
                rows = [r for r in rows if bounds.contains(r["times"].get(part))]
        rows.sort(key=lambda r: r["times"]["start"])
        return self._paged(request, range(len(rows)), lambda i: rows[i], filtered=filtered)

    @route("GET", r"/v2/jobs/(?P<job_id>[^/]+)")
    def job(self, request: Request, job_id: str) -> Response:
        for record in self._all_jobs():
            if record["_id"] == job_id:
                return Response.json(record)
        raise HTTPError(404, RECORD_NOT_FOUND)
