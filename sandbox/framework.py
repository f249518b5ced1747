"""The small framework the vendor emulators share.

An emulator is a class with routes (`@route("GET", r"/api/things/(?P<id>[^/]+)")`) that return a
`Response`. Each emulator runs in its own real HTTP/1.1 server on loopback, so a tap talks to it
exactly as it would to the vendor: keep-alive, chunked bodies, gzip files, headers.

Data is generated from `(seed, collection, index)` on the fly, never stored, so that a collection of
millions costs no memory and two runs with the same seed serve the same bytes.

Tests steer a running emulator through the admin routes under `/_sandbox/` (which no tap ever calls):
- `POST /_sandbox/faults` with a list of fault specs (see `Fault`), `DELETE /_sandbox/faults` to clear;
- `POST /_sandbox/settings` merges a JSON object into the emulator's settings (scale, credentials, ...);
- `GET /_sandbox/requests` returns how many requests each route served; `POST /_sandbox/reset` clears it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
import typing as t
from collections import Counter
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

LOGGER = logging.getLogger("sandbox")
ADMIN_PREFIX = "/_sandbox/"
CHUNK_TARGET = 64 * 1024


# --------------------------------------------------------------------------------------------- data


def stable_hash(*parts: object) -> int:
    """A 64-bit integer that depends only on `parts` (not on the process, unlike `hash()`)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


_JSON_ENCODER = msgspec.json.Encoder()


def json_bytes(value: t.Any) -> bytes:
    """Compact JSON, as vendors send it (msgspec: the emulator must outpace the taps it serves)."""
    return _JSON_ENCODER.encode(value)


def chunked(pieces: Iterable[bytes], target: int = CHUNK_TARGET) -> Iterator[bytes]:
    """Group many small byte strings into chunks of about `target` bytes (fewer, larger writes)."""
    buffer: list[bytes] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= target:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def json_array_stream(records: Iterable[t.Any], encode: Callable[[t.Any], bytes] = json_bytes) -> Iterator[bytes]:
    """A JSON array written element by element, for bodies too large to build in memory."""
    yield b"["
    first = True
    for record in records:
        yield encode(record) if first else b"," + encode(record)
        first = False
    yield b"]"


# ------------------------------------------------------------------------------------------ requests


