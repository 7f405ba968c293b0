"""Write plain data (mappings, lists, strings, numbers, booleans, None) as block-style YAML.

Every scalar is written as JSON writes it, so every string is double-quoted with JSON's escapes,
which YAML 1.2 (and 1.1) reads the same way; no value can turn into another type or break the
layout, whatever it holds. Mapping keys that are plain words stay unquoted, as people write them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

__all__ = ["to_yaml"]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDENT = "  "
_RESERVED = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})
"""Words some YAML readers take for booleans or null: quoted when they are keys."""


def to_yaml(value: object) -> str:
    """The YAML document for `value`, ending with a newline."""
    return "\n".join(_lines(value, 0)) + "\n"


def _scalar(value: object) -> str:
    if value is None or isinstance(value, bool | int | float | str):
        return json.dumps(value, allow_nan=False)
    raise TypeError(f"cannot write a {type(value).__name__} as YAML")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"mapping keys must be strings, not {type(key).__name__}")
    return key if _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED else json.dumps(key)


def _is_block(value: object) -> bool:
    """A non-empty mapping or list: written on lines of its own, not after the key."""
    return isinstance(value, Mapping | list | tuple) and len(value) > 0


def _inline(value: object) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return _scalar(value)


def _lines(value: object, depth: int) -> list[str]:
    pad = _INDENT * depth
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines = []
        for key, item in value.items():
            if _is_block(item):
                lines.append(f"{pad}{_key(key)}:")
                lines.extend(_lines(item, depth + 1))
            else:
                lines.append(f"{pad}{_key(key)}: {_inline(item)}")
        return lines
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            if _is_block(item):
                nested = _lines(item, depth + 1)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_inline(item)}")
        return lines
    return [pad + _scalar(value)]
