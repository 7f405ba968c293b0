"""The Forge door end to end: the app on a real uvicorn, Forge's key set on a loopback JWKS server,
the app's calls back to Jira against a fake API. Every refusal, key rotation, the key set down,
both envelopes, retries, the system token, installed/upgraded/tick/preUninstall."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from addon.app import create_app
from addon.forge import ForgeDoor, NoSystemToken
from addon.handlers import Event, Handlers
from addon.settings import Settings
from addon.store import Delivery, DeliveryFilter, DeliveryStatus, open_store
from addon.store._crypto import is_encrypted
from tests.support.jwks import JwksServer, SigningKey, closed_port_url, make_signing_key
from tests.support.loopback import LoopbackServer

APP_ID = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"
INSTALLATION = "ari:cloud:ecosystem::installation/2f9d3c1e-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"
API_BASE = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}"
SITE = "https://forge-door.atlassian.net"
ENCRYPTION_KEY = b"k" * 32
CHALLENGE = 'Bearer realm="forge"'
INSPECTOR = ("inspector", "forge-door-inspector-password")
ACTOR = "712020:0e5a7c5e-1f0b-4a3e-9c57-2f1c4a6b8d90"


@pytest.fixture(scope="module")
def forge_key() -> SigningKey:
    return make_signing_key("forge/2026-12")


@pytest.fixture(scope="module")
def next_key() -> SigningKey:
    return make_signing_key("forge/2027-01")


@pytest.fixture(scope="module")
def intruder_key() -> SigningKey:
    return make_signing_key("forge/2026-12")  # the same kid, another key


def fit_claims(**changes: Any) -> dict[str, Any]:
    """Every claim Forge sends for a trigger invocation, issued now."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "app": {
            "installationId": INSTALLATION,
            "apiBaseUrl": API_BASE,
            "id": APP_ID,
            "appVersion": "2.0.0",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/x/y"},
            "module": {"type": "core:endpoint", "key": "forge-events"},
            "installation": {
                "id": INSTALLATION,
                "contexts": [{"name": "jira", "apiBaseUrl": API_BASE, "cloudId": CLOUD_ID}],
            },
        },
        "aud": APP_ID,
        "iss": "forge/invocation-token",
        "iat": now,
        "nbf": now,
        "exp": now + 25,
        "jti": hashlib.sha1(str(time.perf_counter()).encode()).hexdigest(),
    }
    claims.update(changes)
    return claims


def app_claims(**changes: Any) -> dict[str, Any]:
    claims = fit_claims()
    claims["app"] = {**claims["app"], **changes}
    return claims


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return head + "." + b64(signature)


