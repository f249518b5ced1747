"""Secrets never reach logs or exception text: unit checks, then a real tap process."""

from __future__ import annotations

import logging
import sys

from marketing_tapkit.redaction import REDACTED, RedactingFilter, SecretRegistry, redact_url

from tests.support import Admin, assert_no_secrets, discover, run_tap

SECRET = "sandbox-api-secret-key-0f6c2b"
KEY_ID = "sandbox-api-key-id"


def test_presigned_url_query_strings_are_removed_but_paths_kept() -> None:
    text = "GET https://bucket.s3.amazonaws.com/exports/part-1.json.gz?X-Amz-Signature=abc123&X-Amz-Expires=900 failed"
    assert redact_url(text) == f"GET https://bucket.s3.amazonaws.com/exports/part-1.json.gz?{REDACTED} failed"


def test_known_secrets_and_secret_looking_fragments_are_scrubbed() -> None:
    registry = SecretRegistry([SECRET, "tok"])  # too short to scrub by value safely
    text = (
        f"key={SECRET} Authorization: Basic c2FuZGJveDpzZWNyZXQ= "
        '{"access_token": "eyJhbGciOiJIUzI1NiJ9.payload.sig", "token_type": "bearer"} Bearer abcdefghijkl'
    )
    scrubbed = registry.redact(text)
    assert SECRET not in scrubbed
    assert "c2FuZGJveDpzZWNyZXQ=" not in scrubbed
    assert "eyJhbGciOiJIUzI1NiJ9" not in scrubbed
    assert "abcdefghijkl" not in scrubbed
    assert "token_type" in scrubbed, "ordinary fields stay readable"


def test_log_filter_scrubs_arguments_and_tracebacks() -> None:
    registry = SecretRegistry([SECRET])
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed with %s", (SECRET,), None)
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    RedactingFilter(registry).filter(record)
    assert SECRET not in record.getMessage()
    assert record.exc_text is not None
    assert SECRET not in record.exc_text


def test_a_failing_sync_never_prints_its_credentials(emulator) -> None:
    """The vendor echoes the secret in its error body; the tap's error and traceback must not."""
    server = emulator("evergage", scale=5)
    config = {"api_url": server.base_url, "api_key_id": KEY_ID, "api_secret_key": SECRET, "datasets": ["engage"]}
    catalog = discover("tap-evergage", config)
    Admin(server.base_url).faults({
        "kind": "status", "status": 403, "path": "users", "times": -1,  # every page, even those fetched ahead
        "body": f'{{"message": "token {SECRET} lacks Can access API (Authorization: Basic c2VjcmV0OnNlY3JldA==)"}}',
    })
    run = run_tap("tap-evergage", config, catalog=catalog)
    assert run.returncode != 0
    assert "HTTP 403" in run.stderr
    assert "Can access API" in run.stderr, "the vendor's words survive redaction"
    assert_no_secrets(run.stderr, [SECRET, KEY_ID, "c2VjcmV0OnNlY3JldA=="])
    assert_no_secrets(run.stdout_text, [SECRET, KEY_ID])


def test_a_successful_sync_logs_no_credentials_even_at_debug_level(emulator) -> None:
    server = emulator("evergage", scale=5)
    config = {"api_url": server.base_url, "api_key_id": KEY_ID, "api_secret_key": SECRET, "datasets": ["engage"]}
    run = run_tap("tap-evergage", config, env={"TAP_EVERGAGE_LOG_LEVEL": "DEBUG", "LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr
    assert_no_secrets(run.stderr, [SECRET, KEY_ID])
    assert_no_secrets(str(run.states), [SECRET, KEY_ID])


def test_aws_sigv4_signatures_credentials_and_authorization_headers_are_scrubbed() -> None:
    """botocore/s3fs DEBUG lines (tap-cordial's S3 export reading) print the SigV4 Authorization header,
    the signature on a line of its own, and presigned queries; none of their secret parts may remain."""
    key_id, signature, token = "AKIASANDBOXKEYID0001", "0f" * 32, "FwoGZXIvYXdzEJr-session-token"
    header = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/20261201/us-east-1/s3/aws4_request, "
        f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}"
    )
    lines = [
        # endpoint.py: "Sending http request: %s" with the AWSPreparedRequest's repr (header values bytes).
        "Sending http request: <AWSPreparedRequest stream_output=True, method=GET, "
        "url=http://127.0.0.1:9000/exports/cordial/part-1.json.gz, headers={'User-Agent': b'aiobotocore/3.10', "
        f"'X-Amz-Date': b'20261201T094400Z', 'X-Amz-Security-Token': b'{token}', 'Authorization': b'{header}'}}>",
        f"Authorization: {header}",
        f'{{"Authorization": "{header}"}}',
        f"Signature:\n{signature}",  # auth.py
        f"GET /exports/part-1.json.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key_id}%2F20261201"
        f"&X-Amz-Signature={signature}&X-Amz-Expires=900",  # a presigned query without a scheme
        f"credential scope Credential={key_id}/20261201/us-east-1/s3/aws4_request; Signature={signature}",
    ]
    registry = SecretRegistry()
    for line in lines:
        scrubbed = registry.redact(line)
        for leaked in (key_id, signature, token):
            assert leaked not in scrubbed, f"{leaked[:6]}... survives in {scrubbed!r}"
        assert REDACTED in scrubbed
    scrubbed = registry.redact(lines[0])
    assert "url=http://127.0.0.1:9000/exports/cordial/part-1.json.gz" in scrubbed, "the object stays named"
    assert "'X-Amz-Date': b'20261201T094400Z'" in scrubbed, "ordinary headers stay readable"
    assert_no_secrets(scrubbed, [key_id, signature, token])
    assert_no_secrets(registry.redact(lines[1]), [key_id, signature])
    assert_no_secrets(registry.redact(lines[2]), [key_id, signature])


def test_redaction_through_the_log_filter_covers_botocore_debug_records() -> None:
    signature = "ab" * 32
    record = logging.LogRecord("botocore.auth", logging.DEBUG, __file__, 1, "Signature:\n%s", (signature,), None)
    RedactingFilter(SecretRegistry()).filter(record)
    assert signature not in record.getMessage()
