"""The tap's parsers on the vendor's own examples (tests/sitecore_cdp/fixtures) and on edge cases."""

from __future__ import annotations

import gzip
import io
import json
import typing as t
from pathlib import Path

import jsonschema
import pytest
import requests
from marketing_tapkit.readers import CSVOptions, detect_delimiter, read_any_records
from tap_sitecore_cdp.auth import token_error_message
from tap_sitecore_cdp.client import CollectionPaginator, SitecoreStream, base_url_from_config, sitecore_message
from tap_sitecore_cdp.exports import ExportProgress, finished_jobs
from tap_sitecore_cdp.schemas import GUEST_PROPERTIES, infer_properties
from tap_sitecore_cdp.streams.guests import extension_items, extension_record, guest_record, ref_from_href
from tap_sitecore_cdp.tap import TapSitecoreCDP

from tests.sitecore_cdp.helpers import BASIC

FIXTURES = Path(__file__).resolve().parent / "fixtures"


GUESTS_URL = "https://api-engage-eu.sitecorecloud.io/v2.1/guests"


def _response(status: int, body: bytes, url: str = GUESTS_URL) -> requests.Response:
    """A response object as requests builds it from the wire (no server needed to parse a fixture)."""
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.url = url
    response.headers["Content-Type"] = "application/json"
    return response


@pytest.fixture(scope="module")
def guests_stream() -> SitecoreStream:
    """A stream of a tap that makes no request (its error messages need no server)."""
    tap = TapSitecoreCDP(config={"api_url": "https://api-engage-eu.sitecorecloud.io", **BASIC}, validate_config=False)
    return t.cast("SitecoreStream", tap.streams["guests"])


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def parse_guest_list(name: str) -> None:
    page = _load(name)
    response = _response(200, json.dumps(page).encode())
    paginator = CollectionPaginator(page_size=10)
    # One item where ten were allowed: the last page, although its `Next` link points back to offset 0.
    assert not paginator.has_more(response)
    assert [ref_from_href(item["href"]) for item in page["items"]] == ["c6cf690f-8384-4734-ab2d-6caa53b6308c"]


def parse_guest(name: str) -> None:
    record = guest_record(_load(name))
    assert record["ref"] == "f7aabbca-1c1b-4fc2-be72-3e16294a4f03"
    schema = GUEST_PROPERTIES.to_dict()
    jsonschema.validate(record, schema, format_checker=jsonschema.FormatChecker())


def parse_extension_list(name: str) -> None:
    items = extension_items({"dataExtensions": _load(name)})
    assert [ref_from_href(item["href"]) for item in items] == ["ext"]


def parse_extension(name: str) -> None:
    record = extension_record("f7aabbca-1c1b-4fc2-be72-3e16294a4f03", _load(name))
    assert record["name"] == "ext" and record["key"] == "default"
    assert record["data"] == {"{exampleKey1}": "{exampleValue1}", "{exampleKey2}": "{exampleValue2}"}


def parse_error(name: str, stream: SitecoreStream) -> None:
    body = _load(name)
    text = sitecore_message(body)
    assert text is not None and body["message"].rstrip(".") in text
    assert "(see https://support.sitecore.com)" in text
    if isinstance(body.get("developerMessage"), str):
        assert body["developerMessage"].rstrip(".") in text
    if body["status"] == "UNAUTHORIZED":
        assert text.startswith("UNAUTHORIZED: ")
    assert stream.vendor_message(_response(body["code"], json.dumps(body).encode())) == text


PARSERS = {
    "get_guests_200.json": parse_guest_list,
    "get_guests_guestRef_200.json": parse_guest,
    "get_guests_guestRef_extensions_200.json": parse_extension_list,
    "get_guests_guestRef_extensions_dataExtensionName_200.json": parse_extension,
    "get_guests_401.json": parse_error,
    "get_guests_guestRef_404.json": parse_error,
    "get_guests_guestRef_extensions_404.json": parse_error,
    "post_guests_400.json": parse_error,
    "post_guests_guestRef_extensions_409.json": parse_error,
    "put_guests_guestRef_extensions_dataExtensionName_400.json": parse_error,
}


