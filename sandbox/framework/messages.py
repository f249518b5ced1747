"""What a route handler sees of a request, and what it answers: `Request`, `Response`, `HTTPError`."""

from __future__ import annotations

import base64
import dataclasses
import json
import typing as t

from sandbox.framework.bodies import json_bytes

if t.TYPE_CHECKING:
    from collections.abc import Iterable


@dataclasses.dataclass
class Request:
    """What a route handler sees of a request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: t.Mapping[str, str]
    body: bytes
    client: str

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        """Query parameter `name` as an int; raises `HTTPError(400)` if it is not one."""
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, f"Parameter {name} must be an integer, got {value!r}") from None

    def json(self) -> t.Any:
        """The body parsed as JSON; raises `HTTPError(400)` if it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise HTTPError(400, "Request body is not valid JSON") from None

    def basic_auth(self) -> tuple[str, str] | None:
        """The (user, password) of an `Authorization: Basic` header, or None."""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer` header, or None."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@dataclasses.dataclass
class Response:
    """A response: `body` is bytes (sent with Content-Length) or an iterable of chunks (sent chunked)."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, value: t.Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json_bytes(value), {"Content-Type": "application/json;charset=UTF-8", **(headers or {})})

    @classmethod
    def stream(
        cls, chunks: Iterable[bytes], content_type: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return cls(status, chunks, {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain;charset=UTF-8") -> Response:
        return cls(status, text.encode(), {"Content-Type": content_type})


class HTTPError(Exception):
    """Raised by a handler to answer with an error; the emulator renders it in its vendor's shape."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: t.Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra
