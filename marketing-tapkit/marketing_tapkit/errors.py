"""Turning vendor error bodies into one readable sentence."""

from __future__ import annotations

import typing as t

import msgspec

if t.TYPE_CHECKING:
    import requests

#: What decoding untrusted JSON bytes with msgspec can raise: a `DecodeError`, or for a string whose
#: bytes are not UTF-8 (a garbled body), a `UnicodeDecodeError`.
JSON_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)

_MAX_BODY_CHARS = 500
_MESSAGE_KEYS = ("message", "messages", "error_description", "errors", "error", "detail", "developerMessage")


def _flatten(value: t.Any) -> str | None:
    """Render a message that may be a string, a list of strings or objects, or a dict of field errors."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        parts = [p for p in (_flatten(v) for v in value) if p]
        return "; ".join(parts) or None
    if isinstance(value, dict):
        for key in _MESSAGE_KEYS:
            if key in value and (text := _flatten(value[key])):
                return text
        parts = [f"{k}: {text}" for k, v in value.items() if (text := _flatten(v))]
        return "; ".join(parts) or None
    return str(value)


def vendor_message(response: requests.Response) -> str:
    """The vendor's own words from an error response: a JSON message field, or the start of the body.

    Vendors disagree on shapes (`message` or `messages`, `error` as text or as `true`, `errors` as a
    list or as `{"_global": [...]}`), so this looks in each known place in order.
    """
    body = response.content or b""
    if not body.strip():
        return response.reason or "no response body"
    try:
        document = msgspec.json.decode(body)
    except JSON_DECODE_ERRORS:
        text = body.decode("utf-8", "replace").strip()
        if text.lstrip().startswith("<"):
            # XML (S3-style presigned URL errors) or HTML: pick the <Message> or <title> if present.
            for tag in ("Message", "message", "title", "h1"):
                start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
                if start != -1 and end > start:
                    return text[start + len(tag) + 2 : end].strip()
        return text[:_MAX_BODY_CHARS]
    text = _flatten(document) if isinstance(document, dict | list) else str(document)
    if isinstance(document, dict):
        more = document.get("moreInfoUrl") or document.get("moreInfo")
        if isinstance(more, str) and more and text and more not in text:
            text = f"{text} (see {more})"
    return (text or response.reason or "no message")[:_MAX_BODY_CHARS]
