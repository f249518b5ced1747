"""The kit's one request path outside the paging loop, against a real HTTP server on loopback.

Every call carries the stream's authenticator and User-Agent (a presigned URL none of the credentials),
is retried under the run's policy (`max_retries`), and gives the vendor's words when it fails.
"""

from __future__ import annotations

import http.server
import threading
import typing as t
from collections.abc import Iterator
from functools import cached_property

import pytest
from marketing_tapkit.config import kit_setting_properties
from marketing_tapkit.streams import KitRESTStream
from marketing_tapkit.tap import KitTap
from singer_sdk import typing as th
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError


class ScriptedServer(http.server.ThreadingHTTPServer):
    """Answers each request with the next (status, body) of a script, and records the headers it got."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.script: list[tuple[int, bytes]] = []
        self.seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ScriptedHandler(http.server.BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_GET(self) -> None:
        self.server.seen.append({key.lower(): value for key, value in self.headers.items()})
        status, body = self.server.script.pop(0) if self.server.script else (200, b"{}")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: t.Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    httpd = ScriptedServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


class ThingsStream(KitRESTStream[t.Any]):
    name = "things"
    path = "/things"
    schema = th.PropertiesList(th.Property("id", th.IntegerType)).to_dict()

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"])

    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        return BasicAuthenticator(username="user", password="s3cret-password")


class ThingsTap(KitTap):
    name = "tap-things"
    config_jsonschema = th.PropertiesList(th.Property("api_url", th.StringType), *kit_setting_properties()).to_dict()

    def discover_streams(self) -> list[ThingsStream]:
        return [ThingsStream(self)]


def _stream(server: ScriptedServer, **config: t.Any) -> ThingsStream:
    tap = ThingsTap(config={"api_url": server.url, **config}, validate_config=False)
    return t.cast("ThingsStream", tap.streams["things"])


def test_calls_carry_the_authenticator_and_the_user_agent(server: ScriptedServer) -> None:
    server.script = [(200, b'{"ok": true}')]
    assert _stream(server, user_agent="acme-etl/1").request_json("GET", "/things/1", what="one thing") == {"ok": True}
    assert server.seen[0]["authorization"].startswith("Basic ")
    assert server.seen[0]["user-agent"] == "acme-etl/1"


def test_presigned_calls_carry_no_credentials(server: ScriptedServer) -> None:
    response = _stream(server).send("GET", f"{server.url}/file.gz?X-Amz-Signature=abc", authenticate=False)
    assert response is not None
    assert response.status_code == 200
    assert "authorization" not in server.seen[0]
    assert server.seen[0]["user-agent"].startswith("tap-things/")


def test_transient_failures_and_garbled_bodies_are_retried(server: ScriptedServer) -> None:
    server.script = [(503, b'{"message": "busy"}'), (200, b'{"ok": tru'), (200, b'{"ok": true}')]
    assert _stream(server).request_json("GET", "/things/1", what="one thing") == {"ok": True}
    assert len(server.seen) == 3


def test_retries_follow_max_retries(server: ScriptedServer) -> None:
    server.script = [(503, b"{}")] * 5
    with pytest.raises(RetriableAPIError, match="HTTP 503"):
        _stream(server, max_retries=1).request_json("GET", "/things/1", what="one thing")
    assert len(server.seen) == 2


def test_tolerated_status_answers_none(server: ScriptedServer) -> None:
    server.script = [(404, b'{"message": "no such thing"}')]
    assert _stream(server).request_json("GET", "/things/9", what="one thing", tolerated=(404,)) is None


def test_other_client_errors_fail_at_once_with_the_vendors_words(server: ScriptedServer) -> None:
    server.script = [(400, b'{"message": "filter is not a valid field"}')]
    with pytest.raises(FatalAPIError, match=r"GET /things failed with HTTP 400: filter is not a valid field"):
        _stream(server).request_json("GET", "/things", what="the things", params={"filter": "x"})
    assert len(server.seen) == 1


def test_a_page_refused_deep_into_a_scan_names_the_depth_and_the_settings(server: ScriptedServer) -> None:
    server.script = [(400, b'{"message": "offset + limit must not exceed 10000"}')]
    stream = _stream(server)
    stream.page_parameter = "offset"  # type: ignore[misc]
    stream.narrow_scan_settings = ("start_date", "segments")  # type: ignore[misc]
    with pytest.raises(FatalAPIError) as failure:
        stream.request_json("GET", "/things", what="the things", params={"offset": 10000, "limit": 100})
    assert "offset + limit must not exceed 10000" in str(failure.value)
    assert "offset 10,000 reached" in str(failure.value)
    assert "`start_date`, `segments`" in str(failure.value)


def test_a_refused_first_page_is_not_called_deep(server: ScriptedServer) -> None:
    server.script = [(400, b'{"message": "bad filter"}')]
    stream = _stream(server)
    stream.page_parameter = "offset"  # type: ignore[misc]
    with pytest.raises(FatalAPIError) as failure:
        stream.request_json("GET", "/things", what="the things", params={"offset": 0})
    assert "deep into the scan" not in str(failure.value)
