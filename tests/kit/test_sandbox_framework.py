"""The emulator framework itself: the command line, faults, presigned URLs, streamed bodies."""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import time

import pytest
import requests

from sandbox.evergage import EvergageEmulator
from sandbox.framework import Emulator, Request, Response, RunningEmulator, chunked, route
from tests.support import REPO, Admin


class TinyEmulator(Emulator):
    vendor = "tiny"

    @route("GET", r"/items")
    def items(self, request: Request) -> Response:
        count = request.int_arg("count", 3) or 0
        return Response.stream(chunked(b'{"n": %d}\n' % i for i in range(count)), "application/x-ndjson")

    @route("GET", r"/file\.gz")
    def file(self, request: Request) -> Response:
        if (denied := self.check_presigned(request)) is not None:
            return denied
        return Response(200, gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(1000))),
                        {"Content-Type": "application/gzip"})


@pytest.fixture
def tiny():  # type: ignore[no-untyped-def]
    with RunningEmulator(TinyEmulator()) as server:
        yield server


def test_sandbox_up_prints_urls_and_stops_cleanly_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "up", "--vendor", "evergage", "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    vendor, url = process.stdout.readline().split()
    assert vendor == "evergage"
    assert requests.get(f"{url}/api/principals", timeout=5).status_code == 401
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_streamed_bodies_are_chunked(tiny) -> None:
    response = requests.get(f"{tiny.base_url}/items?count=5000", timeout=5)
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert len(response.text.splitlines()) == 5000


def test_status_fault_applies_to_the_next_matching_requests_only(tiny) -> None:
    admin = Admin(tiny.base_url)
    admin.faults({"kind": "status", "status": 429, "retry_after": 3, "times": 2, "path": "items"})
    first = requests.get(f"{tiny.base_url}/items", timeout=5)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert requests.get(f"{tiny.base_url}/items", timeout=5).status_code == 429
    assert requests.get(f"{tiny.base_url}/items", timeout=5).status_code == 200


def test_drop_fault_cuts_the_body_mid_way(tiny) -> None:
    Admin(tiny.base_url).faults({"kind": "drop", "after_bytes": 100})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{tiny.base_url}/items?count=1000", timeout=5)


def test_truncate_fault_serves_a_well_framed_but_cut_gzip(tiny) -> None:
    url = tiny.emulator.presign("/file.gz", expires_in=60)
    Admin(tiny.base_url).faults({"kind": "truncate", "ratio": 0.5})
    body = requests.get(url, timeout=5).content
    with pytest.raises(EOFError):
        gzip.decompress(body)


def test_latency_fault_delays_the_answer(tiny) -> None:
    Admin(tiny.base_url).faults({"kind": "latency", "seconds": 1.0})
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{tiny.base_url}/items", timeout=0.3)


def test_presigned_urls_expire_with_s3s_error(tiny) -> None:
    good = tiny.emulator.presign("/file.gz", expires_in=60)
    assert requests.get(good, timeout=5).status_code == 200
    expired = tiny.emulator.presign("/file.gz", expires_in=-1)
    denied = requests.get(expired, timeout=5)
    assert denied.status_code == 403
    assert "<Code>AccessDenied</Code>" in denied.text
    forged = good.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert "SignatureDoesNotMatch" in requests.get(forged, timeout=5).text


def test_request_counts_and_settings_are_exposed_to_tests(tiny) -> None:
    admin = Admin(tiny.base_url)
    for _ in range(3):
        requests.get(f"{tiny.base_url}/items", timeout=5)
    assert admin.request_count() == 3
    assert admin.settings(scale=7)["scale"] == 7
    admin.reset()
    assert admin.request_count() == 0


def test_generated_data_is_deterministic_across_instances() -> None:
    assert EvergageEmulator(seed=1).data.user("engage", 5) == EvergageEmulator(seed=1).data.user("engage", 5)
    assert EvergageEmulator(seed=1).data.user("engage", 5) != EvergageEmulator(seed=2).data.user("engage", 5)


def test_a_deep_page_of_a_million_users_costs_one_page_of_work() -> None:
    with RunningEmulator(EvergageEmulator(scale=1_000_000)) as server:
        started = time.monotonic()
        response = requests.get(
            f"{server.base_url}/api/dataset/engage/users.json", params={"pageSize": 1000, "page": 999},
            auth=("sandbox-api-key-id", "sandbox-api-secret-key-0f6c2b"), timeout=30,
        )
        assert response.status_code == 200
        assert len(response.json()) == 1000
        assert time.monotonic() - started < 10


def test_request_log_lists_what_was_sent_and_when_faults_included(tiny) -> None:
    admin = Admin(tiny.base_url)
    admin.faults({"kind": "status", "status": 429, "retry_after": 1, "path": "/items"})
    before = time.time()
    assert requests.get(f"{tiny.base_url}/items?count=2&tag=a", timeout=10).status_code == 429
    assert requests.get(f"{tiny.base_url}/items?count=2", timeout=10).status_code == 200
    log = admin.request_log()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", "/items", {"count": "2", "tag": "a"}, 429), ("GET", "/items", {"count": "2"}, 200),
    ]
    assert before <= log[0]["at"] <= log[1]["at"] <= time.time()
    admin.reset()
    assert admin.request_log() == []
