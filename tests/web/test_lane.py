"""The webhook lane in front of the router, driven through ASGI with a stand-in for the services."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.routing import Route

from addon.errors import ServiceUnavailable, Unauthorized
from addon.incoming import Incoming
from addon.web._lane import RouteCollision, WebhookLane, check_collisions
from addon.web._middleware import SecurityHeadersMiddleware

WEBHOOK = "/webhooks/jira/issue-updated"


@dataclass
class FakeIngest:
    """A door (what matches `/webhooks/`, with a JWT challenge) and the log, in one stand-in."""

    refusal: Exception | None = None
    received: list[tuple[Incoming, Any, dict[str, str]]] = field(default_factory=list)
    kind: str = "fake"
    challenge: str | None = 'JWT realm="addon-key"'

    def match(self, path: str, query: str) -> tuple[str, dict[str, str]] | None:
        if path.startswith("/webhooks/"):
            return "module", {"query": query}
        return None

    def example_paths(self) -> list[str]:
        return ["/webhooks/x"]

    async def verify(self, request: Incoming, match: tuple[str, dict[str, str]]) -> Any:
        return request, *match

    async def record(self, verified: tuple[Incoming, Any, dict[str, str]]) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.received.append(verified)


@dataclass
class Exchange:
    """One request through the lane: what the inner app saw and what went out."""

    ingest: FakeIngest
    inner_calls: list[str]
    sent: list[dict[str, Any]]

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def exchange(
    *,
    method: str = "POST",
    path: str = WEBHOOK,
    chunks: tuple[bytes, ...] = (b'{"webhookEvent": "jira:issue_updated"}',),
    disconnect: bool = False,
    ingest: FakeIngest | None = None,
    services: bool = True,
    base_path: str = "",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    lane: WebhookLane | None = None,
    secured: bool = False,
) -> Exchange:
    """One request through the lane (inside the app's security headers if `secured`)."""
    ingest = ingest or FakeIngest()
    inner_calls: list[str] = []
    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        inner_calls.append(scope["path"])

    if lane is None:
        lane = WebhookLane(inner, base_path=base_path, doors=[ingest])
    lane.app = inner
    state = SimpleNamespace()
    if services:
        state.services = SimpleNamespace(
            ingest=ingest, settings=SimpleNamespace(max_body_bytes=100)
        )
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "headers": [(b"content-type", b"application/json"), *headers],
        "app": SimpleNamespace(state=state),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages = [*messages[:-1], {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app: Any = SecurityHeadersMiddleware(lane, https=False) if secured else lane
    asyncio.run(app(scope, receive, send))
    return Exchange(ingest, inner_calls, sent)


def test_a_webhook_post_is_received_and_answered_204() -> None:
    done = exchange(path=WEBHOOK + "?issueKey=PLAT-1", chunks=(b'{"a":', b" 1}"))
    assert done.status == 204 and done.body == b""
    assert done.inner_calls == []
    ((request, module, context),) = done.ingest.received
    assert request.body == b'{"a": 1}'
    assert request.path == WEBHOOK and request.query == "issueKey=PLAT-1"
    assert request.header("Content-Type") == "application/json"
    assert module == "module" and context == {"query": "issueKey=PLAT-1"}


def test_other_methods_answer_405_and_other_paths_go_to_the_router() -> None:
    done = exchange(method="GET")
    assert done.status == 405 and done.inner_calls == [] and done.ingest.received == []
    assert done.headers[b"allow"] == b"POST"
    assert json.loads(done.body)["error"] == "method_not_allowed"
    assert exchange(path="/not-a-webhook").inner_calls == ["/not-a-webhook"]


def test_a_webhook_path_another_route_answers_is_refused_at_start_up() -> None:
    async def installed(request: Any) -> None:
        raise AssertionError("never called: only whether the route matches is asked")

    class Claiming(FakeIngest):
        def example_paths(self) -> list[str]:
            return ["/installed"]

    with pytest.raises(RouteCollision, match="/installed"):
        check_collisions([Claiming()], [Route("/installed", installed)])
    check_collisions([FakeIngest()], [Route("/installed", installed)])


def test_a_webhook_path_of_two_doors_is_refused_at_start_up() -> None:
    with pytest.raises(RouteCollision, match="also a fake webhook URL"):
        check_collisions([FakeIngest(), FakeIngest()], [])


def test_before_start_up_everything_goes_to_the_router() -> None:
    assert exchange(services=False).inner_calls == [WEBHOOK]


def test_a_refusal_answers_json_with_the_jwt_realm() -> None:
    refusal = Unauthorized("bad signature", code="bad_sig")
    done = exchange(ingest=FakeIngest(refusal=refusal), secured=True)
    assert done.status == 401
    assert json.loads(done.body) == {"error": "bad_sig", "reason": "bad signature"}
    assert done.headers[b"www-authenticate"] == b'JWT realm="addon-key"'
    assert done.headers[b"cache-control"] == b"no-cache, no-store"


def test_a_store_outage_answers_503() -> None:
    done = exchange(ingest=FakeIngest(refusal=ServiceUnavailable("database away")))
    assert done.status == 503
    assert json.loads(done.body)["error"] == "service_unavailable"


def test_a_body_over_the_limit_answers_413_whether_declared_or_streamed() -> None:
    declared = exchange(headers=((b"content-length", b"1000"),))
    assert declared.status == 413 and declared.ingest.received == []
    streamed = exchange(chunks=(b"x" * 60, b"x" * 60))
    assert streamed.status == 413 and streamed.ingest.received == []
    bad = exchange(headers=((b"content-length", b"ten"),))
    assert bad.status == 400 and json.loads(bad.body)["error"] == "bad_content_length"


def test_a_client_gone_before_the_end_of_the_body_gets_no_answer() -> None:
    done = exchange(chunks=(b'{"a":', b" 1}"), disconnect=True)
    assert done.sent == [] and done.ingest.received == []


def test_the_base_path_is_stripped_before_matching() -> None:
    done = exchange(path="/jira" + WEBHOOK, base_path="/jira/")
    assert done.status == 204
    assert done.ingest.received[0][0].path == "/jira" + WEBHOOK


def test_outside_the_base_path_the_router_answers() -> None:
    for path in (WEBHOOK, "/jiraffe" + WEBHOOK):
        done = exchange(path=path, base_path="/jira")
        assert done.inner_calls == [path] and done.ingest.received == []
