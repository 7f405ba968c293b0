"""Reading request bodies without ever holding more than the configured limit."""

from __future__ import annotations

import time

from starlette.requests import Request

from addon.errors import BadRequest, PayloadTooLarge
from addon.incoming import Incoming

__all__ = ["incoming", "read_body"]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or PayloadTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
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
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


async def incoming(request: Request, limit: int) -> Incoming:
    """The request as plain values: raw path and query as on the wire, headers, bounded body."""
    received_at = time.time()
    body = await read_body(request, limit)
    scope = request.scope
    raw_path = scope.get("raw_path")
    path = raw_path.decode("utf-8", "surrogateescape") if raw_path else scope["path"]
    if "?" in path:
        path = path.split("?", 1)[0]
    return Incoming(
        method=request.method,
        path=path,
        query=scope.get("query_string", b"").decode("utf-8", "surrogateescape"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=body,
        received_at=received_at,
    )
