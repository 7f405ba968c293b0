"""Forge event bodies: both envelopes, the retry context, and the identifier derived from the body."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
import rfc8785

from addon.forge import MalformedEvent, MissingEventType, read_event
from addon.forge._events import delivery_id

UPDATED: dict[str, Any] = {
    "eventType": "avi:jira:updated:issue",
    "timestamp": "1733300000000",
    "issue": {
        "id": "10073",
        "key": "SP-10",
        "fields": {"summary": "A title", "project": {"id": "10000", "key": "SP"}},
    },
    "atlassianId": "4ad9aa0c52dc1b420a791d12",
    "changelog": {"items": [{"field": "summary", "from": None, "to": None}]},
}
RETRY = {"retryData": None, "retryCount": 2, "retryReason": "TIMEOUT_ERROR"}


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_an_event_at_the_top_level() -> None:
    event = read_event(body(UPDATED))
    assert event.name == "avi:jira:updated:issue"
    assert event.event == UPDATED
    assert event.retry == 0
    assert event.retry_reason is None
    assert not event.enveloped


def test_an_event_under_payload() -> None:
    event = read_event(body({"payload": UPDATED}))
    assert event.name == "avi:jira:updated:issue"
    assert event.event == UPDATED
    assert event.enveloped


@pytest.mark.parametrize("envelope", ["top", "payload"])
def test_a_retry_has_its_number_and_the_identifier_of_the_first_attempt(envelope: str) -> None:
    def wrapped(document: dict[str, Any]) -> dict[str, Any]:
        return document if envelope == "top" else {"payload": document}

    first = read_event(body(wrapped(UPDATED)))
    retried = read_event(body(wrapped({**UPDATED, "retryContext": RETRY})))
    assert retried.retry == 2
    assert retried.retry_reason == "TIMEOUT_ERROR"
    assert retried.delivery_id == first.delivery_id


def test_a_retry_context_beside_the_payload_counts_too() -> None:
    first = read_event(body({"payload": UPDATED}))
    retried = read_event(body({"payload": UPDATED, "retryContext": RETRY}))
    assert retried.retry == 2
    assert retried.delivery_id == first.delivery_id


def test_the_identifier_is_the_sha256_of_the_canonical_body() -> None:
    # RFC 8785: keys sorted by UTF-16 code units, no whitespace, numbers in their shortest form.
    document = {"eventType": "avi:jira:deleted:issue", "b": 1.0, "a": "é", "issue": {"id": "1"}}
    canonical = '{"a":"é","b":1,"eventType":"avi:jira:deleted:issue","issue":{"id":"1"}}'
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert read_event(body(document)).delivery_id == expected
    reordered = json.dumps(dict(reversed(list(document.items()))), indent=4).encode()
    assert read_event(reordered).delivery_id == expected


def test_a_different_event_has_a_different_identifier() -> None:
    other = copy.deepcopy(UPDATED)
    other["timestamp"] = "1733300000001"
    assert read_event(body(other)).delivery_id != read_event(body(UPDATED)).delivery_id


@pytest.mark.parametrize("count", ["2", -1, True, None])
def test_a_retry_context_without_a_usable_count_is_one_retry(count: Any) -> None:
    event = read_event(body({**UPDATED, "retryContext": {"retryCount": count}}))
    assert event.retry == 1


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"a": NaN}']
)
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        read_event(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "document",
    [{}, {"payload": {}}, {"eventType": 7}, {"payload": {"eventType": ""}}, {"eventType": " "}],
)
def test_a_body_without_an_event_type_is_refused(document: Any) -> None:
    with pytest.raises(MissingEventType) as caught:
        read_event(body(document))
    assert caught.value.status == 400


def test_an_event_type_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(MalformedEvent):
        read_event(body({"eventType": "x" * 500}))
    with pytest.raises(MalformedEvent):
        read_event(body({"eventType": "avi:jira\n:created:issue"}))


def test_a_body_that_cannot_be_canonical_is_refused_not_crashed() -> None:
    with pytest.raises(MalformedEvent, match="canonical"):
        read_event(body({**UPDATED, "huge": 2**60}))


CANONICAL_CASES = [
    {"b": 1, "a": [True, False, None, {"z": "é\u2028", "y": '\x00\x1f"\\\b\f\n\r\t\x7f'}]},
    {
        "eventType": "avi:jira:updated:issue",
        "issue": {"id": "10073", "key": "SP-10"},
        "n": -(2**53 - 1),
    },
    {"float": 1.0, "tiny": 5e-324, "big": 1e21, "neg": -0.0, "third": 1 / 3},
    {"\u00e9": 1, "e": 2, "\U0001f600": 3, "\ufb33": 4, "\u20ac": 5},
    {"empty": {}, "list": [], "nested": [[[{}]]], "emoji value": "\U0001f600 ✓"},
]


@pytest.mark.parametrize("document", CANONICAL_CASES)
def test_the_fast_canonical_form_is_rfc8785_s(document: dict[str, Any]) -> None:
    from addon.forge._events import _canonical

    assert _canonical(document) == rfc8785.dumps(document)
    body = json.dumps(document).encode()
    assert read_event(
        json.dumps({"eventType": "avi:jira:updated:issue", **document}).encode()
    ).delivery_id == delivery_id({"eventType": "avi:jira:updated:issue", **json.loads(body)})


def test_the_identifier_is_the_sha256_of_the_rfc8785_form() -> None:
    document = {
        "eventType": "avi:jira:created:issue",
        "issue": {"key": "SP-1", "id": "1"},
        "x": 0.5,
    }
    expected = hashlib.sha256(rfc8785.dumps(document)).hexdigest()
    assert read_event(json.dumps(document).encode()).delivery_id == expected
    plain = {"eventType": "avi:jira:created:issue", "issue": {"key": "SP-1", "id": "1"}}
    assert delivery_id(plain) == hashlib.sha256(rfc8785.dumps(plain)).hexdigest()


def test_an_integer_beyond_2_53_or_a_lone_surrogate_has_no_identifier() -> None:
    with pytest.raises(MalformedEvent):
        delivery_id({"eventType": "avi:jira:created:issue", "n": 2**53})
    with pytest.raises(MalformedEvent):
        read_event(b'{"eventType": "avi:jira:created:issue", "s": "\\ud800"}')


def test_handlers_of_a_forge_name_and_of_its_exact_connect_equivalent_only() -> None:
    from addon.handlers import Event, Handlers

    handlers = Handlers()

    async def by_forge_name(event: Event) -> None: ...
    async def by_connect_name(event: Event) -> None: ...
    async def by_comment(event: Event) -> None: ...
    async def every(event: Event) -> None: ...

    handlers.add("avi:jira:updated:issue", by_forge_name)
    handlers.add("jira:issue_updated", by_connect_name)
    handlers.add("comment_created", by_comment)
    handlers.add("comment_updated", by_comment)
    handlers.add("*", every)
    assert handlers.for_event("avi:jira:updated:issue") == [by_forge_name, by_connect_name, every]
    assert handlers.for_event("avi:jira:commented:issue") == [every]
    assert handlers.for_event("jira:issue_updated") == [by_connect_name, every]
