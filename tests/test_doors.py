"""The contract every door keeps, run over each door (as uvicorn's tests run over its protocol
classes): accepted, duplicate, 405, 413, a refusal recorded with its reason and answered with the
door's challenge, ignored, and the origin and Jira client a handler gets.

Each door is driven through the real app on a real uvicorn, on a SQLite file and on PostgreSQL.
A new door adds its `Sender` here: how Jira signs a delivery through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from addon.app import create_app
from addon.auth import encode_hs256, query_string_hash
from addon.forge import ForgeInstallations, SiteDetails
from addon.handlers import Event, Handlers, NoJiraClient
from addon.settings import Settings
from addon.sites import Resource, SiteStore, TokenGrant
from addon.sources import SourceMode, Sources
from addon.store import Delivery, DeliveryFilter, DeliveryStatus, Store, TenantState, open_store
from tests.support.jwks import JwksServer, SigningKey, make_signing_key
from tests.support.loopback import LoopbackServer

EVENT = "jira:issue_updated"
MAX_BODY = 50_000
SECRET = "door-contract-secret-" + "s" * 32
OAUTH_SECRET = "door-contract-client-secret-" + "c" * 32
NOWHERE = "http://127.0.0.1:9"  # the OAuth door's background jobs call Atlassian: nothing there
ADDON_KEY = "door-contract"


@dataclass(frozen=True)
class Sender:
    """One door's Jira side: who it delivers as, where, and how it signs."""

    kind: str
    origin: str
    ignored_origin: str
    """An origin whose deliveries the door keeps as ignored (a disabled tenant, an event the
    source does not take)."""
    path: Callable[[str], str]
    sign: Callable[[str, str, bytes, bool], dict[str, str]]
    """Headers for (origin, target, body, good): a good or a bad credential."""
    challenge: str | None
    calls_back: bool
    event: str = EVENT
    """The event name its deliveries are recorded under."""
    client_url: str | None = None
    """Where its Jira client calls (the site's URL unless the door goes through a gateway)."""
    wrap: Callable[[bytes, str], bytes] = lambda body, identifier: body
    """The body as this door's sender sends `body` with the delivery `identifier`."""


def _connect_path(origin: str) -> str:
    return "/webhooks/jira/issue-updated?issueKey=DOOR-1"


def _connect_sign(base_url: str) -> Callable[[str, str, bytes, bool], dict[str, str]]:
    def sign(origin: str, target: str, body: bytes, good: bool) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": origin,
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash("POST", target, base_url),
        }
        token = encode_hs256(claims, SECRET if good else "not-" + SECRET)
        return {"Authorization": f"JWT {token}"}

    return sign


async def _connect(store: Store, base_url: str) -> Sender:
    for client_key in ("tenant-on", "tenant-off"):
        await store.tenants.save_installation(
            {
                "key": ADDON_KEY,
                "clientKey": client_key,
                "sharedSecret": SECRET,
                "baseUrl": "https://door.example.net",
            },
            iat=1,
        )
    await store.tenants.set_state("tenant-off", TenantState.DISABLED, iat=2)
    return Sender(
        kind="connect",
        origin="tenant-on",
        ignored_origin="tenant-off",
        path=_connect_path,
        sign=_connect_sign(base_url),
        challenge=f'JWT realm="{ADDON_KEY}"',
        calls_back=True,
    )


async def _source(store: Store, base_url: str) -> Sender:
    sources = Sources(store.db, store.box)
    keys = {}
    for name, events in (("source-on", None), ("source-off", ["jira:issue_created"])):
        added = await sources.add(name, SourceMode.BEARER, SECRET, events=events)
        keys[name] = added.key

    def sign(origin: str, target: str, body: bytes, good: bool) -> dict[str, str]:
        return {"Authorization": f"Bearer {SECRET if good else 'not-' + SECRET}"}

    return Sender(
        kind="source",
        origin="source-on",
        ignored_origin="source-off",
        path=lambda origin: f"/webhooks/jira/sources/{keys[origin]}",
        sign=sign,
        challenge=None,
        calls_back=False,
    )


FORGE_APP_ID = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"
FORGE_CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"
FORGE_API = f"https://api.atlassian.com/ex/jira/{FORGE_CLOUD_ID}"
FORGE_EVENT = "avi:jira:updated:issue"


@functools.cache
def forge_keys() -> tuple[SigningKey, SigningKey]:
    """Forge's key, and another key under the same kid (a forged signature)."""
    return make_signing_key("forge/contract"), make_signing_key("forge/contract")


