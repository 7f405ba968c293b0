"""What the store writes: one rule for text and JSON that every writer applies and every reader
can show, and the bound on values an index holds.

Both databases refuse a lone surrogate (it is not UTF-8) and PostgreSQL refuses NUL, so each is
written as the text of its escape (`\\ud800`, `\\u0000`). JSON is made storable value by value
before it is encoded, so such an escape is an escaped backslash in the JSON text and reads back as
the same six characters, never as a surrogate again; numbers JSON cannot hold (infinity, NaN) are
written as their names. Readers apply the same rule to what they parse (a stored body, JSON
written before the rule), so a page or an API answer can always be encoded.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = [
    "MAX_INDEXED_BYTES",
    "fits_index",
    "is_storable_text",
    "json_text",
    "parse_stored_json",
    "storable_json",
    "storable_text",
]

MAX_INDEXED_BYTES = 255
"""The longest value (in UTF-8 bytes) an index is given: PostgreSQL's btree refuses a row past
about 2.7 KB, and failing there would fail every delivery written in the same commit."""

MAX_DEPTH = 100
TOO_DEEP = "(nested too deeply to keep)"

# One encoder for every call: json.dumps(value, ensure_ascii=False) builds a new one each time.
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def is_storable_text(value: str) -> bool:
    """Whether `value` is text both databases take as it is (UTF-8, no NUL)."""
    if "\x00" in value:
        return False
    if value.isascii():  # O(1) in CPython: the common case needs no trial encoding
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_text(value: str) -> str:
    """`value` with each NUL and lone surrogate written as the text of its escape."""
    if is_storable_text(value):
        return value
    value = value.replace("\x00", "\\u0000")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def fits_index(value: str) -> bool:
    """Whether storable text `value` is short enough for an index (`MAX_INDEXED_BYTES`)."""
    return len(value) * 4 <= MAX_INDEXED_BYTES or len(value.encode("utf-8")) <= MAX_INDEXED_BYTES


def storable_json(value: Any, _depth: int = 0) -> Any:
    """`value` (parsed JSON) with every string storable and every number one JSON can hold."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict | list | tuple) and _depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {
            storable_text(str(key)): storable_json(item, _depth + 1) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [storable_json(item, _depth + 1) for item in value]
    return value


def json_text(value: Any) -> str:
    """`value` as storable JSON text."""
    try:  # the common case: nothing to change, and no walk over the value first
        text = _ENCODE(value)
    except (ValueError, RecursionError):  # infinity or NaN; nesting too deep for the encoder
        return _ENCODE(storable_json(value))
    if is_storable_text(text) and "\\u0000" not in text:
        return text
    return _ENCODE(storable_json(value))


def parse_stored_json(text: str | bytes | None, default: Any = None) -> Any:
    """JSON as stored (or a stored body), parsed and made showable; `default` if it is not JSON."""
    if not text:
        return default
    try:
        return storable_json(json.loads(text, parse_constant=str))
    except (ValueError, RecursionError):
        return default