def hs256_with_public_key(key: SigningKey) -> str:
    """The classic confusion: HS256 'signed' with the RSA public key's PEM bytes as the secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(fit_claims()).encode())
    mac = hmac.new(key.public_pem.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + b64(mac)


def system_token(lifetime: int = 3600) -> str:
    """A system token as Forge sends it: opaque, but a JWT with an `exp`."""
    now = int(time.time())
    claims = {"exp": now + lifetime, "iat": now, "jti": str(time.perf_counter_ns())}
    return unsigned({"alg": "RS256", "typ": "JWT"}, claims, b"signature")


def issue_event(name: str = "avi:jira:updated:issue", key: str = "FD-1") -> dict[str, Any]:
    return {
        "eventType": name,
        "timestamp": str(int(time.time() * 1000)),
        "atlassianId": ACTOR,
        "issue": {
            "id": "10073",
            "key": key,
            "fields": {"summary": "Forge door", "project": {"id": "10000", "key": "FD"}},
        },
        "changelog": {"id": "10100", "items": [{"field": "summary"}]},
    }


def lifecycle(name: str = "avi:forge:installed:app") -> dict[str, Any]:
    return {
        "eventType": name,
        "id": INSTALLATION.rsplit("/", 1)[-1],
        "installerAccountId": ACTOR,
        "app": {"id": APP_ID.rsplit("/", 1)[-1], "version": "2.0.0"},
        "context": f"ari:cloud:jira::site/{CLOUD_ID}",
    }


@dataclass
class FakeApi:
    """Jira's API at api.atlassian.com, as the app's client reaches it: who called, with what."""

    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def transport(self) -> httpx.AsyncBaseTransport:
        async def myself(request: Request) -> JSONResponse:
            self.calls.append((request.url.path, request.headers.get("authorization")))
            return JSONResponse({"accountId": "app-user", "accountType": "app"})

        fake = Starlette(routes=[Route("/ex/jira/{cloud}/rest/api/3/myself", myself)])
        return httpx.ASGITransport(app=fake)


@dataclass
class Forge:
    """A running app with the Forge door, its key server, what handlers saw and the fake API."""

    base_url: str
    database_url: str
    jwks: JwksServer
    door: ForgeDoor
    api: FakeApi
    handled: list[dict[str, Any]]
    key: SigningKey
    by_connect: list[str] = field(default_factory=list)
    """The Forge events handlers registered for Connect events received."""
    by_forge: list[str] = field(default_factory=list)
    """The events handlers registered for Forge names received."""

    def post(
        self,
        path: str,
        body: Any,
        *,
        token: str | None = None,
        claims: dict[str, Any] | None = None,
        system: str | None = None,
        authorization: str | None = None,
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token is not None or claims is not None or authorization is None:
            fit = token if token is not None else self.key.sign(claims or fit_claims())
            headers["Authorization"] = f"Bearer {fit}"
        if system is not None:
            headers["x-forge-oauth-system"] = system
        return httpx.post(self.base_url + path, content=content, headers=headers, timeout=10)

    def event(self, body: Any, **options: Any) -> httpx.Response:
        return self.post("/forge/events", body, **options)

    def rows(self, count: int, **where: Any) -> list[Delivery]:
        """Forge deliveries matching `where`, oldest first, once `count` are written (10 s)."""

        async def read() -> list[Delivery]:
            store = await open_store(self.database_url, encrypt_existing=False)
            try:
                return await store.deliveries.page(
                    DeliveryFilter(origin_kind="forge", **where), limit=100
                )
            finally:
                await store.db.disconnect()

        deadline = time.monotonic() + 10
        while True:
            rows = asyncio.run(read())
            if len(rows) >= count or time.monotonic() > deadline:
                return list(reversed(rows))
            time.sleep(0.05)

    def seen(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while len(self.handled) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.handled)

    def installation(self) -> dict[str, Any]:
        """The installation's row as stored (the system token as it is at rest)."""

        async def read() -> dict[str, Any]:
            store = await open_store(self.database_url, encrypt_existing=False)
            try:
                row = await store.db.fetch_one(
                    "SELECT * FROM forge_installations WHERE installation_id = ?",
                    (INSTALLATION,),
                )
            finally:
                await store.db.disconnect()
            assert row is not None, "the installation is not stored"
            return dict(row)

        return asyncio.run(read())


def _handlers(
    handled: list[dict[str, Any]], by_connect: list[str], by_forge: list[str]
) -> Handlers:
    handlers = Handlers()

    @handlers.on("*")
    async def note(event: Event) -> None:
        seen: dict[str, Any] = {
            "name": event.name,
            "origin": event.origin,
            "payload": event.payload,
            "view": event.view,
        }
        try:
            if event.origin.kind == "forge":  # a Connect tenant here is on no reachable host
                async with event.jira_client() as jira:
                    seen["myself"] = (await jira.get("/rest/api/3/myself")).json()
        except NoSystemToken as exc:
            seen["no_token"] = str(exc)
        handled.append(seen)

    @handlers.on("jira:issue_updated", "comment_created", "comment_updated")
    async def connect_handler(event: Event) -> None:
        by_connect.append(event.name)

    @handlers.on("avi:jira:commented:issue", "avi:jira:updated:issue")
    async def forge_handler(event: Event) -> None:
        by_forge.append(event.name)

    return handlers


