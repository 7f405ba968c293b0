"""One request never breaks the inspector: whatever the write side stored (bodies with lone
surrogates or numbers past infinity, hostile headers, token headers and claims), the list, its
filtered views, the detail page, the JSON API and the live stream of a real server stay 200 and
well-formed, and the stream goes past the delivery; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addon.store import DeliveryFilter, DeliveryStatus, NewDelivery, open_store
from tests.inspector.support import AUTH, CREDENTIALS, api, eventually
from tests.support.connect import Jira

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def server_env(directory: Path) -> dict[str, str]:
    return dict(CREDENTIALS)


# --- what may have been stored --------------------------------------------------------------

HOSTILE = st.sampled_from(
    ["\ud800", "\udfff", "a\x00b", "\\ud800", "\\udfff", "é\u2028", "<b>x</b>", "x" * 300]
)
TEXT = st.text(max_size=12) | HOSTILE
NUMBERS = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e300])
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
RAW_BODIES = st.sampled_from(
    [
        b'{"issue": {"key": "\\ud800"}}',
        b'{"x": 1e999}',
        b'{"x": -1e999, "y": NaN, "z": Infinity}',
        b'{"webhookEvent": "jira:issue_updated", "issue": {"key": "\\udfff", "fields": '
        b'{"project": {"key": "\\u0000"}}}, "user": {"accountId": "\\ud83d"}}',
        b'{"issue": {"key": "\xed\xa0\x80"}}',  # a surrogate encoded, which UTF-8 forbids
        b'{"sprint": {"id": 1e999}, "board": {"id": "\\udc80"}}',
        b"\xff\xfe not json",
        b"[" * 5_000 + b"]" * 5_000,
    ]
)
BODIES = (
    RAW_BODIES
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(TEXT, JSON, max_size=4).map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
)
TOKENS = st.fixed_dictionaries(
    {
        "header": st.fixed_dictionaries(
            {"alg": TEXT, "kid": TEXT}, optional={"crit": JSON, "typ": TEXT}
        ),
        "claims": st.fixed_dictionaries(
            {"iss": TEXT | JSON, "iat": NUMBERS | TEXT, "exp": NUMBERS | JSON},
            optional={"qsh": TEXT, "sub": JSON, "aud": JSON},
        ),
    },
    optional={"verified": st.just(False)},
)
STATUSES = st.sampled_from(list(DeliveryStatus))


@st.composite
def deliveries(draw: st.DrawFn) -> NewDelivery:
    status = draw(STATUSES)
    issue_key = draw(st.none() | TEXT)
    return NewDelivery(
        received_at=draw(st.sampled_from([time.time(), 0.0, 1e10])),
        origin_kind=draw(st.sampled_from(["connect", "source"])),
        origin=draw(st.none() | TEXT),
        status=status,
        event=draw(st.sampled_from(["jira:issue_updated", "sprint_started"]) | TEXT),
        webhook_id=draw(st.none() | TEXT),
        retry=draw(st.integers(0, 5)),
        flow=draw(st.none() | TEXT),
        reason=draw(st.none() | TEXT),
        error_code=draw(st.none() | TEXT),
        method=draw(st.sampled_from(["POST", "GET"]) | TEXT),
        path=draw(st.none() | TEXT),
        context=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
        token=draw(st.none() | TOKENS),
        canonical_request=draw(st.none() | TEXT),
        qsh_expected=draw(st.none() | TEXT),
        headers=draw(st.dictionaries(TEXT, TEXT, max_size=4)),
        body=draw(BODIES),
        body_size=draw(st.integers(0, 10**9)),
        issue_key=issue_key,
        project_key=draw(st.none() | TEXT),
        sprint_id=draw(st.none() | TEXT),
        actor=draw(st.none() | TEXT),
        search_keys=tuple(k for k in (issue_key, draw(TEXT)) if k),
    )


def store_them(database_url: str, records: list[NewDelivery]) -> list[int]:
    """Write `records` as the server's writer does (rejections through the rejection lane)."""

    async def write() -> list[int]:
        store = await open_store(database_url, encrypt_existing=False)
        await store.start()
        try:
            ids = []
            for record in records:
                if record.status is DeliveryStatus.REJECTED:
                    store.writer.record_rejection(record)
                    await store.writer.record(plain())  # the lane is written with the next batch
                    [newest] = await store.deliveries.page(
                        DeliveryFilter(status="rejected"), limit=1
                    )
                    ids.append(newest.id)
                else:
                    ids.append((await store.writer.record(record)).id)
            return ids
        finally:
            await store.close()

    return asyncio.run(write())


def plain() -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="plain-site",
        status=DeliveryStatus.IGNORED,
        event="jira:issue_updated",
        body=b"{}",
    )


# --- what the inspector must answer ---------------------------------------------------------


