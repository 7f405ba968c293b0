"""Query parameters into filters, limits and cursors: what is accepted and what answers 400."""

from __future__ import annotations

import base64

import pytest

from addon.errors import BadRequest
from addon.inspector._queries import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_cursor,
    delivery_id,
    encode_cursor,
    list_query,
    stream_start,
)
from addon.store import DeliveryFilter


def code_of(params: dict[str, str]) -> str:
    with pytest.raises(BadRequest) as caught:
        list_query(params)
    return caught.value.code


def test_defaults_are_the_newest_fifty_unfiltered() -> None:
    query = list_query({})
    assert query.where == DeliveryFilter()
    assert query.limit == DEFAULT_LIMIT == 50
    assert query.before_id is None
    assert dict(query.filters) == {}


def test_filters_map_to_the_store_filter() -> None:
    query = list_query(
        {"event": "jira:issue_created", "client_key": "ck-1", "status": "rejected", "q": "ABC-1"}
    )
    assert query.where == DeliveryFilter(
        event="jira:issue_created",
        origin="ck-1",
        origin_kind="connect",
        status="rejected",
        q="ABC-1",
    )
    source = list_query({"source": "billing"}).where
    assert (source.origin, source.origin_kind) == ("billing", "source")


def test_empty_parameters_are_no_filter() -> None:
    query = list_query({"event": "", "client_key": " ", "status": "", "q": "", "cursor": ""})
    assert query.where == DeliveryFilter()
    assert dict(query.filters) == {}


@pytest.mark.parametrize("status", ["accepted", "duplicate", "ignored", "rejected"])
def test_every_status_is_accepted(status: str) -> None:
    assert list_query({"status": status}).where.status == status


@pytest.mark.parametrize("status", ["ACCEPTED", "ok", "accepted,rejected", "1"])
def test_unknown_status_is_400(status: str) -> None:
    assert code_of({"status": status}) == "invalid_status"


@pytest.mark.parametrize(("given", "expected"), [("1", 1), ("50", 50), (str(MAX_LIMIT), 200)])
def test_limit_within_bounds(given: str, expected: int) -> None:
    assert list_query({"limit": given}).limit == expected


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", "1e3", "9" * 30])
def test_limit_out_of_bounds_is_400(limit: str) -> None:
    assert code_of({"limit": limit}) == "invalid_limit"


def test_q_prefix_keeps_one_trailing_star() -> None:
    assert list_query({"q": "ABC-*"}).where.q == "ABC-*"
    assert list_query({"q": "ABC-**"}).where.q == "ABC-*"
    assert list_query({"q": "*"}).where.q is None
    assert code_of({"q": "A*C"}) == "invalid_parameter"


def test_client_key_and_source_together_is_400() -> None:
    assert code_of({"client_key": "a", "source": "b"}) == "invalid_parameter"


def test_kind_and_origin_filter_any_door() -> None:
    forge = list_query({"kind": "forge", "origin": "ari:cloud:ecosystem::installation/1"})
    assert (forge.where.origin_kind, forge.where.origin) == (
        "forge",
        "ari:cloud:ecosystem::installation/1",
    )
    assert dict(forge.filters) == {"kind": "forge", "origin": "ari:cloud:ecosystem::installation/1"}
    every_source = list_query({"kind": "source"}).where
    assert (every_source.origin_kind, every_source.origin) == ("source", None)
    by_kind = list_query({"kind": "connect", "origin": "ck-1"}).where
    assert by_kind == list_query({"client_key": "ck-1"}).where


def test_a_shorthand_that_contradicts_kind_or_origin_is_400() -> None:
    assert code_of({"client_key": "a", "kind": "source"}) == "invalid_parameter"
    assert code_of({"source": "a", "origin": "b"}) == "invalid_parameter"
    assert list_query({"client_key": "a", "kind": "connect"}).where.origin_kind == "connect"


def test_overlong_text_is_400() -> None:
    assert code_of({"event": "e" * 300}) == "invalid_parameter"


def test_cursor_round_trip_and_opacity() -> None:
    for value in (1, 120, 2**53, 2**63 - 1):
        cursor = encode_cursor(value)
        assert str(value) not in cursor
        assert decode_cursor(cursor) == value
        assert list_query({"cursor": cursor}).before_id == value


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "abc",
        "MTIz",  # base64 of "123", without our prefix
        base64.urlsafe_b64encode(b"before:-5").decode(),
        base64.urlsafe_b64encode(b"before:0").decode().rstrip("="),
        base64.urlsafe_b64encode(b"before:99999999999999999999").decode().rstrip("="),
        base64.urlsafe_b64encode(b"before:12x").decode().rstrip("="),
        "A" * 200,
    ],
)
def test_invalid_cursor_is_400(cursor: str) -> None:
    assert code_of({"cursor": cursor}) == "invalid_cursor"


@pytest.mark.parametrize("text", ["abc", "0", "-1", "1.0", "", "9" * 25, "\uff11\uff12"])
def test_delivery_id_must_be_positive_whole_number(text: str) -> None:
    with pytest.raises(BadRequest):
        delivery_id(text)
    assert delivery_id("42") == 42


def test_stream_start_prefers_last_event_id() -> None:
    assert stream_start({}, None) is None
    assert stream_start({"after": "7"}, None) == 7
    assert stream_start({"after": "7"}, "9") == 9
    assert stream_start({"after": "0"}, "") == 0
    with pytest.raises(BadRequest):
        stream_start({"after": "x"}, None)
    with pytest.raises(BadRequest):
        stream_start({}, "-3")