@contextlib.contextmanager
def running(database_url: str, jwks_url: str, jwks: JwksServer, key: SigningKey) -> Iterator[Forge]:
    handled: list[dict[str, Any]] = []
    settings = Settings(
        base_url="http://127.0.0.1:8000",
        database_url=database_url,
        forge_app_id=APP_ID,
        forge_jwks_url=jwks_url,
        encryption_keys=(ENCRYPTION_KEY,),
        inspector_username=INSPECTOR[0],
        inspector_password=INSPECTOR[1],
    )
    by_connect: list[str] = []
    by_forge: list[str] = []
    app = create_app(settings, handlers=_handlers(handled, by_connect, by_forge))
    with LoopbackServer(app, lifespan="on") as server:
        [door] = [d for d in app.state.services.doors if isinstance(d, ForgeDoor)]
        api = FakeApi()
        door.transport = api.transport()
        yield Forge(server.url, database_url, jwks, door, api, handled, key, by_connect, by_forge)


@pytest.fixture
def forge(sqlite_url: str, forge_key: SigningKey) -> Iterator[Forge]:
    with JwksServer([forge_key]) as jwks, running(sqlite_url, jwks.url, jwks, forge_key) as app:
        yield app


@pytest.fixture
def forge_on_each_database(database_url: str, forge_key: SigningKey) -> Iterator[Forge]:
    with JwksServer([forge_key]) as jwks, running(database_url, jwks.url, jwks, forge_key) as app:
        yield app


# --- the whole life of an installation, on SQLite and PostgreSQL --------------------------------


def test_installed_event_token_tick_upgrade_and_uninstall(forge_on_each_database: Forge) -> None:
    forge = forge_on_each_database
    first = system_token(3600)
    assert forge.event(lifecycle(), system=first).status_code == 204
    stored = forge.installation()
    assert stored["installed_at"] is not None and not stored["uninstalled"]
    assert stored["cloud_id"] == CLOUD_ID and stored["api_base_url"] == API_BASE
    assert is_encrypted(stored["system_token"]) and first not in stored["system_token"]

    answer = forge.event(issue_event())
    assert answer.status_code == 204, answer.text
    [installed, updated] = forge.rows(2)
    assert (installed.event, updated.event) == ("avi:forge:installed:app", "avi:jira:updated:issue")
    assert installed.origin == updated.origin == INSTALLATION
    assert "x-forge-oauth-system" not in installed.headers
    assert "authorization" not in installed.headers
    assert first not in json.dumps(installed.headers)
    seen = forge.seen(2)
    assert seen[1]["myself"] == {"accountId": "app-user", "accountType": "app"}
    assert forge.api.calls[-1] == (f"/ex/jira/{CLOUD_ID}/rest/api/3/myself", f"Bearer {first}")

    fresher = system_token(7200)
    tick = forge.post("/forge/tick", {"context": {"cloudId": CLOUD_ID}}, system=fresher)
    assert tick.status_code == 204, tick.text
    stored = forge.installation()
    assert stored["last_tick_at"] is not None
    assert stored["system_token_expires_at"] > time.time() + 3600
    assert forge.rows(2) == forge.rows(3)  # a tick is not a delivery
    forge.event(issue_event(key="FD-2"))
    forge.seen(3)
    assert forge.api.calls[-1][1] == f"Bearer {fresher}"

    older = system_token(600)
    assert forge.post("/forge/tick", {}, system=older).status_code == 204
    assert forge.installation()["system_token_expires_at"] > time.time() + 3600  # kept the newer

    upgraded = forge.event(
        lifecycle("avi:forge:upgraded:app"), claims=app_claims(appVersion="3.0.0")
    )
    assert upgraded.status_code == 204
    assert forge.installation()["app_version"] == "3.0.0"

    assert forge.post("/forge/uninstall", {"context": {"cloudId": CLOUD_ID}}).status_code == 204
    stored = forge.installation()
    assert stored["uninstalled"] and stored["system_token"] is None


# --- what reaches handlers ----------------------------------------------------------------------


