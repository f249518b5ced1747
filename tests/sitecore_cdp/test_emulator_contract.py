"""The emulator answers as the vendor documents: the official Guest API OpenAPI, and spec §3 for exports."""

from __future__ import annotations

import typing as t
from pathlib import Path

import jsonschema
import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.sitecore_cdp import data
from tests.sitecore_cdp.helpers import BASIC, OAUTH
from tests.support import start_emulator

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"
OFFICIAL_HOST = "https://api-engage-eu.sitecorecloud.io"
AUTH = (BASIC["client_key"], BASIC["api_token"])


@pytest.fixture(scope="module")
def server() -> t.Iterator[str]:
    running = start_emulator("sitecore-cdp", scale=16)
    try:
        yield running.base_url
    finally:
        running.stop()


@pytest.fixture(scope="module")
def guest_api() -> OpenAPI:
    # The official file does not validate as OpenAPI itself (`Offset` is typed object with default 0),
    # so only the responses are checked against it, not the document.
    return OpenAPI.from_file_path(str(SPECS / "sitecore-guest-v2.1.openapi.yaml"),
                                  config=Config(spec_validator_cls=None))


def _ref(index: int) -> str:
    return data.ref_for(index, 42, "guest")


GUEST_API_CALLS = [
    ("/v2.1/guests", True, 200),
    ("/v2.1/guests?limit=5&offset=10", True, 200),
    ("/v2.1/guests?expand=true&limit=100", True, 200),
    ("/v2.1/guests?email=guest000003@example.com", True, 200),
    ("/v2.1/guests?sort=createdAt::ASC|email::DESC&limit=10", True, 200),
    ("/v2.1/guests?identifiers.provider=ProfileSystem&identifiers.id=PS-00000004", True, 200),
    ("/v2.1/guests", False, 401),
    (f"/v2.1/guests/{_ref(3)}", True, 200),
    (f"/v2.1/guests/{_ref(3)}?expand=true", True, 200),
    (f"/v2.1/guests/{_ref(3)}", False, 401),
    (f"/v2.1/guests/{_ref(99)}", True, 404),
    (f"/v2.1/guests/{_ref(3)}/extensions", True, 200),
    (f"/v2.1/guests/{_ref(3)}/extensions?expand=true", True, 200),
    (f"/v2.1/guests/{_ref(99)}/extensions", True, 404),
    (f"/v2.1/guests/{_ref(3)}/extensions/ext", True, 200),
    (f"/v2.1/guests/{_ref(3)}/extensions/ext1", True, 200),
    (f"/v2.1/guests/{_ref(3)}/extensions/ext2", True, 404),
]


@pytest.mark.parametrize(("path", "authenticated", "status"), GUEST_API_CALLS)
def test_guest_api_responses_validate_against_the_official_openapi(
    server: str, guest_api: OpenAPI, path: str, authenticated: bool, status: int
) -> None:
    response = requests.get(f"{server}{path}", auth=AUTH if authenticated else None, timeout=10)
    assert response.status_code == status, response.text
    # The same request as the vendor's host would get it: the document lists only Sitecore's servers.
    official = requests.Request("GET", f"{OFFICIAL_HOST}{path}").prepare()
    guest_api.validate_response(RequestsOpenAPIRequest(official), RequestsOpenAPIResponse(response))


def test_unauthorized_body_has_the_status_as_a_word_and_others_as_a_number(server: str) -> None:
    unauthorized = requests.get(f"{server}/v2.1/guests", timeout=10).json()
    assert unauthorized["status"] == "UNAUTHORIZED" and "developerMessage" not in unauthorized
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