def test_every_fixture_file_has_a_parser() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.suffix != ".md") == sorted(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_fixture_is_parsed(name: str, guests_stream: SitecoreStream) -> None:
    parser = PARSERS[name]
    if parser is parse_error:
        parse_error(name, guests_stream)
    else:
        parser(name)


def test_error_with_a_numeric_developer_message_keeps_the_message() -> None:
    assert sitecore_message(_load("post_guests_guestRef_extensions_409.json")) == (
        "Data extension ext1 already exists (see https://support.sitecore.com)"
    )


def test_error_body_that_is_not_sitecores_falls_back_to_the_body(guests_stream: SitecoreStream) -> None:
    xml = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    assert guests_stream.vendor_message(_response(403, xml)) == "Request has expired"


@pytest.mark.parametrize(("status", "body", "setting"), [
    (401, {"error": "invalid_client", "error_description": "Unknown client."}, "client id was rejected"),
    (401, {"error": "access_denied", "error_description": "Unauthorized"}, "client secret was rejected"),
    (403, {"error": "access_denied", "error_description": "Service not enabled within domain: x"}, "audience"),
    (403, {"error": "access_denied", "error_description": 'Client is not authorized to access "x".'}, "audience"),
    (400, {"error": "invalid_request"}, "`client_id`, `client_secret` and `auth_url`"),
])
def test_token_error_says_which_credential_was_rejected(status: int, body: dict, setting: str) -> None:
    message = token_error_message(_response(status, json.dumps(body).encode(), "https://auth.example/oauth/token"))
    assert setting in message and "Developer center > API keys" in message


def test_region_builds_the_regional_host() -> None:
    assert base_url_from_config({"region": "jpe"}) == "https://api-engage-jpe.sitecorecloud.io"
    assert base_url_from_config({"region": "eu", "api_url": "http://127.0.0.1:8702/"}) == "http://127.0.0.1:8702"


def test_unsorted_reports_are_sorted_and_unfinished_jobs_left_out() -> None:
    reports = [
        {"executionRef": "b", "endTime": "2024-11-05T00:12:31.000Z"},
        {"executionRef": "a", "endTime": "2024-11-04T00:12:31.000Z"},
        {"executionRef": "pending", "status": "PENDING_SEGMENTATION"},
        {"executionRef": "c", "endTime": "2024-11-06T00:00:00+00:00"},
    ]
    assert [job["executionRef"] for job in finished_jobs(reports)] == ["a", "b", "c"]


def test_progress_resumes_the_interrupted_job_and_skips_finished_ones() -> None:
    state = {"replication_key_value": "2024-11-05T00:12:31.000Z",
             "job_in_progress": {"execution_ref": "b", "file_index": 1, "row_number": 70}}
    progress = ExportProgress(state, None)
    older = {"executionRef": "a", "endTime": "2024-11-04T00:00:00.000Z"}
    interrupted = {"executionRef": "b", "endTime": "2024-11-05T00:12:31.000Z"}
    newer = {"executionRef": "c", "endTime": "2024-11-06T00:00:00.000Z"}
    assert [progress.is_pending(job) for job in (older, interrupted, newer)] == [False, True, True]
    assert progress.resume_point(interrupted) == (1, 70) and progress.resume_point(newer) == (0, 0)
    progress.finish()
    assert "job_in_progress" not in state


@pytest.mark.parametrize(("first_line", "expected"), [
    (b"guestRef|email|city\n", "|"),
    (b"guestRef,email,city\n", ","),
    (b'"a,b"|"c,d"|"e"\n', "|"),
    (b'"Galway | Connacht","x","y"\n', ","),
])
def test_csv_delimiter_is_detected_outside_quotes(first_line: bytes, expected: str) -> None:
    assert detect_delimiter(io.BufferedReader(io.BytesIO(first_line))) == expected


def test_gzip_json_lines_and_csv_are_told_apart_by_content() -> None:
    jsonl = gzip.compress(b'{"a":1,"b":"x"}\n{"a":2,"b":"y"}\n')
    csv = gzip.compress(b"a|b\r\n1|x\r\n2|\"y|z\"\r\n")
    for body, rows in ((jsonl, [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
                       (csv, [{"a": "1", "b": "x"}, {"a": "2", "b": "y|z"}])):
        assert [row for _, row in read_any_records(io.BytesIO(body), "test", csv_options=CSVOptions())] == rows


def test_inferred_properties_are_nullable_and_open() -> None:
    properties = infer_properties([
        {"n": 1, "f": 1.5, "s": "x", "b": True, "o": {"k": 1}, "l": [1], "mixed": 1, "nulls": None},
        {"n": 2, "f": 2, "s": None, "mixed": "one"},
    ])
    assert properties == {
        "n": {"type": ["integer", "null"]}, "f": {"type": ["number", "null"]}, "s": {"type": ["string", "null"]},
        "b": {"type": ["boolean", "null"]}, "o": {"type": ["object", "null"], "additionalProperties": True},
        "l": {"type": ["array", "null"], "items": {}}, "mixed": {"type": ["string", "null"]}, "nulls": {},
    }
