"""Errors: every documented body shape gives the vendor's words and the setting to fix; 429 and 5xx are
retried; bad settings are refused before any request; no secret reaches the output."""

from __future__ import annotations

import json

import pytest

from tests.bloomreach.conftest import SECRETS, catalog_for, sync, tap_config
from tests.support import Admin, assert_no_secrets, run_tap


@pytest.fixture
def consent_catalog(bloomreach):
    """An emulator and a catalog selecting only consent_categories (discovered with good settings)."""
    server = bloomreach(scale=3)
    return server, catalog_for(tap_config(server), "consent_categories")


@pytest.mark.parametrize(("override", "expected"), [
    ({"api_key_id": "unknown-key-id-77"}, ["HTTP 401: Access key not found", "Check `api_key_id`"]),
    ({"api_secret": "wrong-secret-4d2e"}, ["HTTP 403: invalid secret", "Check `api_secret`"]),
    ({"project_token": "not-the-project"}, ["HTTP 400: Invalid project id", "Check `project_token`"]),
], ids=["unknown-key", "wrong-secret", "unknown-project"])
def test_credential_errors_give_the_vendor_message_and_the_setting_to_fix(consent_catalog, override, expected):
    server, catalog = consent_catalog
    run = sync(tap_config(server, **override), catalog=catalog)
    assert run.returncode != 0
    for text in expected:
        assert text in run.stderr
    assert_no_secrets(run.stderr, [v for v in override.values() if "secret" in v])
    assert Admin(server.base_url).request_count() == 2  # discovery's sample, then one refused request


def test_wrong_api_url_path_answers_html_404_and_names_api_url(consent_catalog):
    server, catalog = consent_catalog
    run = sync({**tap_config(server), "api_url": f"{server.base_url}/wrong-prefix"}, catalog=catalog)
    assert run.returncode != 0
    assert "HTTP 404: 404 Not Found" in run.stderr and "Check `api_url`" in run.stderr


def test_missing_permission_in_an_errors_list_names_the_permission(bloomreach):
    server = bloomreach(scale=3, permissions=["GDPR > Export customers"])
    run = sync(tap_config(server), "catalogs")
    assert run.returncode != 0
    assert "HTTP 403: No permission to get catalog list" in run.stderr
    assert "lacks the permission Catalogs > Get catalog list" in run.stderr


@pytest.mark.parametrize(("status", "body", "expected"), [
    (404, {"errors": {"_global": ["Customer does not exist"]}, "success": False},
     "HTTP 404: Customer does not exist"),
    (400, {"success": False, "errors": ["At least one id should be specified."]},
     "HTTP 400: At least one id should be specified."),
    (200, {"success": False, "error": "access key not found"},
     "answered HTTP 200 with an error: access key not found"),
    (200, "No Permission", "answered HTTP 200 with an error: No Permission."),
], ids=["errors-global", "errors-list", "success-false", "plain-text"])
def test_every_error_shape_is_reported_in_the_vendors_words(consent_catalog, status, body, expected):
    server, catalog = consent_catalog
    text = body if isinstance(body, str) else json.dumps(body)
    Admin(server.base_url).faults({"kind": "status", "status": status, "body": text, "path": "consent/categories"})
    run = sync(tap_config(server), catalog=catalog)
    assert run.returncode != 0
    assert expected in run.stderr


def test_rate_limit_and_server_errors_are_retried_honouring_retry_after(consent_catalog):
    server, catalog = consent_catalog
    Admin(server.base_url).faults(
        {"kind": "status", "status": 429, "retry_after": 1, "path": "consent/categories"},
        {"kind": "status", "status": 500, "retry_after": 0, "path": "consent/categories"},
    )
    run = sync(tap_config(server), catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert "HTTP 429 Too Many Requests; retrying in 1.0 s" in run.stderr
    assert "HTTP 500" in run.stderr
    assert len(run.records("consent_categories")) == 3


def test_persistent_server_errors_fail_after_max_retries(consent_catalog):
    server, catalog = consent_catalog
    Admin(server.base_url).faults(
        {"kind": "status", "status": 503, "retry_after": 0, "times": -1, "path": "consent/categories"})
    run = sync(tap_config(server, max_retries=1), catalog=catalog)
    assert run.returncode != 0
    assert "HTTP 503" in run.stderr
    assert Admin(server.base_url).request_count() == 1  # faults answer before routes count a request


@pytest.mark.parametrize(("override", "expected"), [
    ({"api_url": "http://api.exponea.com"}, "Setting `api_url` uses plain http://"),
    ({"timezone": "Mars/Olympus"}, "Setting `timezone` must be an IANA time zone"),
    ({"segment_index": 0}, "Setting `segment_index` needs `segmentation_id`"),
    ({"customer_attributes": [{"type": "property", "name": "email"}]},
     "Setting `customer_attributes` item 1 must look like"),
    ({"execution_time": "yesterday"}, "Setting `execution_time` must be epoch seconds"),
    ({"execution_time": "2024-06-31T10:00:00"}, "Setting `execution_time` must be epoch seconds"),
    ({"execution_time": "2040-01-01T00:00:00Z"}, "Setting `execution_time` must lie between 1970-01-01 and 2038"),
    ({"execution_time": -1}, "Setting `execution_time` must"),
], ids=["plain-http", "timezone", "segment-index", "attributes", "execution-time-text", "execution-time-date",
        "execution-time-past-int32", "execution-time-negative"])
def test_bad_settings_are_refused_before_any_request(bloomreach, override, expected):
    server = bloomreach(scale=3)
    run = run_tap("tap-bloomreach", tap_config(server, **override), extra_args=["--discover"])
    assert run.returncode != 0
    assert expected in run.stderr
    assert Admin(server.base_url).request_count() == 0
    assert_no_secrets(run.stderr, SECRETS)
