"""tapkit: what our Singer taps share (HTTP reliability, streaming readers, redaction, base classes)."""

from marketing_tapkit.config import http_settings, validate_base_url
from marketing_tapkit.readers import (
    CorruptInputError,
    MalformedInputError,
    TruncatedInputError,
    read_csv_records,
    read_json_array_records,
    read_json_records,
    read_jsonl_records,
)
from marketing_tapkit.redaction import SecretRegistry, redact_url
from marketing_tapkit.retry import RetryPolicy, call_with_retries, retry_after_seconds
from marketing_tapkit.streams import KitRESTStream
from marketing_tapkit.tap import KitTap

__version__ = "0.1.0"

__all__ = [
    "CorruptInputError",
    "KitRESTStream",
    "KitTap",
    "MalformedInputError",
    "RetryPolicy",
    "SecretRegistry",
    "TruncatedInputError",
    "call_with_retries",
    "http_settings",
    "read_csv_records",
    "read_json_array_records",
    "read_json_records",
    "read_jsonl_records",
    "redact_url",
    "retry_after_seconds",
    "validate_base_url",
]