def test_both_envelopes_give_the_same_event(forge: Forge) -> None:
    top = issue_event(key="FD-10")
    under = issue_event(key="FD-11")
    assert forge.event(top).status_code == 204
    assert forge.event({"payload": under}).status_code == 204
    seen = forge.seen(2)
    # Handlers run concurrently: their order is not the order of arrival.
    assert sorted(s["payload"]["issue"]["key"] for s in seen) == ["FD-10", "FD-11"]
    assert {s["name"] for s in seen} == {"avi:jira:updated:issue"}
    rows = forge.rows(2)
    assert [row.issue_key for row in rows] == ["FD-10", "FD-11"]
    assert {(row.project_key, row.actor) for row in rows} == {("FD", ACTOR)}


def test_a_retry_is_a_duplicate_with_its_retry_number_and_is_handled_once(forge: Forge) -> None:
    event = issue_event(key="FD-20")
    retried = {
        "payload": {**event, "retryContext": {"retryCount": 2, "retryReason": "TIMEOUT_ERROR"}}
    }
    assert forge.event({"payload": event}).status_code == 204
    assert forge.event(retried).status_code == 204
    first, again = forge.rows(2)
    assert (first.status, again.status) == (DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE)
    assert again.duplicate_of == first.id and again.retry == 2
    assert first.webhook_id == again.webhook_id and len(first.webhook_id or "") == 64
    time.sleep(0.3)
    assert len(forge.seen(1)) == 1


def test_without_a_system_token_the_client_names_the_scheduled_trigger(forge: Forge) -> None:
    assert forge.event(issue_event(key="FD-30")).status_code == 204
    [seen] = forge.seen(1)
    assert "hourly scheduled trigger" in seen["no_token"]
    assert forge.api.calls == []


def install_connect_on_forge(sqlite_url: str) -> None:
    """A Connect tenant installed through Forge: its `installed` carries the installation id."""

    async def install_connect() -> None:
        store = await open_store(sqlite_url)
        try:
            await store.tenants.save_installation(
                {
                    "key": "jira-connect-addon",
                    "clientKey": "connect-on-forge",
                    "sharedSecret": "s" * 40,
                    "baseUrl": SITE,
                    "installationId": INSTALLATION,
                },
                iat=1,
            )
        finally:
            await store.db.disconnect()

    asyncio.run(install_connect())


def test_the_origin_names_the_connect_site_of_the_same_installation(
    forge: Forge, sqlite_url: str
) -> None:
    install_connect_on_forge(sqlite_url)
    assert forge.event(lifecycle(), system=system_token()).status_code == 204
    assert forge.installation()["site_url"] == SITE
    [seen] = forge.seen(1)
    assert seen["origin"].site_url == SITE and seen["origin"].kind == "forge"


# --- every refusal, each its own test -----------------------------------------------------------

Token = Callable[[SigningKey, SigningKey], str | None]


def _missing(name: str) -> dict[str, Any]:
    claims = fit_claims()
    del claims[name]
    return claims


def _app_without(name: str) -> dict[str, Any]:
    claims = fit_claims()
    claims["app"] = {k: v for k, v in claims["app"].items() if k != name}
    return claims