def strict_json(response: httpx.Response) -> Any:
    """The answer as JSON a browser takes: UTF-8, no NaN or Infinity."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a JSON answer: {response.text[:300]}")

    assert response.headers["content-type"].startswith("application/json"), response
    return json.loads(response.content.decode("utf-8"), parse_constant=refuse)


def assert_page(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in (statuses or (200,)), (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html"), response
    text = response.content.decode("utf-8")
    assert text.rstrip().endswith("</html>"), text[-300:]


def not_json(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def stream_ids(jira: Jira, after: int, wanted: set[int]) -> set[int]:
    """The delivery ids the live stream sends after `after`, read until `wanted` are in."""
    seen: set[int] = set()
    url = f"{jira.base_url}/inspector/api/stream"
    with httpx.stream("GET", url, params={"after": after}, auth=AUTH, timeout=30) as response:
        assert response.status_code == 200
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "delivery":
                data = json.loads(line.removeprefix("data: "), parse_constant=not_json)
                assert isinstance(data["html"], str) and data["html"].strip()
                seen.add(int(data["id"]))
                if wanted <= seen:
                    return seen
            elif line == "":
                event = None
    raise AssertionError(f"the stream ended without {sorted(wanted - seen)}; it sent {seen}")


def filtered(jira: Jira, path: str, name: str, value: str) -> httpx.Response:
    """GET an inspector URL with one filter, its value sent as UTF-8 (a surrogate as such)."""
    raw = quote(value.encode("utf-8", "surrogatepass"), safe="")
    url = f"{jira.base_url}/inspector{path}?{quote(name)}={raw}"
    return httpx.get(url, auth=AUTH, timeout=10)


def assert_shown(jira: Jira, delivery_id: int, filters: Mapping[str, str]) -> None:
    """Every view of the inspector that can include `delivery_id` answers, well-formed."""
    assert_page(api(jira, "/"))
    for name, value in filters.items():
        # 400: a filter value the inspector refuses (a NUL), with a reason
        assert_page(filtered(jira, "/", name, value), 200, 400)
        answer = filtered(jira, "/api/deliveries", name, value)
        assert answer.status_code in (200, 400), answer.text[:300]
        strict_json(answer)
    assert_page(api(jira, f"/deliveries/{delivery_id}"))
    listed = api(jira, "/api/deliveries", limit=200)
    assert listed.status_code == 200, listed.text[:300]
    assert delivery_id in [d["id"] for d in strict_json(listed)["deliveries"]]
    detail = api(jira, f"/api/deliveries/{delivery_id}")
    assert detail.status_code == 200, detail.text[:300]
    assert strict_json(detail)["id"] == delivery_id
    # The stream sends the delivery and goes on past it (it never stalls at one id).
    [after] = store_them(jira.database_url, [plain()])
    stream_ids(jira, delivery_id - 1, {delivery_id, after})


# --- tests ----------------------------------------------------------------------------------


def test_any_stored_delivery_is_shown_everywhere(jira: Jira) -> None:
    @EXAMPLES
    @given(record=deliveries())
    def shown(record: NewDelivery) -> None:
        [delivery_id] = store_them(jira.database_url, [record])
        filters = {"status": record.status.value}
        for name, value in (
            ("event", record.event),
            ("q", record.issue_key),
            ("client_key" if record.origin_kind == "connect" else "source", record.origin),
        ):
            if value and value.strip():
                filters[name] = value
        assert_shown(jira, delivery_id, filters)

    shown()


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def unsigned_token(header: bytes, claims: bytes) -> str:
    return (b64(header) + b"." + b64(claims) + b"." + b64(b"not a signature")).decode()


@pytest.mark.parametrize(
    ("body", "header", "claims"),
    [
        (b'{"issue":{"key":"\\ud800"}}', b'{"alg":"HS256"}', b'{"iss":"nobody"}'),
        (b'{"x":1e999}', b'{"alg":"HS256"}', b'{"iss":"nobody"}'),
        (b"{}", b'{"alg":"HS256","kid":"\\udfff"}', b'{"iss":"nobody"}'),
        (b"{}", b'{"alg":"HS256"}', b'{"iss":"nobody","iat":1e999,"exp":-1e999}'),
        (b'{"issue":{"key":"\\\\ud800"}}', b'{"alg":"HS256"}', b'{"iss":"\\\\udfff"}'),
    ],
    ids=["surrogate-body", "infinite-body", "surrogate-kid", "infinite-iat", "escaped-escape"],
)
def test_a_refused_request_never_breaks_the_inspector(
    jira: Jira, body: bytes, header: bytes, claims: bytes
) -> None:
    """The requests of the report, sent unauthenticated through a real server: the rejection
    each leaves is shown by the list, its filters, the detail page, the API and the stream."""
    identifier = f"poison-{time.monotonic_ns()}"
    response = httpx.post(
        f"{jira.base_url}/webhooks/jira/issue-updated?issueKey=P-1",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"JWT {unsigned_token(header, claims)}",
            "X-Atlassian-Webhook-Identifier": identifier,
            "X-Poison": "\udfff".encode("utf-8", "surrogatepass"),
        },
        timeout=10,
    )
    assert response.status_code == 401, response.text
    [rejected] = eventually(lambda: jira.rejected(identifier), what="the rejection record")
    assert_shown(
        jira,
        rejected.id,
        {"status": "rejected", "event": "jira:issue_updated", "q": "\ud800", "source": "x\x00"},
    )
