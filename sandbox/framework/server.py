"""The HTTP server an emulator runs in: a real HTTP/1.1 server on loopback, in a background thread.

A tap talks to it exactly as it would to the vendor: keep-alive, chunked bodies, gzip files, headers.
The server applies the emulator's faults (see `sandbox.framework.faults`) around its routes.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
import typing as t
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sandbox.framework.emulator import ADMIN_PREFIX
from sandbox.framework.messages import HTTPError, Request, Response

if t.TYPE_CHECKING:
    from sandbox.framework.emulator import Emulator
    from sandbox.framework.faults import Fault

LOGGER = logging.getLogger("sandbox")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EmulatorServer

    def log_message(self, format: str, *args: t.Any) -> None:
        LOGGER.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        emulator = self.server.emulator
        self._arrived = time.time()
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
            emulator.observe(request, None)  # the request still meets the contract; the fault's answer needn't
            self._send(request, response, None)
            return
        try:
            response = emulator.handle(request)
        except Exception as exc:  # an emulator bug must answer 500, not hang the client
            LOGGER.exception("emulator error")
            response = emulator.error_response(HTTPError(500, f"emulator error: {exc}"))
        emulator.observe(request, response)  # before sending: checked by the time the client has it
        self._send(request, response, fault)

    def _send(self, request: Request, response: Response, fault: Fault | None) -> None:
        split = urlsplit(self.path)
        if not split.path.startswith(ADMIN_PREFIX):
            self.server.emulator.log_request(
                at=getattr(self, "_arrived", time.time()), method=self.command, path=split.path,
                query=parse_qs(split.query, keep_blank_values=True), status=response.status, body=request.body,
            )
        body = response.body
        if fault and fault.kind in {"truncate", "corrupt"}:
            data = body if isinstance(body, bytes) else b"".join(body)
            if fault.kind == "truncate":
                cut = int(len(data) * fault.ratio) if fault.ratio is not None else fault.after_bytes
                body = data[:cut]
            else:
                payload = bytes.fromhex(fault.payload_hex) if fault.payload_hex else fault.payload.encode()
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

    def handle_error(self, request: t.Any, client_address: tuple[str, int]) -> None:
        # A client that closes its connection (a tap stopping, a download ahead no longer wanted) is
        # normal for a server; anything else is printed as before.
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


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
