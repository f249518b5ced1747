"""Bloomreach's response envelope: `success` flags, error messages, and plain-text refusals (spec §3)."""

from __future__ import annotations

import re
import typing as t

# The legacy plain-text refusal, sent with HTTP 200 (spec §3.2: `no permission`, `No Permission`).
_NO_PERMISSION = re.compile(rb"\A\s*no\s+permission\b", re.IGNORECASE)
_MAX_MESSAGE_CHARS = 500


def is_no_permission_text(body_start: bytes) -> bool:
    """True when a body (or its first bytes) is the plain-text `No Permission` refusal."""
    return _NO_PERMISSION.match(body_start) is not None


def body_error_message(document: t.Any) -> str | None:
    """The message of an error body in any documented shape, or None if it carries none.

    Shapes (spec §3.2): `{"error": "..."}`, `{"errors": ["...", ...]}`, `{"errors": {"_global": [...]}}`
    (any other keys of that object name a field), and the tracking API's `{"message": "..."}`.
    """
    if not isinstance(document, dict):
        return None
    parts: list[str] = []
    for key in ("error", "errors", "message"):
        parts += _messages(document.get(key))
    text = "; ".join(dict.fromkeys(p for p in parts if p))
    return text[:_MAX_MESSAGE_CHARS] or None


def envelope_error(document: t.Any) -> str | None:
    """For a body whose `success` is false, its message (or a placeholder); None for any other body.

    An invalid request can be answered with HTTP 200 and `success: false` (spec §3.3), so a 200 is
    not proof of success.
    """
    if not isinstance(document, dict) or document.get("success") is not False:
        return None
    return body_error_message(document) or "the API answered success: false without a message"


def _messages(value: t.Any, field: str | None = None) -> list[str]:
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, str):
        text = value.strip()
        return [f"{field}: {text}" if field and field != "_global" else text] if text else []
    if isinstance(value, list):
        return [m for item in value for m in _messages(item, field)]
    if isinstance(value, dict):
        return [m for key, item in value.items() for m in _messages(item, str(key))]
    return [str(value)]
