"""The signed REST client against a fake Jira on loopback that verifies every token with the
project's own verifier; redirects, retries and the refusal to sign for another origin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from addon.auth import decode_unverified, extract_token, verify_symmetric
from addon.connect import ConnectJwtAuth, client_for_tenant, jira_client
from addon.connect._client import TOKEN_LIFETIME
from addon.errors import Refusal
from addon.jira import CrossOriginRequest, retry_after_seconds
from addon.store import Tenant, TenantState
from tests.support.loopback import LoopbackServer

ADDON_KEY = "com.example.jira-addon"
SECRET = "ATCOSEC_" + "s" * 64
BASE_PATH = "/jira"


@dataclass
class Seen:
    """What a fake server received: one entry per request."""

    method: str
    target: str
    authorization: str | None
    claims: dict[str, Any] | None = None
    refused: str | None = None
    body: bytes = b""


@dataclass
class FakeJira:
    base_url: str = ""
    other_url: str = ""
    seen: list[Seen] = field(default_factory=list)
    other_seen: list[Seen] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def targets(self) -> list[str]:
        return [entry.target for entry in self.seen]


def _target(request: Request) -> str:
    raw_path = request.scope["raw_path"].decode("latin-1")
    query = request.scope["query_string"].decode("latin-1")
    return f"{raw_path}?{query}" if query else raw_path


def build_fake_jira(state: FakeJira) -> Starlette:
    """Jira's REST API under /jira: every request's token is verified before anything else."""

    async def secret_for(issuer: str) -> str | None:
        return SECRET if issuer == ADDON_KEY else None

    async def verified(request: Request) -> Response | None:
        entry = Seen(
            request.method,
            _target(request),
            request.headers.get("authorization"),
            body=await request.body(),
        )
        state.seen.append(entry)
        try:
            token = extract_token(entry.authorization, request.query_params.get("jwt"))
            checked = await verify_symmetric(
                token,
                method=request.method,
                url=entry.target,
                base_url=state.base_url,
                secret_for=secret_for,
                leeway=0,
            )
        except Refusal as refusal:
            entry.refused = refusal.code
            return JSONResponse({"error": refusal.code, "reason": refusal.reason}, status_code=401)
        entry.claims = dict(checked.claims)
        return None

    async def myself(request: Request) -> Response:
        return await verified(request) or JSONResponse({"accountId": "712020:app"})

    async def search(request: Request) -> Response:
        return await verified(request) or JSONResponse(
            {"jql": request.query_params["jql"], "fields": request.query_params["fields"]}
        )

    async def create_issue(request: Request) -> Response:
        refused = await verified(request)
        if refused is not None:
            return refused
        return JSONResponse({"received": (await request.json())}, status_code=201)

    async def redirect_same(request: Request) -> Response:
        return await verified(request) or Response(
            status_code=302, headers={"Location": f"{BASE_PATH}/rest/api/3/myself?via=redirect"}
        )

    async def redirect_post(request: Request) -> Response:
        return await verified(request) or Response(
            status_code=307, headers={"Location": f"{BASE_PATH}/rest/api/3/issue"}
        )

    async def redirect_away(request: Request) -> Response:
        return await verified(request) or Response(
            status_code=302, headers={"Location": f"{state.other_url}/collect?file=1"}
        )

    async def redirect_loop(request: Request) -> Response:
        return await verified(request) or Response(
            status_code=302, headers={"Location": f"{BASE_PATH}/loop"}
        )

    async def limited(request: Request) -> Response:
        refused = await verified(request)
        if refused is not None:
            return refused
        state.counters["limited"] = state.counters.get("limited", 0) + 1
        if state.counters["limited"] == 1:
            return JSONResponse(
                {"message": "slow down"}, status_code=429, headers={"Retry-After": "1"}
            )
        return JSONResponse({"ok": True})

    async def down(request: Request) -> Response:
        return await verified(request) or JSONResponse(
            {"message": "maintenance"}, status_code=503, headers={"Retry-After": "0"}
        )

    return Starlette(
        routes=[
            Mount(
                BASE_PATH,
                routes=[
                    Route("/rest/api/3/myself", myself),
                    Route("/rest/api/3/search", search),
                    Route("/rest/api/3/issue", create_issue, methods=["POST"]),
                    Route("/rest/api/3/issue/{key}", myself),
                    Route("/redirect-same", redirect_same),
                    Route("/redirect-post", redirect_post, methods=["POST"]),
                    Route("/redirect-away", redirect_away),
                    Route("/loop", redirect_loop),
                    Route("/limited", limited),
                    Route("/down", down),
                ],
            )
        ]
    )


def build_other_host(state: FakeJira) -> Starlette:
    async def collect(request: Request) -> Response:
        state.other_seen.append(
            Seen(request.method, _target(request), request.headers.get("authorization"))
        )
        return Response(b"file content", media_type="application/octet-stream")

    return Starlette(routes=[Route("/collect", collect)])


@pytest.fixture(scope="module")
def servers() -> Iterator[FakeJira]:
    state = FakeJira()
    with (
        LoopbackServer(build_fake_jira(state)) as jira,
        LoopbackServer(build_other_host(state)) as other,
    ):
        state.base_url = jira.url + BASE_PATH
        state.other_url = other.url
        yield state


@pytest.fixture
def fake(servers: FakeJira) -> FakeJira:
    servers.seen.clear()
    servers.other_seen.clear()
    servers.counters.clear()
    return servers


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_every_request_carries_a_token_the_projects_verifier_accepts(fake: FakeJira) -> None:
    async def go() -> list[httpx.Response]:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            return [
                await jira.get("/rest/api/3/myself"),
                await jira.get(
                    "rest/api/3/search",
                    params={"jql": "project = PRJ AND labels = ä", "fields": "summary,status"},
                ),
                await jira.post("/rest/api/3/issue", json={"fields": {"summary": "from the app"}}),
            ]

    myself, search, created = run(go())
    assert myself.status_code == 200, myself.text
    assert search.json() == {"jql": "project = PRJ AND labels = ä", "fields": "summary,status"}
    assert created.status_code == 201
    assert created.json() == {"received": {"fields": {"summary": "from the app"}}}
    assert [entry.refused for entry in fake.seen] == [None, None, None]
    assert fake.seen[0].target == "/jira/rest/api/3/myself"
    for entry in fake.seen:
        assert entry.authorization is not None and entry.authorization.startswith("JWT ")
        assert entry.claims is not None
        assert entry.claims["iss"] == ADDON_KEY
        assert entry.claims["exp"] - entry.claims["iat"] == TOKEN_LIFETIME
        assert abs(entry.claims["iat"] - time.time()) < 60


def test_a_token_minted_for_one_path_is_refused_on_another(fake: FakeJira) -> None:
    async def go() -> None:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            assert (await jira.get("/rest/api/3/myself")).status_code == 200
            assert (
                await jira.get("/rest/api/3/search", params={"jql": "a", "fields": "x"})
            ).is_success

    run(go())
    on_myself = fake.seen[0].authorization
    on_search = fake.seen[1].authorization
    assert on_myself is not None and on_search is not None
    with httpx.Client() as plain:
        replayed = plain.get(
            f"{fake.base_url}/rest/api/3/issue/PRJ-1", headers={"Authorization": on_myself}
        )
        other_query = plain.get(
            f"{fake.base_url}/rest/api/3/search?jql=b&fields=x",
            headers={"Authorization": on_search},
        )
        same = plain.get(f"{fake.base_url}/rest/api/3/myself", headers={"Authorization": on_myself})
    assert replayed.status_code == 401 and replayed.json()["error"] == "qsh_mismatch"
    assert other_query.status_code == 401 and other_query.json()["error"] == "qsh_mismatch"
    assert same.status_code == 200


def test_a_wrong_secret_or_key_is_refused_by_the_fake(fake: FakeJira) -> None:
    async def go() -> tuple[httpx.Response, httpx.Response]:
        async with jira_client(fake.base_url, "ATCOSEC_" + "w" * 64, ADDON_KEY) as wrong_secret:
            first = await wrong_secret.get("/rest/api/3/myself")
        async with jira_client(fake.base_url, SECRET, "someone.else") as wrong_key:
            second = await wrong_key.get("/rest/api/3/myself")
        return first, second

    wrong_secret, wrong_key = run(go())
    assert wrong_secret.json()["error"] == "invalid_signature"
    assert wrong_key.json()["error"] == "unknown_tenant"


def test_a_redirect_on_the_same_site_is_followed_and_signed_for_its_new_path(
    fake: FakeJira,
) -> None:
    async def go() -> httpx.Response:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            return await jira.get("/redirect-same")

    response = run(go())
    assert response.status_code == 200 and response.json() == {"accountId": "712020:app"}
    assert fake.targets() == ["/jira/redirect-same", "/jira/rest/api/3/myself?via=redirect"]
    assert [entry.refused for entry in fake.seen] == [None, None]
    first, second = (entry.authorization for entry in fake.seen)
    assert first != second
    assert [r.status_code for r in response.history] == [302]


def test_a_307_redirect_repeats_the_post_with_its_body(fake: FakeJira) -> None:
    async def go() -> httpx.Response:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            return await jira.post("/redirect-post", json={"fields": {"summary": "moved"}})

    response = run(go())
    assert response.status_code == 201
    assert response.json() == {"received": {"fields": {"summary": "moved"}}}
    assert [(e.method, e.target, e.refused) for e in fake.seen] == [
        ("POST", "/jira/redirect-post", None),
        ("POST", "/jira/rest/api/3/issue", None),
    ]


def test_a_redirect_to_another_host_is_returned_not_followed_with_the_token(
    fake: FakeJira,
) -> None:
    async def go() -> httpx.Response:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            return await jira.get("/redirect-away")

    response = run(go())
    assert response.status_code == 302
    assert response.headers["location"] == f"{fake.other_url}/collect?file=1"
    assert fake.other_seen == []
    with httpx.Client() as plain:
        assert plain.get(response.headers["location"]).content == b"file content"
    assert [(entry.target, entry.authorization) for entry in fake.other_seen] == [
        ("/collect?file=1", None)
    ]


def test_a_request_to_another_origin_is_never_signed(fake: FakeJira) -> None:
    async def go() -> None:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            await jira.get(f"{fake.other_url}/collect")

    with pytest.raises(CrossOriginRequest, match="not on the site"):
        run(go())
    assert fake.other_seen == []


def test_redirects_are_bounded(fake: FakeJira) -> None:
    async def go() -> httpx.Response:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            return await jira.get("/loop")

    response = run(go())
    assert response.status_code == 302
    assert len(fake.seen) == 6
    assert all(entry.refused is None for entry in fake.seen)


def test_429_is_retried_after_retry_after(fake: FakeJira) -> None:
    async def go() -> httpx.Response:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            return await jira.get("/limited")

    started = time.monotonic()
    response = run(go())
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert time.monotonic() - started >= 0.9
    assert fake.targets() == ["/jira/limited", "/jira/limited"]
    assert [entry.refused for entry in fake.seen] == [None, None]


def test_503_beyond_max_retries_is_returned(fake: FakeJira) -> None:
    async def go() -> httpx.Response:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY, max_retries=2) as jira:
            return await jira.get("/down")

    response = run(go())
    assert response.status_code == 503
    assert response.json() == {"message": "maintenance"}
    assert len(fake.seen) == 3
    assert all(entry.refused is None for entry in fake.seen)


def _counting_transport(
    answers: list[httpx.Response], seen: list[httpx.Request]
) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    return httpx.MockTransport(handle)


def test_a_wait_longer_than_the_cap_is_not_waited_for() -> None:
    seen: list[httpx.Request] = []
    transport = _counting_transport([httpx.Response(429, headers={"Retry-After": "120"})], seen)

    async def go() -> httpx.Response:
        async with jira_client(
            "https://example.atlassian.net", SECRET, ADDON_KEY, transport=transport, max_wait=30
        ) as jira:
            return await jira.get("/rest/api/3/myself")

    started = time.monotonic()
    assert run(go()).status_code == 429
    assert len(seen) == 1 and time.monotonic() - started < 5


def test_without_retry_after_the_waits_back_off() -> None:
    seen: list[httpx.Request] = []
    waits: list[float] = []
    transport = _counting_transport([httpx.Response(503)] * 3 + [httpx.Response(200)], seen)

    async def record(seconds: float) -> None:
        waits.append(seconds)

    auth = ConnectJwtAuth(
        "https://example.atlassian.net", SECRET, ADDON_KEY, max_retries=3, sleep=record
    )

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, transport=transport) as client:
            return await client.get("https://example.atlassian.net/rest/api/3/myself")

    assert run(go()).status_code == 200
    assert waits == [1.0, 2.0, 4.0]
    tokens = {request.headers["authorization"] for request in seen}
    assert len(seen) == 4 and all(token.startswith("JWT ") for token in tokens)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds("7", now=now) == 7.0
    assert retry_after_seconds(formatdate(now + 12, usegmt=True), now=now) == pytest.approx(12)
    assert retry_after_seconds(formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("-3") is None


def test_the_qsh_is_relative_to_the_site_base_path() -> None:
    seen: list[httpx.Request] = []
    transport = _counting_transport([httpx.Response(200)], seen)

    async def go() -> None:
        async with jira_client(
            "https://example.atlassian.net/wiki/", SECRET, ADDON_KEY, transport=transport
        ) as confluence:
            await confluence.get("/rest/api/space", params={"limit": "5"})

    run(go())
    assert str(seen[0].url) == "https://example.atlassian.net/wiki/rest/api/space?limit=5"
    token = seen[0].headers["authorization"].removeprefix("JWT ")
    _, claims = decode_unverified(token)

    async def secret_for(issuer: str) -> str | None:
        return SECRET

    verified = run(
        verify_symmetric(
            token,
            method="GET",
            url="/wiki/rest/api/space?limit=5",
            base_url="https://example.atlassian.net/wiki",
            secret_for=secret_for,
            leeway=0,
        )
    )
    assert verified.canonical_request == "GET&/rest/api/space&limit=5"
    assert claims["iss"] == ADDON_KEY


def _tenant(secret: str | None, state: TenantState = TenantState.ENABLED) -> Tenant:
    return Tenant(
        client_key="client-1",
        shared_secret=secret,
        base_url="https://example.atlassian.net",
        display_url=None,
        product_type="jira",
        description=None,
        oauth_client_id=None,
        installation_id=None,
        payload={},
        state=state,
        state_iat=0,
        installed_at=None,
        updated_at=0.0,
        uninstalled_at=None,
    )


def test_client_for_tenant_uses_its_base_url_and_secret() -> None:
    seen: list[httpx.Request] = []
    transport = _counting_transport([httpx.Response(200)], seen)

    async def go() -> None:
        async with client_for_tenant(_tenant(SECRET), ADDON_KEY, transport=transport) as jira:
            await jira.get("/rest/api/3/myself")

    run(go())
    assert str(seen[0].url) == "https://example.atlassian.net/rest/api/3/myself"
    assert seen[0].headers["authorization"].startswith("JWT ")
    with pytest.raises(ValueError, match="uninstalled"):
        client_for_tenant(_tenant(None, TenantState.UNINSTALLED), ADDON_KEY)


def test_the_auth_refuses_to_run_unsigned_in_a_sync_client() -> None:
    auth = ConnectJwtAuth("https://example.atlassian.net", SECRET, ADDON_KEY)
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(auth=auth, transport=transport) as client, pytest.raises(RuntimeError):
        client.get("https://example.atlassian.net/rest/api/3/myself")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        jira_client("ftp://example.atlassian.net", SECRET, ADDON_KEY)
    with pytest.raises(ValueError):
        jira_client("https://example.atlassian.net", "", ADDON_KEY)
    with pytest.raises(ValueError):
        jira_client("https://example.atlassian.net", SECRET, "")


def test_a_streamed_body_is_sent_again_in_full_after_a_307(fake: FakeJira) -> None:
    async def body() -> Any:
        yield b'{"fields": '
        yield b'{"summary": "streamed"}}'

    async def go() -> httpx.Response:
        async with jira_client(fake.base_url, SECRET, ADDON_KEY) as jira:
            return await jira.post("/redirect-post", content=body())

    response = run(go())
    assert response.status_code == 201
    assert response.json() == {"received": {"fields": {"summary": "streamed"}}}
