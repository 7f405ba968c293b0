"""Deliveries as Jira sends them, checked without a server: URLs, tokens, headers, retries,
concurrency, the summary and the progress bar."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

import descriptor
from addon.auth import extract_token, verify_symmetric
from addon.simulator import SendOptions, SimulatedSite
from addon.simulator._addon import CONNECT_VERSION, AddonDescriptor, refusal_of
from addon.simulator._payloads import build_payload
from addon.simulator._send import (
    Outcome,
    Progress,
    delivery_targets,
    percentile,
    render_bar,
    send_deliveries,
    summarise,
    webhook_headers,
)

ADDON_BASE = "https://addon.example.com/jira-addon"

DOCUMENT = {
    "key": "my-addon",
    "baseUrl": ADDON_BASE,
    "modules": {
        "webhooks": [
            {
                "event": "jira:issue_updated",
                "url": "/hooks/issue-updated?key=${issue.key}&pid=${project.id}&fixed=a%20b",
            },
            {
                "event": "jira:issue_updated",
                "url": "/hooks/${project.key}/audit",
                "excludeBody": True,
            },
            {"event": "sprint_started", "url": "/hooks/sprint?id=${sprint.id}"},
        ]
    },
}


@pytest.fixture(scope="module")
def site() -> SimulatedSite:
    return SimulatedSite.generate()


def addon(url: str = ADDON_BASE) -> AddonDescriptor:
    return AddonDescriptor(
        addon_url=url,
        key="my-addon",
        base_url=ADDON_BASE,
        lifecycle={},
        webhooks=descriptor.parse_webhooks(DOCUMENT),
    )


def test_targets_expand_every_module_of_the_event_from_the_body() -> None:
    payload = build_payload("jira:issue_updated", issue="DEV-7").payload
    targets = delivery_targets(
        addon("http://127.0.0.1:8000/jira-addon"), "jira:issue_updated", payload
    )
    assert [(t.url, t.exclude_body) for t in targets] == [
        (
            "http://127.0.0.1:8000/jira-addon/hooks/issue-updated?key=DEV-7&pid=10000&fixed=a%20b",
            False,
        ),
        ("http://127.0.0.1:8000/jira-addon/hooks/DEV/audit", True),
    ]
    assert delivery_targets(addon(), "comment_created", payload) == []


def test_values_are_percent_encoded_as_the_server_decodes_them() -> None:
    payload = {"issue": {"key": "A&B=1/2 ü", "fields": {"project": {"id": "1"}}}}
    (target, _) = delivery_targets(addon(), "jira:issue_updated", payload)
    path = target.url.removeprefix("https://addon.example.com/jira-addon")
    module = descriptor.parse_webhooks(DOCUMENT)[0]
    assert module.template.match(path) == {"issue.key": "A&B=1/2 ü", "project.id": "1"}


def test_jira_headers() -> None:
    assert webhook_headers("id-1", 0) == {
        "X-Atlassian-Webhook-Identifier": "id-1",
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    assert webhook_headers("id-1", 1)["X-Atlassian-Webhook-Retry"] == "1"


Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def run_deliveries(
    site: SimulatedSite, handler: Handler, options: SendOptions, event: str = "jira:issue_updated"
) -> list[Outcome]:
    payload = build_payload(event).payload

    async def go() -> list[Outcome]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await send_deliveries(
                client,
                delivery_targets(addon(), event, payload),
                b'{"webhookEvent": "x"}',
                site=site,
                addon_base_url=ADDON_BASE,
                options=options,
            )

    return asyncio.run(go())


def test_each_request_is_signed_for_its_own_url(site: SimulatedSite) -> None:
    seen: list[tuple[httpx.Request, Any]] = []

    async def secret_for(client_key: str) -> str | None:
        return site.shared_secret if client_key == site.client_key else None

    async def handler(request: httpx.Request) -> httpx.Response:
        token = extract_token(request.headers.get("authorization"), None)
        verified = await verify_symmetric(
            token,
            method=request.method,
            url=request.url.raw_path.decode("ascii"),
            base_url=ADDON_BASE,
            secret_for=secret_for,
            leeway=0,
        )
        seen.append((request, verified))
        return httpx.Response(204)

    outcomes = run_deliveries(site, handler, SendOptions())
    assert [o.status for o in outcomes] == [204, 204]
    (first, checked), (second, _) = seen
    assert checked.canonical_request == (
        "POST&/hooks/issue-updated&fixed=a%20b&key=PRJ-1&pid=10000"
    )
    assert checked.claims["iss"] == site.client_key
    assert checked.claims["exp"] - checked.claims["iat"] == 180
    assert first.headers["content-type"] == "application/json"
    assert first.headers["atlassian-connect-version"] == CONNECT_VERSION
    assert first.headers["x-atlassian-webhook-flow"] == "Primary"
    assert "x-atlassian-webhook-retry" not in first.headers
    assert first.content == b'{"webhookEvent": "x"}'
    assert second.content == b""
    assert first.headers["authorization"] != second.headers["authorization"]


def test_a_retry_repeats_the_identifier(site: SimulatedSite) -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    outcomes = run_deliveries(
        site, handler, SendOptions(repeat=3, retry=True), event="sprint_started"
    )
    assert [o.retry for o in outcomes] == [0, 1] * 3
    ids = [r.headers["x-atlassian-webhook-identifier"] for r in seen]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[4] == ids[5]
    assert len(set(ids)) == 3
    assert [r.headers.get("x-atlassian-webhook-retry") for r in seen] == [None, "1"] * 3


def test_concurrency_is_bounded(site: SimulatedSite) -> None:
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(204)

    outcomes = run_deliveries(
        site, handler, SendOptions(repeat=20, concurrency=4), "sprint_started"
    )
    assert len(outcomes) == 20 and most == 4


def test_refusals_and_failures_are_outcomes(site: SimulatedSite) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(
                401, json={"error": "qsh_mismatch", "reason": "qsh does not match"}
            )
        raise httpx.ConnectError("connection refused", request=request)

    first, second = run_deliveries(site, handler, SendOptions(repeat=2), "sprint_started")
    assert (first.status, first.reason) == (401, "qsh_mismatch: qsh does not match")
    assert second.status is None and second.reason == "ConnectError: connection refused"
    assert not first.ok and not second.ok


def test_the_summary_counts_statuses_and_latency() -> None:
    outcomes = [Outcome(204, 0.010 * n) for n in range(1, 11)]
    outcomes += [Outcome(204, 0.5, retry=1), Outcome(401, 0.2, reason="invalid_signature: bad")]
    outcomes += [Outcome(None, 1.0, reason="ConnectError: refused")]
    summary = summarise(outcomes, seconds=2.0)
    assert summary.statuses == {"204": 11, "401": 1, "error": 1}
    assert summary.failed == 2 and summary.retries == 1
    assert summary.slowest == 1.0
    assert summary.p50 == pytest.approx(0.07)
    assert summary.lines() == [
        "13 request(s) (1 of them retries) in 2.00 s (6.5/s): 204 x11, 401 x1, error x1",
        "latency p50 70.0 ms, p95 1000.0 ms, max 1000.0 ms",
        "401: invalid_signature: bad",
        "error: ConnectError: refused",
    ]


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.5) == 0.0


def test_the_progress_bar() -> None:
    assert render_bar(0, 10, width=10) == "[..........] 0/10   0%"
    assert render_bar(5, 10, width=10) == "[#####.....] 5/10  50%"
    assert render_bar(10, 10, width=10) == "[##########] 10/10 100%"
    stream = io.StringIO()
    progress = Progress(4, stream, enabled=True, width=4)
    for _ in range(4):
        progress.advance()
    progress.finish()
    text = stream.getvalue()
    assert text.startswith("\r[#...] 1/4  25%") and "\r[####] 4/4 100%" in text
    assert text.endswith("\r") and "\n" not in text


def test_the_progress_bar_stays_off_the_log_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress.for_stream(1000, stream)
    progress.advance()
    progress.finish()
    assert stream.getvalue() == ""


def test_a_refusal_body_is_read_whatever_it_is() -> None:
    assert refusal_of(httpx.Response(401, json={"error": "x", "reason": "y\nz"})) == ("x", "y z")
    assert refusal_of(httpx.Response(502, text="Bad gateway\n")) == (None, "Bad gateway")
    assert refusal_of(httpx.Response(500, json=[1])) == (None, "[1]")
