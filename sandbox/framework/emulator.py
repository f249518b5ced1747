"""`Emulator`, the base class of every vendor emulator, and `@route`, which declares its handlers.

An emulator is a class with routes (`@route("GET", r"/api/things/(?P<id>[^/]+)")`) that return a
`Response`. Tests steer a running emulator through the admin routes under `/_sandbox/` (which no tap
ever calls):
- `POST /_sandbox/faults` with a list of fault specs (see `Fault`), `DELETE /_sandbox/faults` to clear;
- `POST /_sandbox/settings` merges a JSON object into the emulator's settings (scale, credentials, ...);
- `GET /_sandbox/requests` returns how many requests each route served; `GET /_sandbox/log` lists the
  last requests (arrival time, method, path, query, status: what a tap sent, and when);
  `POST /_sandbox/reset` clears both;
- `GET /_sandbox/contract` lists what the vendor's API file refused so far (see `contract`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
import typing as t
from collections import Counter, deque
from http import HTTPStatus
from urllib.parse import urlencode

from sandbox.framework.bodies import Seeded, stable_hash
from sandbox.framework.contracts import Contract, Violation
from sandbox.framework.faults import FaultPlan
from sandbox.framework.messages import HTTPError, Request, Response

if t.TYPE_CHECKING:
    from collections.abc import Callable

ADMIN_PREFIX = "/_sandbox/"
LOGGER = logging.getLogger("sandbox")

RouteHandler = t.Callable[..., Response]
#: Requests kept in the request log (enough for any test; a bench run keeps only its last ones).
REQUEST_LOG_SIZE = 10_000


def route(method: str, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
    """Declare a handler for `method` on paths matching `pattern` (a full-match regex)."""

    def decorate(func: RouteHandler) -> RouteHandler:
        routes = getattr(func, "_sandbox_routes", [])
        routes.append((method.upper(), pattern))
        func._sandbox_routes = routes  # type: ignore[attr-defined]
        return func

    return decorate


class Emulator(Seeded):
    """Base class of a vendor emulator: routes, settings, faults, request counts, presigned URLs."""

    #: Name used on the command line (`--vendor`) and in printed URLs.
    vendor: t.ClassVar[str] = ""
    #: Default port for `python -m sandbox up` (0 = any free port).
    default_port: t.ClassVar[int] = 0
    #: Settings a test may change at run time through `POST /_sandbox/settings`.
    default_settings: t.ClassVar[dict[str, t.Any]] = {}
    #: The vendor's own API description file, if it publishes one: every request on a path it
    #: describes, and every response there, is checked against it (see `sandbox.framework.contracts`).
    contract: t.ClassVar[Contract | None] = None

    def __init__(self, *, seed: int = 42, scale: int = 100, check_contract: bool = True, **settings: t.Any) -> None:
        self.settings: dict[str, t.Any] = {**json.loads(json.dumps(self.default_settings)), **settings}
        self.settings.setdefault("seed", seed)
        self.settings.setdefault("scale", scale)
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        self.check_contract = check_contract and self.contract is not None
        self._violations: list[Violation] = []
        #: The last requests served (faults included), oldest first: what a tap sent, and when.
        self.request_log: deque[dict[str, t.Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._lock = threading.Lock()
        self.base_url = ""
        self._signing_key = stable_hash("signing", self.vendor, seed).to_bytes(8, "big")
        self._routes: list[tuple[str, re.Pattern[str], RouteHandler]] = []
        for name in dir(type(self)):
            func = getattr(type(self), name, None)
            for method, pattern in getattr(func, "_sandbox_routes", []):
                self._routes.append((method, re.compile(pattern), getattr(self, name)))

    # Settings -------------------------------------------------------------------------------------

    def update_settings(self, changes: dict[str, t.Any]) -> None:
        """Merge `changes` into the settings (the admin route calls this between tap runs)."""
        with self._lock:
            self.settings.update(changes)
            self.on_settings_changed()

    def on_settings_changed(self) -> None:
        """Hook for emulators that cache something derived from settings."""

    def on_start(self) -> None:
        """Hook run once the server is listening (e.g. to start a companion S3 or SFTP server)."""

    def on_stop(self) -> None:
        """Hook run when the server stops (stop what `on_start` started)."""

    # Errors ---------------------------------------------------------------------------------------

    def error_response(self, error: HTTPError) -> Response:
        """Render an error in the vendor's documented shape (emulators override this)."""
        return Response.json(
            {"status": error.status, "error": HTTPStatus(error.status).phrase, "message": error.message},
            status=error.status,
            headers=error.headers,
        )

    # Presigned URLs -------------------------------------------------------------------------------

    def presign(self, path: str, expires_in: float, **params: str) -> str:
        """An absolute URL for `path` whose signature is valid for `expires_in` seconds (S3 style)."""
        expires = int(time.time() + expires_in)
        query = {**params, "X-Amz-Expires": str(int(expires_in)), "X-Amz-Date": str(expires)}
        signature = hmac.new(self._signing_key, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()
        query["X-Amz-Signature"] = signature
        return f"{self.base_url}{path}?{urlencode(query)}"

    def check_presigned(self, request: Request) -> Response | None:
        """None if the URL's signature is valid and unexpired; otherwise S3's 403 XML error response."""
        expires = request.arg("X-Amz-Date") or ""
        signature = request.arg("X-Amz-Signature") or ""
        expected = hmac.new(self._signing_key, f"{request.path}|{expires}".encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            code, message = "SignatureDoesNotMatch", "The request signature we calculated does not match."
        elif not expires.isdigit() or int(expires) < time.time():
            code, message = "AccessDenied", "Request has expired"
        else:
            return None
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{stable_hash(request.path, expires) % 10**16:016X}</RequestId></Error>"
        )
        return Response(403, xml.encode(), {"Content-Type": "application/xml"})

    # The vendor's API file -----------------------------------------------------------------------

    def observe(self, request: Request, response: Response | None) -> None:
        """Check `request` and the `response` it got (None: a fault answered) against `contract`."""
        if not self.check_contract or self.contract is None or request.path.startswith(ADMIN_PREFIX):
            return
        try:
            found = self.contract.check(request, response)
        except Exception as exc:  # a failing check is a finding too, never a hung client
            LOGGER.exception("contract check failed")
            found = [Violation(self.contract.name, request.method, request.path, "request", f"check failed: {exc!r}")]
        for violation in found:
            LOGGER.warning("%s", violation)
        with self._lock:
            self._violations += found

    def take_contract_violations(self) -> list[Violation]:
        """What the vendor's file refused since the last call (the test suite fails on any)."""
        with self._lock:
            taken, self._violations = self._violations, []
        return taken

    # Request log ----------------------------------------------------------------------------------

    def log_request(
        self, *, at: float, method: str, path: str, query: dict[str, list[str]], status: int, body: bytes = b""
    ) -> None:
        """Note one answered request (the server calls this for every non-admin request, faults included)."""
        try:
            document = json.loads(body) if body else None
        except ValueError:
            document = None
        entry = {"at": at, "method": method, "path": path,
                 "query": {k: v[0] if len(v) == 1 else v for k, v in query.items()}, "json": document,
                 "status": status}
        with self._lock:
            self.request_log.append(entry)

    def logged_requests(self, method: str | None = None, path_ending: str = "") -> list[dict[str, t.Any]]:
        """The requests in the log, oldest first; only those of `method` whose path ends with `path_ending`."""
        with self._lock:
            return [entry for entry in self.request_log
                    if (method is None or entry["method"] == method) and entry["path"].endswith(path_ending)]

    # Dispatch -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Find the route for `request` and run it, rendering `HTTPError`s in the vendor's shape."""
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin(request)
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                with self._lock:
                    self.requests[f"{method} {pattern.pattern}"] += 1
                try:
                    return handler(request, **match.groupdict())
                except HTTPError as error:
                    return self.error_response(error)
        return self.error_response(HTTPError(404, f"No route for {request.method} {request.path}"))

    def _admin(self, request: Request) -> Response:
        action = request.path[len(ADMIN_PREFIX) :].strip("/")
        if action == "faults" and request.method == "POST":
            specs = request.json()
            self.faults.add(specs if isinstance(specs, list) else [specs])
            return Response.json({"pending": self.faults.pending()})
        if action == "faults" and request.method == "DELETE":
            self.faults.clear()
            return Response.json({"pending": []})
        if action == "faults":
            return Response.json({"pending": self.faults.pending()})
        if action == "settings" and request.method == "POST":
            self.update_settings(request.json() or {})
            return Response.json(self.settings)
        if action == "settings":
            return Response.json(self.settings)
        if action == "requests":
            with self._lock:
                return Response.json({"total": sum(self.requests.values()), "by_route": dict(self.requests)})
        if action == "contract":
            with self._lock:
                violations = [str(v) for v in self._violations]
            return Response.json({"file": self.contract.name if self.contract else None,
                                  "checked": self.check_contract, "violations": violations})
        if action == "log":
            with self._lock:
                return Response.json({"requests": list(self.request_log)})
        if action == "reset" and request.method == "POST":
            with self._lock:
                self.requests.clear()
                self.request_log.clear()
            self.faults.clear()
            return Response.json({"ok": True})
        return Response.json({"error": f"unknown admin action {action!r}"}, status=404)

