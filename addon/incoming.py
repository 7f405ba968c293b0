"""An HTTP request reduced to plain values, so the doors that judge it never see HTTP; its body
read without ever holding more than the configured limit."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope

from addon.errors import BadRequest, PayloadTooLarge

__all__ = ["Incoming", "incoming", "incoming_from_scope", "parse_json_object"]


@dataclass(frozen=True, slots=True)
class Incoming:
    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    received_at: float

    @property
    def target(self) -> str:
        """The request target as it arrived on the wire: raw path and raw query."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def authorization(self) -> str | None:
        return self.header("authorization")

    @property
    def query_jwt(self) -> str | None:
        if "jwt=" not in self.query:
            return None
        values = [v for k, v in parse_qsl(self.query, keep_blank_values=True) if k == "jwt"]
        return values[0] if values else None


def parse_json_object(body: bytes, *, what: str = "body") -> dict[str, Any]:
    """`body` as a JSON object, or BadRequest saying what is wrong."""
    if not body:
        raise BadRequest(f"the {what} is empty; a JSON object is required", code="invalid_json")
    try:
        # As json.loads(body, parse_constant=_not_json) does, without a new decoder per call.
        value = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except UnicodeDecodeError:
        raise BadRequest(f"the {what} is not UTF-8", code="invalid_json") from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the {what} is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequest(f"the {what} must be a JSON object", code="invalid_json")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity are not JSON


_DECODER = json.JSONDecoder(parse_constant=_not_json)


def _declared_length(headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    for key, value in headers:
        if key == b"content-length":  # ASGI servers give header names in lower case
            return value
    return None


async def _receive_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The body from ASGI `receive`, or PayloadTooLarge as soon as it exceeds `limit` bytes.

    Raises Starlette's ClientDisconnect if the client goes away before the end.
    """
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number", code="bad_content_length") from None
        if size > limit:
            raise PayloadTooLarge(
                f"the body is {size} bytes; the limit is {limit} (MAX_BODY_BYTES)"
            )
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(
                    f"the body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)"
                )
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def incoming_from_scope(scope: Scope, receive: Receive, limit: int) -> Incoming:
    """The request as plain values: raw path and query as on the wire, headers, bounded body."""
    received_at = time.time()
    raw_headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
    body = await _receive_body(receive, _declared_length(raw_headers), limit)
    raw_path = scope.get("raw_path")
    path = raw_path.decode("utf-8", "surrogateescape") if raw_path else scope["path"]
    if "?" in path:
        path = path.split("?", 1)[0]
    return Incoming(
        method=scope["method"],
        path=path,
        query=scope.get("query_string", b"").decode("utf-8", "surrogateescape"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers],
        body=body,
        received_at=received_at,
    )


async def incoming(request: Request, limit: int) -> Incoming:
    """`incoming_from_scope` for a Starlette request."""
    return await incoming_from_scope(request.scope, request.receive, limit)