def _forge_installation(origin: str) -> str:
    return f"ari:cloud:ecosystem::installation/{origin}"


def _forge_wrap(body: bytes, identifier: str) -> bytes:
    """Forge sends no identifier (its deliveries' is derived from the body): the test's rides in
    the event, as its issue key, where the log's search finds it."""
    document = json.loads(body)
    if "webhookEvent" not in document:
        return body  # not an event: sent as it is
    del document["webhookEvent"]
    document["issue"] = {"key": identifier or document["issue"]["key"]}
    return json.dumps({"eventType": FORGE_EVENT, **document}).encode()


async def _forge(store: Store, base_url: str) -> Sender:
    installations = ForgeInstallations(store.db, store.box)
    for origin in ("forge-on", "forge-off"):
        site = SiteDetails(
            _forge_installation(origin), FORGE_API, FORGE_CLOUD_ID, "https://door.example.net"
        )
        await installations.seen(site, installed=True, now=time.time())
    await installations.save_system_token(
        _forge_installation("forge-on"), "t0ken", time.time() + 600
    )
    await installations.mark_uninstalled(_forge_installation("forge-off"), now=time.time())
    good, forged = forge_keys()

    def sign(origin: str, target: str, body: bytes, is_good: bool) -> dict[str, str]:
        now = int(time.time())
        installation = _forge_installation(origin)
        claims = {
            "app": {"installationId": installation, "apiBaseUrl": FORGE_API, "id": FORGE_APP_ID},
            "aud": FORGE_APP_ID,
            "iss": "forge/invocation-token",
            "iat": now,
            "nbf": now,
            "exp": now + 25,
        }
        return {"Authorization": f"Bearer {(good if is_good else forged).sign(claims)}"}

    return Sender(
        kind="forge",
        origin=_forge_installation("forge-on"),
        ignored_origin=_forge_installation("forge-off"),
        path=lambda origin: "/forge/events",
        sign=lambda origin, *rest: sign(origin.rsplit("/", 1)[-1], *rest),
        challenge='Bearer realm="forge"',
        calls_back=True,
        event=FORGE_EVENT,
        client_url=FORGE_API + "/",  # httpx ends a base URL with a path with a slash
        wrap=_forge_wrap,
    )


async def _oauth(store: Store, base_url: str) -> Sender:
    sites = SiteStore(store.db, store.box)
    grant = TokenGrant("access-" + SECRET, 3600, "refresh-" + SECRET, ("read:jira-work",))
    for cloud_id in ("site-on", "site-off"):
        resource = Resource(cloud_id, "https://door.example.net", "door", ())
        await sites.connect(resource, grant, now=time.time())
    await sites.forget_tokens("site-off", now=time.time())

    def sign(origin: str, target: str, body: bytes, good: bool) -> dict[str, str]:
        now = int(time.time())
        claims = {"iat": now, "exp": now + 180}
        token = encode_hs256(claims, OAUTH_SECRET if good else "not-" + OAUTH_SECRET)
        return {"Authorization": f"Bearer {token}"}

    return Sender(
        kind="oauth",
        origin="site-on",
        ignored_origin="site-off",
        path=lambda origin: f"/oauth/sites/{origin}/webhook",
        sign=sign,
        challenge='Bearer realm="oauth-sites"',
        calls_back=True,
        client_url=f"{NOWHERE}/ex/jira/site-on/",
    )


DOORS: dict[str, Callable[[Store, str], Awaitable[Sender]]] = {
    "connect": _connect,
    "oauth": _oauth,
    "source": _source,
    "forge": _forge,
}


