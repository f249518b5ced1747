"""The emulator answers as the vendor documents: the official Guest API OpenAPI (checked by the emulator's
contract on every exchange), and spec §3 for exports, which has no file."""

from __future__ import annotations

import typing as t

import jsonschema
import pytest
import requests

from sandbox.framework import RunningEmulator
from sandbox.sitecore_cdp import data
from tests.sitecore_cdp.helpers import BASIC, OAUTH
from tests.support import start_emulator

AUTH = (BASIC["client_key"], BASIC["api_token"])


@pytest.fixture(scope="module")
def running() -> t.Iterator[RunningEmulator]:
    server = start_emulator("sitecore-cdp", scale=16)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(running: RunningEmulator) -> str:
    return running.base_url


def _ref(index: int) -> str:
    return data.ref_for(index, 42, "guest")


GUEST_API_CALLS = [
    ("/v2.1/guests", 200),
    ("/v2.1/guests?limit=5&offset=10", 200),
    ("/v2.1/guests?expand=true&limit=100", 200),
    ("/v2.1/guests?email=guest000003@example.com", 200),
    ("/v2.1/guests?sort=createdAt::ASC|email::DESC&limit=10", 200),
    ("/v2.1/guests?identifiers.provider=ProfileSystem&identifiers.id=PS-00000004", 200),
    ("/v2.1/guests?sort=label::UP", 400),
    (f"/v2.1/guests/{_ref(3)}", 200),
    (f"/v2.1/guests/{_ref(3)}?expand=true", 200),
    (f"/v2.1/guests/{_ref(99)}", 404),
    (f"/v2.1/guests/{_ref(3)}/extensions", 200),
    (f"/v2.1/guests/{_ref(3)}/extensions?expand=true", 200),
    (f"/v2.1/guests/{_ref(99)}/extensions", 404),
    (f"/v2.1/guests/{_ref(3)}/extensions/ext", 200),
    (f"/v2.1/guests/{_ref(3)}/extensions/ext1", 200),
    (f"/v2.1/guests/{_ref(3)}/extensions/ext2", 404),
]


@pytest.mark.parametrize(("path", "status"), GUEST_API_CALLS)
def test_guest_api_exchanges_validate_against_the_official_openapi(
    running: RunningEmulator, path: str, status: int
) -> None:
    response = requests.get(f"{running.base_url}{path}", auth=AUTH, timeout=10)
    assert response.status_code == status, response.text
    # The emulator checked the request and its response against the official file (as amended).
    assert running.emulator.take_contract_violations() == []


@pytest.mark.parametrize("path", ["/v2.1/guests", f"/v2.1/guests/{_ref(3)}"])
def test_a_request_without_basic_credentials_is_refused_by_the_file_and_answered_401(
    running: RunningEmulator, path: str
) -> None:
    response = requests.get(f"{running.base_url}{path}", timeout=10)
    assert response.status_code == 401
    [violation] = running.emulator.take_contract_violations()
    assert violation.phase == "request" and "BasicAuth" in violation.complaint and violation.status == 401


@pytest.mark.parametrize(("query", "complaint"), [
    ("limit=500", "limit"),  # the file's maximum is 100
    ("limit=ten", "limit"),
    ("offset=-1", "offset"),
    ("pageSize=10", "'pageSize' is not one of GET /v2.1/guests's"),
])
def test_a_guest_list_request_the_file_refuses_is_recorded_with_the_files_complaint(
    running: RunningEmulator, query: str, complaint: str
) -> None:
    requests.get(f"{running.base_url}/v2.1/guests?{query}", auth=AUTH, timeout=10)
    [violation] = running.emulator.take_contract_violations()
    assert violation.target == f"/v2.1/guests?{query}" and complaint in violation.complaint


def test_unauthorized_body_has_the_status_as_a_word_and_others_as_a_number(running: RunningEmulator) -> None:
    server = running.base_url
    unauthorized = requests.get(f"{server}/v2.1/guests", timeout=10).json()
    assert unauthorized["status"] == "UNAUTHORIZED" and "developerMessage" not in unauthorized
    assert [v.phase for v in running.emulator.take_contract_violations()] == ["request"]  # no credentials
    missing = requests.get(f"{server}/v2.1/guests/{_ref(99)}", auth=AUTH, timeout=10).json()
    assert missing["status"] == 404 and missing["developerMessage"].startswith("Guest with ref")


