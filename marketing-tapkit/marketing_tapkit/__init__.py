"""marketing_tapkit: what our Singer taps share (HTTP reliability, streaming readers, redaction, base classes)."""

from marketing_tapkit.auth import KitOAuthAuthenticator
from marketing_tapkit.config import HttpSettings, http_setting_properties, validate_base_url
from marketing_tapkit.downloads import ExpiredURLError, ResumableRows, presigned_file_rows
from marketing_tapkit.readers import (
    CorruptInputError,
    CSVOptions,
    MalformedInputError,
    TruncatedInputError,
    open_csv_table,
    read_any_records,
    read_csv_records,
    read_json_array_records,
    read_json_records,
    read_jsonl_records,
)
from marketing_tapkit.redaction import SecretRegistry, redact_url
from marketing_tapkit.retry import RetryPolicy, call_with_retries, retry_after_seconds
from marketing_tapkit.schemas import open_schema, value_as_text
from marketing_tapkit.streams import KitRESTStream
from marketing_tapkit.tap import KitTap

__version__ = "0.1.0"

__all__ = [
    "CSVOptions",
    "CorruptInputError",
    "ExpiredURLError",
    "HttpSettings",
    "KitOAuthAuthenticator",
    "KitRESTStream",
    "KitTap",
    "MalformedInputError",
    "ResumableRows",
    "RetryPolicy",
    "SecretRegistry",
    "TruncatedInputError",
    "call_with_retries",
    "http_setting_properties",
    "open_csv_table",
    "open_schema",
    "presigned_file_rows",
    "read_any_records",
    "read_csv_records",
    "read_json_array_records",
    "read_json_records",
    "read_jsonl_records",
    "redact_url",
    "retry_after_seconds",
    "validate_base_url",
    "value_as_text",
]