@dataclass
class Door:
    """A running app, one door's sender, and what the handlers saw."""

    sender: Sender
    base_url: str
    database_url: str
    handled: list[dict[str, Any]]

    def post(
        self, body: bytes, *, origin: str | None = None, good: bool = True, identifier: str = ""
    ) -> httpx.Response:
        origin = origin or self.sender.origin
        target = self.sender.path(origin)
        body = self.sender.wrap(body, identifier)
        headers = {
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": identifier,
            **self.sender.sign(origin, target, body, good),
        }
        return httpx.post(self.base_url + target, content=body, headers=headers, timeout=10)

    def rows(self, count: int, **where: Any) -> list[Delivery]:
        """This door's deliveries matching `where`, once `count` are written (10 s at most)."""

        async def read() -> list[Delivery]:
            store = await open_store(self.database_url, encrypt_existing=False)
            try:
                return await store.deliveries.page(
                    DeliveryFilter(origin_kind=self.sender.kind, **where), limit=100
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


def body(identifier: str) -> bytes:
    return json.dumps(
        {"webhookEvent": EVENT, "issue": {"key": "DOOR-1"}, "id": identifier}
    ).encode()


@pytest.fixture(params=sorted(DOORS))
def door(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Door]:
    handled: list[dict[str, Any]] = []
    handlers = Handlers()

    @handlers.on("*")
    async def note(event: Event) -> None:
        try:
            client: str | None = str(event.jira_client().base_url)
        except NoJiraClient:
            client = None
        handled.append(
            {
                "kind": event.origin.kind,
                "key": event.origin.key,
                "site_url": event.origin.site_url,
                "client": client,
            }
        )

    base_url = "http://127.0.0.1:8000"  # a qsh covers the path only: any port serves
    stack = contextlib.ExitStack()
    forge = stack.enter_context(JwksServer([forge_keys()[0]]))
    settings = Settings(
        base_url=base_url,
        key=ADDON_KEY,
        database_url=database_url,
        max_body_bytes=MAX_BODY,
        tenant_cache_seconds=0,
        forge_app_id=FORGE_APP_ID,
        forge_jwks_url=forge.url,
        atlassian_client_id="door-contract-client",
        atlassian_client_secret=OAUTH_SECRET,
        atlassian_auth_url=NOWHERE,
        atlassian_api_url=NOWHERE,
    )

    async def prepare() -> Sender:
        store = await open_store(database_url)
        try:
            return await DOORS[request.param](store, base_url)
        finally:
            await store.db.disconnect()

    sender = asyncio.run(prepare())
    app = create_app(settings, handlers=handlers)
    with stack, LoopbackServer(app, lifespan="on") as server:
        yield Door(sender, server.url, database_url, handled)


def test_a_delivery_is_accepted_once_and_its_retries_are_duplicates(door: Door) -> None:
    first = door.post(body("a"), identifier="door-dup-1")
    again = door.post(body("a"), identifier="door-dup-1")
    assert (first.status_code, again.status_code) == (204, 204), first.text + again.text
    rows = door.rows(2, q="door-dup-1")
    assert [row.status for row in rows] == [DeliveryStatus.ACCEPTED, DeliveryStatus.DUPLICATE]
    assert rows[1].duplicate_of == rows[0].id
    assert {(row.origin_kind, row.origin, row.event) for row in rows} == {
        (door.sender.kind, door.sender.origin, door.sender.event)
    }


def test_a_handler_gets_the_origin_it_was_ingested_from_and_its_door_s_client(
    door: Door,
) -> None:
    assert door.post(body("h"), identifier="door-handled-1").status_code == 204
    [seen] = door.seen(1)
    assert (seen["kind"], seen["key"]) == (door.sender.kind, door.sender.origin)
    if door.sender.calls_back:
        assert seen["site_url"] == "https://door.example.net"
        assert seen["client"] == (door.sender.client_url or seen["site_url"])
    else:
        assert seen["client"] is None and seen["site_url"] is None


def test_any_other_method_is_405(door: Door) -> None:
    target = door.base_url + door.sender.path(door.sender.origin)
    for method in ("GET", "PUT", "DELETE"):
        answer = httpx.request(method, target, timeout=10)
        assert answer.status_code == 405, (method, answer.text)
        assert answer.headers["allow"] == "POST"
        assert answer.json()["error"] == "method_not_allowed"


def test_a_body_over_the_limit_is_413_and_not_recorded(door: Door) -> None:
    answer = door.post(b"{" + b" " * MAX_BODY + b"}", identifier="door-big-1")
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large"
    assert door.rows(0, q="door-big-1") == []


def test_a_refusal_is_recorded_with_its_reason_and_answered_with_the_door_s_challenge(
    door: Door,
) -> None:
    answer = door.post(body("r"), good=False, identifier="door-refused-1")
    assert answer.status_code == 401, answer.text
    assert answer.json()["reason"]
    assert answer.headers.get("www-authenticate") == door.sender.challenge
    [row] = door.rows(1, status="rejected")
    assert row.reason == answer.json()["reason"] and row.error_code == answer.json()["error"]
    assert "authorization" not in row.headers
    assert door.handled == []


def test_a_delivery_the_door_does_not_take_is_ignored_with_its_reason(door: Door) -> None:
    answer = door.post(body("i"), origin=door.sender.ignored_origin, identifier="door-ignored-1")
    assert answer.status_code == 204, answer.text
    [row] = door.rows(1, status="ignored")
    assert row.origin == door.sender.ignored_origin and row.reason
    assert door.handled == []
