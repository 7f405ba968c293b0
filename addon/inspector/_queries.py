"""Query parameters of the inspector's pages and API, validated into plain values."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from addon.errors import BadRequest
from addon.store import DeliveryFilter, DeliveryStatus, is_storable_text

__all__ = [
    "DEFAULT_LIMIT",
    "FILTER_PARAMS",
    "MAX_LIMIT",
    "STATUSES",
    "ListQuery",
    "decode_cursor",
    "delivery_filter",
    "delivery_id",
    "encode_cursor",
    "list_query",
    "stream_start",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_TEXT = 256
MAX_ID = 2**63 - 1
STATUSES = tuple(status.value for status in DeliveryStatus)
FILTER_PARAMS = ("event", "kind", "origin", "client_key", "source", "status", "q")
SHORTHANDS = {"client_key": "connect", "source": "source"}
"""Origin filters named after their door: `client_key=X` is `kind=connect&origin=X`."""

_CURSOR_PREFIX = "before:"
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIGITS = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One page of the delivery list: what to show, how many, and from where."""

    where: DeliveryFilter
    limit: int = DEFAULT_LIMIT
    before_id: int | None = None
    filters: Mapping[str, str] = field(default_factory=dict)


def encode_cursor(last_id: int) -> str:
    """An opaque cursor for the page after the delivery `last_id` (newest first)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The delivery id a cursor continues after; BadRequest if it is not one of ours."""
    problem = BadRequest(
        "cursor is not valid: use the next_cursor of a previous answer", code="invalid_cursor"
    )
    if not _CURSOR_TEXT.fullmatch(cursor):
        raise problem
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise problem from None
    number = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not _DIGITS.fullmatch(number):
        raise problem
    value = int(number)
    if not 0 < value <= MAX_ID:
        raise problem
    return value


def delivery_id(text: str) -> int:
    """A delivery id from a URL; BadRequest unless it is a positive whole number."""
    if not _DIGITS.fullmatch(text) or not 0 < int(text) <= MAX_ID:
        raise BadRequest(
            f"delivery id {text[:40]!r} is not a positive whole number", code="invalid_id"
        )
    return int(text)


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    if len(value) > MAX_TEXT:
        raise BadRequest(f"{name} is longer than {MAX_TEXT} characters", code="invalid_parameter")
    if not is_storable_text(value):  # no stored value holds one, and PostgreSQL refuses a NUL
        raise BadRequest(
            f"{name} holds a NUL or a character that is not UTF-8", code="invalid_parameter"
        )
    return value


def _limit(params: Mapping[str, str]) -> int:
    raw = params.get("limit", "").strip()
    if not raw:
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw[:20]!r}",
            code="invalid_limit",
        )
    return int(raw)


def delivery_filter(params: Mapping[str, str]) -> tuple[DeliveryFilter, dict[str, str]]:
    """The filter named by `params`, and the parameters that make it up (empty ones dropped)."""
    given = {name: value for name in FILTER_PARAMS if (value := _text(params, name)) is not None}
    status = given.get("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(
            f"status must be one of {', '.join(STATUSES)}, not {status[:40]!r}",
            code="invalid_status",
        )
    client_key, source = given.get("client_key"), given.get("source")
    if client_key is not None and source is not None:
        raise BadRequest("give client_key or source, not both", code="invalid_parameter")
    kind, origin = _origin_filter(given)
    q = given.get("q")
    if q is not None and not q.rstrip("*"):
        del given["q"]
        q = None
    if q is not None and "*" in q.rstrip("*"):
        raise BadRequest(
            "q takes '*' only at its end, for a prefix match", code="invalid_parameter"
        )
    if q is not None and q.endswith("*"):
        q = q.rstrip("*") + "*"
        given["q"] = q
    where = DeliveryFilter(
        event=given.get("event"),
        origin=origin,
        origin_kind=kind,
        status=status,
        q=q,
    )
    return where, given


def _origin_filter(given: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The origin kind and origin asked for, by `kind` and `origin` or by a door's shorthand."""
    kind, origin = given.get("kind"), given.get("origin")
    for name, door in SHORTHANDS.items():
        value = given.get(name)
        if value is None:
            continue
        if origin is not None:
            raise BadRequest(f"give {name} or origin, not both", code="invalid_parameter")
        if kind is not None and kind != door:
            raise BadRequest(
                f"{name} names a {door} origin, but kind is {kind[:40]!r}",
                code="invalid_parameter",
            )
        kind, origin = door, value
    return kind, origin


def list_query(params: Mapping[str, str]) -> ListQuery:
    """The page of deliveries `params` ask for; BadRequest naming the first bad parameter."""
    where, given = delivery_filter(params)
    cursor = params.get("cursor", "").strip()
    return ListQuery(
        where=where,
        limit=_limit(params),
        before_id=decode_cursor(cursor) if cursor else None,
        filters=given,
    )


def stream_start(params: Mapping[str, str], last_event_id: str | None) -> int | None:
    """Where a live stream resumes: the Last-Event-ID a browser sends back, else `after`."""
    raw = (last_event_id or "").strip() or params.get("after", "").strip()
    if not raw:
        return None
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_ID:
        raise BadRequest(f"after must be a delivery id, not {raw[:40]!r}", code="invalid_parameter")
    return int(raw)
