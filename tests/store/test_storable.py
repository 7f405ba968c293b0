"""The one rule for what the store writes as text and JSON, and what readers get back."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from addon.store import (
    MAX_INDEXED_BYTES,
    fits_index,
    is_storable_text,
    json_text,
    parse_stored_json,
    storable_json,
    storable_text,
)

HOSTILE = st.sampled_from(["\x00", "a\x00b", "\ud800", "\udfff", "é\udcff", "\u2028", "\\ud800"])
TEXT = st.text() | HOSTILE | st.lists(st.text() | HOSTILE, max_size=4).map("".join)
NUMBERS = st.integers() | st.floats() | st.sampled_from([math.inf, -math.inf, math.nan])
VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def strict_json(text: str) -> Any:
    """JSON as a browser reads it: UTF-8, no NaN or Infinity."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text.encode("utf-8").decode("utf-8"), parse_constant=refuse)


def showable(value: Any) -> bool:
    if isinstance(value, str):
        return is_storable_text(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(showable(k) and showable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(showable(item) for item in value)
    return True


@given(TEXT)
def test_storable_text_is_text_every_database_takes_and_keeps_plain_text(text: str) -> None:
    stored = storable_text(text)
    assert is_storable_text(stored)
    stored.encode("utf-8")
    assert "\x00" not in stored
    if is_storable_text(text):
        assert stored == text


@given(VALUES)
def test_json_is_stored_so_that_it_reads_back_without_surrogates_or_infinities(value: Any) -> None:
    text = json_text(value)
    strict_json(text)  # the stored text is strict JSON in UTF-8
    again = parse_stored_json(text)
    assert showable(again)
    assert json_text(again) == text  # reading back and storing again changes nothing


def test_an_escape_written_for_a_surrogate_never_decodes_back_into_one() -> None:
    """The text of the escape is stored, not the escape: the JSON holds an escaped backslash."""
    text = json_text({"kid": "\udfff", "key": "\ud800", "nul": "a\x00b"})
    assert parse_stored_json(text) == {"kid": "\\udfff", "key": "\\ud800", "nul": "a\\u0000b"}


def test_json_written_before_the_rule_reads_as_showable() -> None:
    """Rows written by an older writer hold escapes that decode into surrogates, or Infinity."""
    old = '{"header": {"kid": "\\udfff"}, "claims": {"iat": Infinity, "exp": 1e999}}'
    assert parse_stored_json(old) == {
        "header": {"kid": "\\udfff"},
        "claims": {"iat": "Infinity", "exp": "Infinity"},
    }
    assert parse_stored_json(b'{"issue": {"key": "\\ud800"}, "x": -1e999}') == {
        "issue": {"key": "\\ud800"},
        "x": "-Infinity",
    }
    assert parse_stored_json(b"not json", {}) == {}


def test_deep_nesting_is_cut_not_a_crash() -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = [deep]
    assert showable(storable_json(deep))
    strict_json(json_text(deep))


def test_only_short_values_go_into_an_index() -> None:
    assert fits_index("k" * MAX_INDEXED_BYTES)
    assert not fits_index("k" * (MAX_INDEXED_BYTES + 1))
    assert not fits_index("é" * (MAX_INDEXED_BYTES // 2 + 1))  # two bytes each