@dataclasses.dataclass
class Request:
    """What a route handler sees of a request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: t.Mapping[str, str]
    body: bytes
    client: str

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        """Query parameter `name` as an int; raises `HTTPError(400)` if it is not one."""
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, f"Parameter {name} must be an integer, got {value!r}") from None

    def json(self) -> t.Any:
        """The body parsed as JSON; raises `HTTPError(400)` if it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise HTTPError(400, "Request body is not valid JSON") from None

    def basic_auth(self) -> tuple[str, str] | None:
        """The (user, password) of an `Authorization: Basic` header, or None."""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer` header, or None."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@dataclasses.dataclass
class Response:
    """A response: `body` is bytes (sent with Content-Length) or an iterable of chunks (sent chunked)."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, value: t.Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json_bytes(value), {"Content-Type": "application/json;charset=UTF-8", **(headers or {})})

    @classmethod
    def stream(
        cls, chunks: Iterable[bytes], content_type: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return cls(status, chunks, {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain;charset=UTF-8") -> Response:
        return cls(status, text.encode(), {"Content-Type": content_type})


class HTTPError(Exception):
    """Raised by a handler to answer with an error; the emulator renders it in its vendor's shape."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: t.Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


# -------------------------------------------------------------------------------------------- faults


@dataclasses.dataclass
class Fault:
    """One injected misbehaviour, applied to the next `times` requests whose path matches `path`.

    kinds:
    - `status`: answer `status` (default 503) instead of the route; with `retry_after` sets that
      header, `headers` adds more, `body` replaces the vendor-shaped error body.
    - `drop`: send the headers and `after_bytes` of the body, then close the connection.
    - `latency`: wait `seconds` before answering (past the tap's timeout, it is a timeout).
    - `truncate`: send only the first `after_bytes` of the body (or `ratio` of it) as a complete,
      well-framed response: the file itself is cut short (a truncated gzip, an unclosed array).
    - `corrupt`: replace the body's byte range [after_bytes, after_bytes+len(payload)) with `payload`
      (a malformed record in the middle of a page or file).
    """

    kind: str
    path: str = ""
    times: int = 1
    status: int = 503
    retry_after: float | str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: str | None = None
    after_bytes: int = 0
    ratio: float | None = None
    seconds: float = 0.0
    payload: str = "{not json"
    method: str = ""

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None if self.path else True


class FaultPlan:
    """The faults waiting to happen, consumed one application at a time (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, specs: Iterable[dict[str, t.Any]]) -> None:
        with self._lock:
            for spec in specs:
                self._faults.append(Fault(**spec))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.times != 0 and fault.matches(method, path):
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def pending(self) -> list[dict[str, t.Any]]:
        with self._lock:
            return [dataclasses.asdict(f) for f in self._faults if f.times != 0]


# ------------------------------------------------------------------------------------------ emulator

RouteHandler = t.Callable[..., Response]


def route(method: str, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
    """Declare a handler for `method` on paths matching `pattern` (a full-match regex)."""

    def decorate(func: RouteHandler) -> RouteHandler:
        routes = getattr(func, "_sandbox_routes", [])
        routes.append((method.upper(), pattern))
        func._sandbox_routes = routes  # type: ignore[attr-defined]
        return func

    return decorate


class Emulator:
    """Base class of a vendor emulator: routes, settings, faults, request counts, presigned URLs."""

    #: Name used on the command line (`--vendor`) and in printed URLs.
    vendor: t.ClassVar[str] = ""
    #: Default port for `python -m sandbox up` (0 = any free port).
    default_port: t.ClassVar[int] = 0
    #: Settings a test may change at run time through `POST /_sandbox/settings`.
    default_settings: t.ClassVar[dict[str, t.Any]] = {}

    def __init__(self, *, seed: int = 42, scale: int = 100, **settings: t.Any) -> None:
        self.settings: dict[str, t.Any] = {**json.loads(json.dumps(self.default_settings)), **settings}
        self.settings.setdefault("seed", seed)
        self.settings.setdefault("scale", scale)
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.base_url = ""
        self._signing_key = stable_hash("signing", self.vendor, seed).to_bytes(8, "big")
        self._routes: list[tuple[str, re.Pattern[str], RouteHandler]] = []
        for name in dir(type(self)):
            func = getattr(type(self), name, None)
            for method, pattern in getattr(func, "_sandbox_routes", []):
                self._routes.append((method, re.compile(pattern), getattr(self, name)))

    # Settings -------------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return int(self.settings["seed"])

    @property
    def scale(self) -> int:
        return int(self.settings["scale"])

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
        if action == "reset" and request.method == "POST":
            with self._lock:
                self.requests.clear()
            self.faults.clear()
            return Response.json({"ok": True})
        return Response.json({"error": f"unknown admin action {action!r}"}, status=404)


# ---------------------------------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EmulatorServer

    def log_message(self, format: str, *args: t.Any) -> None:
        LOGGER.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,  # type: ignore[arg-type]
            body=body,
            client=self.client_address[0],
        )
        fault = None if split.path.startswith(ADMIN_PREFIX) else emulator.faults.take(self.command, split.path)
        if fault and fault.kind == "latency":
            time.sleep(fault.seconds)
            fault = None
        if fault and fault.kind == "status":
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            if fault.body is not None:
                response = Response(fault.status, fault.body.encode(), {"Content-Type": "text/plain", **headers})
            else:
                message = "Too Many Requests" if fault.status == 429 else HTTPStatus(fault.status).phrase
                response = emulator.error_response(HTTPError(fault.status, message, headers=headers))
            self._send(response, None)
            return
        try:
            response = emulator.handle(request)
        except Exception as exc:  # an emulator bug must answer 500, not hang the client
            LOGGER.exception("emulator error")
            response = emulator.error_response(HTTPError(500, f"emulator error: {exc}"))
        self._send(response, fault)

    def _send(self, response: Response, fault: Fault | None) -> None:
        body = response.body
        if fault and fault.kind in {"truncate", "corrupt"}:
            data = body if isinstance(body, bytes) else b"".join(body)
            if fault.kind == "truncate":
                cut = int(len(data) * fault.ratio) if fault.ratio is not None else fault.after_bytes
                body = data[:cut]
            else:
                payload = fault.payload.encode()
                start = min(fault.after_bytes, len(data))
                body = data[:start] + payload + data[start + len(payload) :]
            fault = None
        self.send_response(response.status)
        headers = {"Date": formatdate(usegmt=True), **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if isinstance(body, bytes):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                if fault and fault.kind == "drop":
                    self._drop(body[: fault.after_bytes])
                    return
                self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            for chunk in body:
                if not chunk:
                    continue
                if fault and fault.kind == "drop" and sent + len(chunk) >= fault.after_bytes:
                    part = chunk[: max(0, fault.after_bytes - sent)]
                    self._drop(b"%x\r\n%s\r\n" % (len(part), part) if part else b"")
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if fault and fault.kind == "drop":
                self._drop(b"")
                return
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away: nothing to do
        finally:
            close = getattr(body, "close", None)
            if close:
                close()

    def _drop(self, last_bytes: bytes) -> None:
        """Send `last_bytes`, then cut the connection as a failing network would."""
        try:
            if last_bytes:
                self.wfile.write(last_bytes)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class _EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class RunningEmulator:
    """An emulator serving on a loopback port in a background thread; a context manager."""

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.server = _EmulatorServer((host, port), emulator)
        bound_port = self.server.server_address[1]
        self.base_url = f"http://{host}:{bound_port}"
        emulator.base_url = self.base_url
        self._thread = threading.Thread(
            target=self.server.serve_forever, name=f"sandbox-{emulator.vendor}", daemon=True
        )

    def start(self) -> RunningEmulator:
        self._thread.start()
        self.emulator.on_start()
        return self

    def stop(self) -> None:
        self.emulator.on_stop()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
