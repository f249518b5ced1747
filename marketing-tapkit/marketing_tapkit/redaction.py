"""Keep credentials, tokens and presigned URL signatures out of logs and exception text.

Two layers: `redact_text` scrubs what we know is secret (the values of the settings marked secret, and
tokens the tap obtained at run time) plus what looks secret (URL query strings, Authorization headers
including AWS SigV4 ones, SigV4 `Signature=`/`Credential=` values, `access_token` fields);
`RedactingFilter` applies it to every log record, and `install_redaction` puts the filter on the process's
log handlers and wraps `sys.excepthook` so an uncaught exception's traceback is scrubbed too.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

REDACTED = "<redacted>"

# A URL's query string is where presigned URLs carry their signature (X-Amz-Signature, sig=, token=):
# never show any of it. The path stays, so a message still says which object failed.
_URL_QUERY = re.compile(r"(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>]+)\?[^\s'\"<>#]*")
# A header whose whole value is a credential, quoted as in a dict or a request's repr (botocore's DEBUG
# "Sending http request: <AWSPreparedRequest ... headers={'Authorization': b'AWS4-HMAC-SHA256
# Credential=..., SignedHeaders=..., Signature=...'}>"): the whole quoted value goes.
_QUOTED_SECRET_HEADER = re.compile(
    r"""(?i)(['"]?(?:proxy-)?(?:authorization|x-amz-security-token)['"]?\s*[:=]\s*b?)(['"])(?:(?!\2).)*\2"""
)
# An unquoted AWS SigV4 Authorization header ("Authorization: AWS4-HMAC-SHA256 Credential=..., ...,
# Signature=..."): everything up to the end of the signature, or of the line.
_SIGV4_AUTH_HEADER = re.compile(
    r"(?i)((?:proxy-)?authorization\s*[:=]\s*)AWS4-[A-Z0-9-]+\s(?:[^\r\n]*?Signature=[0-9a-fA-F]+|[^\r\n]*)"
)
# SigV4 parameters anywhere else (a query string without a scheme, a header value printed alone):
# the value goes, the name stays so that a message still says what was there.
_SIGV4_PARAM = re.compile(
    r"(?i)\b((?:X-Amz-)?(?:Signature|Credential|Security-Token)=)[^\s&,;'\"<>]+"
)
# botocore's DEBUG "Signature:\n<hex>" (auth.py) prints the request's signature on a line of its own.
_SIGNATURE_LINE = re.compile(r"(?i)\b(signature:\s*)[0-9a-f]{16,}")
# (Not a value one of the patterns above has replaced already.)
_AUTH_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=](?!\s*b?['\"]?<redacted>)\s*(?:b['\"]|['\"])?)(basic|bearer)?\s*[A-Za-z0-9+/=._~-]+"
)
_SCHEME_TOKEN = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}")
_TOKEN_FIELD = re.compile(
    r"(?i)(['\"]?(?:access_token|refresh_token|client_secret|api_secret|api_token|password|secret)['\"]?"
    r"\s*[:=]\s*['\"]?)[^'\"\s,}&]+"
)
# Shorter values are too likely to match ordinary words and numbers to be scrubbed by value.
_MIN_SECRET_LENGTH = 4


def redact_url(text: str) -> str:
    """Replace the query string of every URL in `text` (presigned URLs carry their signature there)."""
    return _URL_QUERY.sub(lambda m: f"{m.group('url')}?{REDACTED}", text)


class SecretRegistry:
    """The secret values known to this process, longest first so that no secret is half-replaced."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Remember more secret values (e.g. an OAuth token the tap just received)."""
        with self._lock:
            known = set(self._values)
            for secret in secrets:
                if isinstance(secret, str) and len(secret) >= _MIN_SECRET_LENGTH and secret not in known:
                    known.add(secret)
            self._values = sorted(known, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Return `text` with every known secret and every secret-looking fragment replaced."""
        for secret in self._values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = redact_url(text)
        text = _QUOTED_SECRET_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
        text = _SIGV4_AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        text = _SIGV4_PARAM.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        text = _SIGNATURE_LINE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        text = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _TOKEN_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)

    def __len__(self) -> int:
        return len(self._values)


class RedactingFilter(logging.Filter):
    """A log filter that renders each record's message, scrubs it, and freezes the result."""

    def __init__(self, registry: SecretRegistry) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not kill the tap
            message = str(record.msg)
        record.msg = self.registry.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, scrubbed, so the handler's formatter prints our text.
            formatter = logging.Formatter()
            record.exc_text = self.registry.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def install_redaction(registry: SecretRegistry) -> None:
    """Scrub every log handler of the process and the text of uncaught exceptions."""
    log_filter = RedactingFilter(registry)
    loggers = [logging.getLogger(), *(
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    )]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(log_filter)
    # Loggers created later still propagate to the root logger's handlers, which are filtered above;
    # a record logged on a logger with no handler of its own also goes through the root handlers.
    previous_hook = sys.excepthook

    def redacting_excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(registry.redact(text))
        sys.stderr.flush()

    # The SDK's CLI installs a hook that logs the exception, and the filter above scrubs that;
    # only the interpreter's default hook writes to stderr unfiltered, so only that one is replaced.
    if previous_hook is sys.__excepthook__:
        sys.excepthook = redacting_excepthook
