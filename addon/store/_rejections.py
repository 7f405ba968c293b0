"""The rejection log's bounds: what one refused request may store, and what the log may hold.

Anyone can send a refused request, so neither may grow with what is sent: a record keeps at most
`RECORD_BYTES` of headers, body, path and token together (each value clipped, then as many whole
headers as fit, then the body), and the log is pruned, oldest first, past a number of rows and
past a number of bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from addon.store._db import Connection
from addon.store._records import NewDelivery
from addon.store._storable import json_text, storable_text

__all__ = ["RECORD_BYTES", "bounded", "prune", "stored_bytes"]

RECORD_BYTES = 64 * 1024
SHORT_TEXT_BYTES = 1_024
LONG_TEXT_BYTES = 4_096
TOKEN_BYTES = 8 * 1_024

RESERVED_BYTES = 64
"""For the values the store adds itself (status, handler state)."""

_SHORT_FIELDS = (
    "origin_kind", "origin", "event", "webhook_id", "flow", "reason", "error_code", "method",
    "qsh_expected", "resource", "action", "issue_key", "project_key", "sprint_id", "actor",
)  # fmt: skip
_LONG_FIELDS = ("path", "canonical_request")


def _size(text: str | None) -> int:
    return 0 if text is None else len(text.encode("utf-8"))


def _clip(text: str | None, limit: int) -> str | None:
    """`text` as storable text of at most `limit` UTF-8 bytes (cut at a character boundary)."""
    if text is None:
        return None
    text = storable_text(text)
    if len(text) * 4 <= limit:  # no character takes more than four bytes
        return text
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _headers_within(headers: Mapping[str, str], budget: int) -> tuple[dict[str, str], int]:
    """As many whole headers as fit in `budget` bytes of JSON, in order; and the bytes they take."""
    kept: dict[str, str] = {}
    used = 2  # {}
    for name, value in headers.items():
        name, value = storable_text(name), storable_text(value)
        cost = _size(json_text(name)) + _size(json_text(value)) + 4  # ": " and ", "
        if used + cost > budget:
            break
        kept[name] = value
        used += cost
    return kept, used


def _token_within(token: Mapping[str, Any] | None, budget: int) -> tuple[Any, int]:
    if token is None:
        return None, 0
    text = json_text(token)
    if _size(text) > min(budget, TOKEN_BYTES):
        return None, 0
    return token, _size(text)


def bounded(delivery: NewDelivery, limit: int = RECORD_BYTES) -> NewDelivery:
    """`delivery` cut down to what a rejection may store: `limit` bytes in all."""
    changes: dict[str, Any] = {}
    used = RESERVED_BYTES
    for name, limit_of_field in (
        *((name, SHORT_TEXT_BYTES) for name in _SHORT_FIELDS),
        *((name, LONG_TEXT_BYTES) for name in _LONG_FIELDS),
    ):
        value = _clip(getattr(delivery, name), limit_of_field)
        changes[name] = value
        used += _size(value)
    context = json_text(dict(delivery.context))
    used += _size(context)
    if used > limit // 4:  # a context is a few URL parameters: never worth the whole budget
        changes["context"], used = {}, used - _size(context) + 2
    changes["token"], cost = _token_within(delivery.token, limit - used)
    used += cost
    changes["headers"], cost = _headers_within(delivery.headers, limit - used)
    used += cost
    changes["body"] = delivery.body[: max(0, limit - used)]
    changes["search_keys"] = ()
    return dataclasses.replace(delivery, **changes)


def stored_bytes(row: tuple[Any, ...]) -> int:
    """The bytes the text and binary values of a stored row take."""
    return sum(
        len(v) if isinstance(v, bytes) else _size(v) for v in row if isinstance(v, str | bytes)
    )


async def prune(conn: Connection, *, max_rows: int, max_bytes: int) -> None:
    """Delete the oldest rejections past the newest `max_rows`, and past `max_bytes` in all."""
    await conn.execute(
        """DELETE FROM deliveries WHERE status = 'rejected' AND id <= (
               SELECT id FROM deliveries WHERE status = 'rejected'
               ORDER BY id DESC LIMIT 1 OFFSET ?)""",
        (max_rows,),
    )
    await conn.execute(
        """DELETE FROM deliveries WHERE status = 'rejected' AND id <= (
               SELECT id FROM (
                   SELECT id, SUM(COALESCE(stored_bytes, 0)) OVER (ORDER BY id DESC) AS total
                   FROM deliveries WHERE status = 'rejected') AS newest_first
               WHERE total > ? ORDER BY id DESC LIMIT 1)""",
        (max_bytes,),
    )