REFUSALS: dict[str, tuple[Token, str, str]] = {
    "no token": (lambda key, other: None, "missing_token", "Authorization"),
    "alg none": (
        lambda key, other: unsigned({"alg": "none", "kid": key.kid}, fit_claims()),
        "algorithm_not_allowed",
        "RS256",
    ),
    "HS256 with the public key": (
        lambda key, other: hs256_with_public_key(key),
        "algorithm_not_allowed",
        "HS256",
    ),
    "RS512": (
        lambda key, other: key.sign(fit_claims(), headers={"alg": "RS512"}),
        "algorithm_not_allowed",
        "RS512",
    ),
    "no kid": (
        lambda key, other: unsigned({"alg": "RS256"}, fit_claims(), b"x"),
        "missing_key_id",
        "kid",
    ),
    "unknown kid": (
        lambda key, other: make_signing_key("forge/made-up").sign(fit_claims()),
        "unknown_key",
        "forge/made-up",
    ),
    "another key's signature": (
        lambda key, other: other.sign(fit_claims()),
        "invalid_signature",
        "signature",
    ),
    "wrong issuer": (
        lambda key, other: key.sign(fit_claims(iss="someone/else")),
        "issuer_mismatch",
        "forge/invocation-token",
    ),
    "wrong audience": (
        lambda key, other: key.sign(fit_claims(aud=APP_ID + "0")),
        "audience_mismatch",
        "FORGE_APP_ID",
    ),
    "bare app uuid as audience": (
        lambda key, other: key.sign(fit_claims(aud=APP_ID.rsplit("/", 1)[-1])),
        "audience_mismatch",
        "FORGE_APP_ID",
    ),
    "expired": (
        lambda key, other: key.sign(fit_claims(exp=int(time.time()) - 120)),
        "token_expired",
        "expired",
    ),
    "not yet valid": (
        lambda key, other: key.sign(fit_claims(nbf=int(time.time()) + 300)),
        "token_not_yet_valid",
        "nbf",
    ),
    "issued in the future": (
        lambda key, other: key.sign(fit_claims(iat=int(time.time()) + 300)),
        "token_not_yet_valid",
        "future",
    ),
    "no exp": (lambda key, other: key.sign(_missing("exp")), "missing_claim", "exp"),
    "Isolated Cloud": (
        lambda key, other: key.sign(fit_claims(icLabel="ic-one")),
        "isolated_cloud_unsupported",
        "Isolated Cloud",
    ),
    "no installationId": (
        lambda key, other: key.sign(_app_without("installationId")),
        "missing_claim",
        "installationId",
    ),
    "no apiBaseUrl": (
        lambda key, other: key.sign(_app_without("apiBaseUrl")),
        "missing_claim",
        "apiBaseUrl",
    ),
    "apiBaseUrl not https": (
        lambda key, other: key.sign(app_claims(apiBaseUrl="http://api.example.net/ex/jira/x")),
        "malformed_token",
        "https",
    ),
    "not a JWT": (lambda key, other: "not-a-token", "malformed_token", "segments"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refused_token_is_401_with_its_reason_and_recorded(
    forge: Forge, intruder_key: SigningKey, case: str
) -> None:
    make, code, fragment = REFUSALS[case]
    token = make(forge.key, intruder_key)
    event = issue_event(key="FD-R")
    if token is None:
        answer = forge.event(event, authorization="")
    else:
        answer = forge.event(event, token=token, system=system_token())
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == code
    assert fragment in answer.json()["reason"]
    assert answer.headers["www-authenticate"] == CHALLENGE
    [row] = forge.rows(1, status="rejected")
    assert (row.error_code, row.reason) == (code, answer.json()["reason"])
    assert row.event == "avi:jira:updated:issue"
    assert "authorization" not in row.headers and "x-forge-oauth-system" not in row.headers
    assert forge.handled == []


def test_another_scheme_than_bearer_is_refused(forge: Forge) -> None:
    answer = forge.event(issue_event(), authorization=f"JWT {forge.key.sign(fit_claims())}")
    assert answer.status_code == 401 and answer.json()["error"] == "malformed_authorization"
    [row] = forge.rows(1, status="rejected")
    assert row.error_code == "malformed_authorization"


def test_a_body_without_an_event_type_is_400_and_recorded(forge: Forge) -> None:
    answer = forge.event({"payload": {"issue": {"key": "FD-1"}}})
    assert answer.status_code == 400 and answer.json()["error"] == "missing_event"
    [row] = forge.rows(1, status="rejected")
    assert row.origin == INSTALLATION


def test_a_body_that_is_not_json_is_400_and_recorded(forge: Forge) -> None:
    answer = forge.event(b"{not json")
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_event"
    assert forge.rows(1, status="rejected")[0].error_code == "malformed_event"


def test_a_bad_system_token_header_is_400(forge: Forge) -> None:
    answer = forge.event(issue_event(), system="not a token")
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_system_token"
    [row] = forge.rows(1, status="rejected")
    assert "x-forge-oauth-system" not in row.headers


def test_a_refused_tick_is_401_and_recorded(forge: Forge) -> None:
    answer = forge.post("/forge/tick", {}, token=forge.key.sign(fit_claims(aud="other")))
    assert answer.status_code == 401 and answer.json()["error"] == "audience_mismatch"
    assert answer.headers["www-authenticate"] == CHALLENGE
    assert forge.rows(1, status="rejected")[0].path == "/forge/tick"


def test_a_refused_uninstall_changes_nothing(forge: Forge) -> None:
    assert forge.event(lifecycle(), system=system_token()).status_code == 204
    answer = forge.post("/forge/uninstall", {}, token=forge.key.sign(fit_claims(iss="x")))
    assert answer.status_code == 401
    stored = forge.installation()
    assert not stored["uninstalled"] and stored["system_token"] is not None


# --- the key set --------------------------------------------------------------------------------


def test_a_rotated_key_is_taken_after_one_refetch(forge: Forge, next_key: SigningKey) -> None:
    forge.door.keys.min_interval = 1.0
    assert forge.event(issue_event(key="FD-40")).status_code == 204
    assert forge.jwks.requests == 1
    forge.jwks.keys = [forge.key, next_key]  # Atlassian publishes its next key
    time.sleep(1.1)
    answer = forge.event(issue_event(key="FD-41"), token=next_key.sign(fit_claims()))
    assert answer.status_code == 204, answer.text
    assert forge.jwks.requests == 2
    assert forge.event(issue_event(key="FD-42"), token=next_key.sign(fit_claims())).is_success
    assert forge.jwks.requests == 2
    [row] = forge.rows(1, q="FD-41")
    assert row.verification is not None and row.verification["kid"] == next_key.kid


def test_made_up_kids_cost_one_fetch_at_most(forge: Forge) -> None:
    assert forge.event(issue_event(key="FD-50")).status_code == 204
    assert forge.jwks.requests == 1
    for number in range(15):
        made_up = unsigned({"alg": "RS256", "kid": f"made-up-{number}"}, fit_claims(), b"x")
        answer = forge.event(issue_event(key="FD-51"), token=made_up)
        assert answer.status_code == 401 and answer.json()["error"] == "unknown_key"
    assert forge.jwks.requests == 1


def test_a_key_set_that_cannot_be_fetched_is_503_with_retry_after(
    sqlite_url: str, forge_key: SigningKey
) -> None:
    with (
        JwksServer([forge_key]) as jwks,
        running(sqlite_url, closed_port_url(), jwks, forge_key) as forge,
    ):
        answer = forge.event(issue_event(key="FD-60"), system=system_token())
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "jwks_unavailable"
        assert int(answer.headers["retry-after"]) >= 1
        tick = forge.post("/forge/tick", {})
        assert tick.status_code == 503 and "retry-after" in tick.headers
        assert forge.rows(0) == [] and forge.handled == []


def test_a_key_set_outage_is_in_the_log_without_the_tokens(
    sqlite_url: str, forge_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 is not in the rejection log (nothing was decided): the operator sees it in the log."""
    fit = forge_key.sign(fit_claims())
    token = system_token()
    with (
        caplog.at_level(logging.INFO),
        JwksServer([forge_key]) as jwks,
        running(sqlite_url, closed_port_url(), jwks, forge_key) as forge,
    ):
        assert forge.event(issue_event(key="FD-61"), token=fit, system=token).status_code == 503
        assert forge.post("/forge/tick", {}, token=fit, system=token).status_code == 503
    outages = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "cannot be fetched" in r.getMessage()
    ]
    assert [r.getMessage().split(":", 1)[0] for r in outages] == [
        "POST /forge/events",
        "POST /forge/tick",
    ]
    assert all("/.well-known/jwks.json" in r.getMessage() for r in outages)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (fit, fit.split(".")[2], token, token.split(".")[1]):
        assert secret not in logged


def test_a_connect_handler_gets_the_exact_forge_equivalent_only(forge: Forge) -> None:
    comment = {**issue_event("avi:jira:commented:issue", key="FD-70"), "comment": {"id": "10200"}}
    assert forge.event(comment).status_code == 204
    assert forge.event(issue_event(key="FD-71")).status_code == 204
    forge.seen(2)
    time.sleep(0.2)
    # jira:issue_updated's handler gets avi:jira:updated:issue; comment_created's and
    # comment_updated's never get avi:jira:commented:issue, which covers both
    assert forge.by_connect == ["avi:jira:updated:issue"]
    # handlers subscribed to the Forge names get both, once each
    assert sorted(forge.by_forge) == ["avi:jira:commented:issue", "avi:jira:updated:issue"]


def test_with_both_doors_one_change_is_two_deliveries_and_handled_twice(
    forge: Forge, sqlite_url: str
) -> None:
    """`--events both`: Jira sends the change as a Connect webhook and as a Forge trigger; they
    are two deliveries by two doors (never deduplicated into one), as the README warns."""
    from addon.simulator import SimulatedSite

    site = dataclasses.replace(SimulatedSite.generate(SITE), installation_id=INSTALLATION)

    async def install() -> None:
        store = await open_store(sqlite_url)
        try:
            await store.tenants.save_installation(
                {
                    "key": "jira-connect-addon",
                    "clientKey": site.client_key,
                    "sharedSecret": site.shared_secret,
                    "baseUrl": SITE,
                    "installationId": INSTALLATION,
                },
                iat=1,
            )
        finally:
            await store.db.disconnect()

    asyncio.run(install())
    change = issue_event(key="FD-99")
    target = (
        "/webhooks/jira/issue-updated?issueKey=FD-99&issueId=10073&projectKey=FD&projectId=10000"
    )
    connect_body = {"webhookEvent": "jira:issue_updated", "timestamp": 1, "issue": change["issue"]}
    token = site.token(addon_base_url=forge.base_url, target=target)
    webhook = httpx.post(
        forge.base_url + target,
        json=connect_body,
        headers={"Authorization": f"JWT {token}", "X-Atlassian-Webhook-Identifier": "w-99"},
        timeout=10,
    )
    assert webhook.status_code == 204, webhook.text
    assert forge.event(change).status_code == 204
    forge.seen(2)
    listed = inspect(forge, "/api/deliveries").json()["deliveries"]
    assert sorted((d["origin_kind"], d["event"], d["status"]) for d in listed) == [
        ("connect", "jira:issue_updated", "accepted"),
        ("forge", "avi:jira:updated:issue", "accepted"),
    ]
    assert {d["site_url"] for d in listed} == {SITE}
    assert sorted(forge.by_connect) == ["avi:jira:updated:issue", "jira:issue_updated"]


def test_the_normalised_view_reads_forge_payloads(forge: Forge) -> None:
    comment = {**issue_event("avi:jira:commented:issue", key="FD-80"), "comment": {"id": "10201"}}
    sprint = {
        "eventType": "avi:jira-software:started:sprint",
        "atlassianId": ACTOR,
        "sprint": {"id": 37, "originBoardId": 4, "name": "Sprint 9"},
    }
    assert forge.event(comment).status_code == 204
    assert forge.event(sprint).status_code == 204
    commented, started = forge.rows(2)
    assert (commented.resource, commented.issue_key, commented.project_key) == (
        "comment",
        "FD-80",
        "FD",
    )
    assert commented.actor == started.actor == ACTOR
    assert (started.resource, started.action, started.sprint_id) == ("sprint", "started", "37")
    assert [row.id for row in forge.rows(1, q=ACTOR)] == [commented.id, started.id]


def inspect(forge: Forge, path: str, **params: Any) -> httpx.Response:
    answer = httpx.get(
        f"{forge.base_url}/inspector{path}", params=params, auth=INSPECTOR, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer


def test_the_inspector_shows_a_connect_tenant_and_its_forge_installation_as_one_site(
    forge: Forge, sqlite_url: str
) -> None:
    install_connect_on_forge(sqlite_url)
    token = system_token()
    fit = forge.key.sign(fit_claims())
    assert forge.event(lifecycle(), token=fit, system=token).status_code == 204
    assert forge.event(issue_event(key="FD-90")).status_code == 204
    [tenant] = inspect(forge, "/api/tenants").json()["tenants"]
    assert tenant["base_url"] == SITE and tenant["installation_id"] == INSTALLATION
    [installation] = tenant["forge_installations"]
    assert installation["installation_id"] == INSTALLATION
    assert installation["state"] == "active" and installation["system_token_expires_at"]
    assert inspect(forge, "/api/tenants").json()["forge_installations"] == []
    page = inspect(forge, "/tenants").text
    assert page.count(SITE) == 1 and "forge remote" in page

    listed = inspect(forge, "/api/deliveries", kind="forge").json()["deliveries"]
    assert [d["event"] for d in listed] == ["avi:jira:updated:issue", "avi:forge:installed:app"]
    assert {(d["origin_kind"], d["origin"], d["site_url"]) for d in listed} == {
        ("forge", INSTALLATION, SITE)
    }
    assert inspect(forge, "/api/deliveries", kind="connect").json()["deliveries"] == []
    listing = inspect(forge, "/", kind="forge").text
    assert '<option value="forge" selected>' in listing
    assert '<option value="avi:jira:updated:issue"' in listing and "FD-90" in listing
    assert "FD-90" not in inspect(forge, "/", kind="connect").text
    installed_id = listed[1]["id"]
    detail = inspect(forge, f"/api/deliveries/{installed_id}").text
    html = inspect(forge, f"/deliveries/{installed_id}").text
    for shown in (detail, html):
        assert forge.key.kid in shown and APP_ID in shown and "forge/invocation-token" in shown
        assert fit not in shown and fit.split(".")[2] not in shown
        assert token not in shown and token.split(".")[1] not in shown
    assert "Canonical request" not in html and "Forge Invocation Token" in html


def test_a_forge_installation_without_a_connect_tenant_is_its_own_site(forge: Forge) -> None:
    assert forge.event(lifecycle()).status_code == 204
    answer = inspect(forge, "/api/tenants").json()
    assert answer["tenants"] == []
    [installation] = answer["forge_installations"]
    assert installation["installation_id"] == INSTALLATION and installation["cloud_id"] == CLOUD_ID
    assert installation["system_token_expires_at"] is None
    assert INSTALLATION in inspect(forge, "/tenants").text


def test_a_token_seen_again_on_another_body_is_marked_reused(forge: Forge) -> None:
    """A FIT's signature does not cover the body, and Forge signs a new token for each call."""
    fit = forge.key.sign(fit_claims())
    assert forge.event(issue_event(key="FD-95"), token=fit).status_code == 204
    assert forge.event(issue_event(key="FD-96"), token=fit).status_code == 204
    first, second = forge.rows(2)
    assert (first.token_reused, second.token_reused) == (False, True)
    assert fit not in json.dumps([first.headers, first.verification, first.token])


def test_no_log_line_holds_the_fit_or_the_system_token(
    forge: Forge, caplog: pytest.LogCaptureFixture
) -> None:
    fit = forge.key.sign(fit_claims())
    token = system_token()
    stale = forge.key.sign(fit_claims(exp=int(time.time()) - 3600))
    with caplog.at_level(logging.DEBUG):
        assert forge.event(lifecycle(), token=fit, system=token).status_code == 204
        assert forge.post("/forge/tick", {}, system=token).status_code == 204
        assert forge.event(issue_event(key="FD-97"), token=stale, system=token).status_code == 401
        forge.seen(1)
    refused = [r.getMessage() for r in caplog.records if "expired" in r.getMessage()]
    assert refused and refused[0].startswith("refused POST /forge/events")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (fit, fit.split(".")[2], stale.split(".")[2], token, token.split(".")[1]):
        assert secret not in logged