# The Audience export API has no OpenAPI file here: its shapes are spec §3's field lists (CORROBORATED).
REPORT_SCHEMA = {
    "type": "object",
    "required": ["executionRef", "definitionRef", "friendlyId", "clientKey", "executionType", "definitionType",
                 "status", "segmentExecutionType", "total", "filterMatchedGuests", "filterNotMatchedGuests",
                 "filterFailures", "successes", "failures", "programmableErrors", "filterErrors", "errorLogs",
                 "datasetDate", "startTime", "endTime"],
    "properties": {
        "executionType": {"enum": ["INSTANT_RUN", "SCHEDULED"]},
        "definitionType": {"enum": ["DELTA", "FULL_SYNC"]},
        "status": {"enum": ["PENDING_GUEST_CONTEXT", "PENDING_SEGMENTATION", "PENDING_EMR_SUBMIT", "PENDING_EMR_JOB",
                            "SUCCESS", "FAILED", "ALERT"]},
        "segmentExecutionType": {"enum": ["ON_DEMAND", "LIVE"]},
        "filterErrors": {"type": "array", "items": {"required": ["description", "count"]}},
        "errorLogs": {"type": "array", "items": {"type": "string"}},
        "endTime": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"},
    },
}
LISTING_SCHEMA = {
    "type": "object",
    "required": ["executionRef", "definitionRef", "friendlyId", "clientKey", "expireAt", "numberOfFiles",
                 "totalSizeKB", "exports"],
    "properties": {
        "exports": {"type": "array", "items": {
            "type": "object", "required": ["url", "sizeKB"],
            "properties": {"deltaAction": {"enum": ["add", "remove"]}, "sizeKB": {"type": "integer"}},
        }},
    },
}


def test_audience_export_responses_have_the_documented_fields(server: str) -> None:
    token = requests.post(f"{server}/oauth/token", timeout=10, data={
        "grant_type": "client_credentials", **OAUTH, "audience": "https://api.sitecorecloud.io",
    }).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 86400
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for export in ("weekly-vip-export", "daily-delta-export"):
        reports = requests.get(f"{server}/v2/audienceExports/definitions/{export}/reports", headers=headers,
                               timeout=10).json()
        assert isinstance(reports, list), "a bare array, not an envelope"
        for report in reports:
            jsonschema.validate(report, REPORT_SCHEMA)
            listing = requests.get(f"{server}/v2/audienceExports/executions/{report['executionRef']}/export",
                                   headers=headers, timeout=10)
            if report["status"] == "FAILED":
                assert listing.status_code == 404
                continue
            jsonschema.validate(listing.json(), LISTING_SCHEMA)
            assert listing.json()["numberOfFiles"] == len(listing.json()["exports"])
        latest = requests.get(f"{server}/v2/audienceExports/definitions/{export}/latestExport", headers=headers,
                              timeout=10)
        jsonschema.validate(latest.json(), LISTING_SCHEMA)


def test_export_refs_resolve_by_friendly_id_or_uuid_and_files_need_no_other_auth(server: str) -> None:
    token = requests.post(f"{server}/oauth/token", timeout=10, json={
        "grant_type": "client_credentials", **OAUTH, "audience": "https://api.sitecorecloud.io",
    }).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    by_name = requests.get(f"{server}/v2/audienceExports/definitions/weekly-vip-export/latestExport",
                           headers=headers, timeout=10).json()
    by_uuid = requests.get(f"{server}/v2/audienceExports/definitions/{by_name['definitionRef']}/latestExport",
                           headers=headers, timeout=10).json()
    assert by_uuid["executionRef"] == by_name["executionRef"]
    first, second = by_name["exports"][0]["url"], by_uuid["exports"][0]["url"]
    assert first.split("?")[0] == second.split("?")[0]
    # A presigned URL carries its own auth: S3 refuses a second mechanism alongside it.
    assert requests.get(first, headers=headers, timeout=10).status_code == 400
    assert requests.get(first, timeout=10).headers["Content-Type"] == "application/gzip"
