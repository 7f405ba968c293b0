"""The sync in a running add-on with its Forge and OAuth doors open: the fake Jira site served at
its own root (a Connect tenant's base URL) and behind the API gateway's shape (`/ex/jira/{cloudId}`,
where Forge's and OAuth's clients call), Forge's key set on a loopback JWKS server, and Jira's
deliveries signed as each door expects (a Forge Invocation Token; an HS256 bearer signed with the
OAuth app's client secret)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from addon.app import create_app
from addon.auth import encode_hs256
from addon.forge import ForgeDoor, ForgeInstallations, SiteDetails
from addon.handlers import Event, Handlers
from addon.settings import Settings
from addon.simulator import FakeJiraWork
from addon.simulator._jira_site import WorkSite
from addon.sites import Resource, SiteStore, SiteWork, TokenGrant
from addon.store import HandlerState, open_store
from addon.sync import DEFAULT_PRIORITIES, DEFAULT_STATUSES, Adapter, SyncStore
from tests.support.jwks import JwksServer, SigningKey, make_signing_key
from tests.support.loopback import LoopbackServer
from tests.sync.app_support import ADAPTER, API_TOKEN, INSPECTOR, World, read

APP_ID = "ari:cloud:ecosystem::app/5a1e7c11-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
INSTALLATION = "ari:cloud:ecosystem::installation/7c2e4a10-3b5d-4f6e-9a8b-1c2d3e4f5a6b"
CLIENT_SECRET = "sync-oauth-client-secret-" + "c" * 32
CONNECTING_USER = "712020:oauth-connecting-user-0000-000000"
ACCESS_TOKEN = "oauth-access-" + "a" * 40


@dataclass
class DoorWorld(World):
    """`World` (Connect, admin webhooks) plus Forge and OAuth, whichever the test asked for."""

    forge_key: SigningKey | None = None
    api_base: str = ""
    gateway_url: str = ""
    forge_door: ForgeDoor | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)

    def via_forge(self, event: dict[str, Any], *, retry: int = 0, envelope: bool = False) -> None:
        """A Forge event as Forge Remote posts it: the FIT of the installation, the event at the
        top level or under `payload`, a `retryContext` beside it on a retry."""
        assert self.forge_key is not None
        body = copy.deepcopy(event)
        if retry:
            body["retryContext"] = {"retryData": None, "retryCount": retry, "retryReason": "X"}
        if envelope:
            body = {"payload": body}
        now = int(time.time())
        claims = {
            "app": {"installationId": INSTALLATION, "apiBaseUrl": self.api_base, "id": APP_ID},
            "aud": APP_ID,
            "iss": "forge/invocation-token",
            "iat": now,
            "nbf": now,
            "exp": now + 25,
            "jti": uuid.uuid4().hex,
        }
        answer = httpx.post(
            f"{self.app_url}/forge/events",
            content=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.forge_key.sign(claims)}",
            },
            timeout=10,
        )
        assert answer.status_code in (200, 202, 204), answer.text

    def via_oauth(self, body: dict[str, Any], *, identifier: str | None = None) -> None:
        """A dynamic webhook's delivery to the OAuth door, signed with the client secret."""
        now = int(time.time())
        token = encode_hs256({"iat": now, "exp": now + 180}, CLIENT_SECRET)
        answer = httpx.post(
            f"{self.app_url}/oauth/sites/{self.site.cloud_id}/webhook",
            content=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
            },
            timeout=10,
        )
        assert answer.status_code in (200, 202, 204), answer.text

    def forget_forge_token(self) -> None:
        async def run(store: Any) -> None:
            await store.db.execute(
                "UPDATE forge_installations SET system_token = NULL,"
                " system_token_expires_at = NULL WHERE installation_id = ?",
                (INSTALLATION,),
            )

        read(self.database_url, run)

    def expire_oauth_token(self) -> None:
        async def run(store: Any) -> None:
            await store.db.execute(
                "UPDATE oauth_sites SET access_expires_at = ? WHERE cloud_id = ?",
                (time.time() - 60, self.site.cloud_id),
            )

        read(self.database_url, run)

    def catch_up(self, since: float) -> int:
        """`addon oauth catch-up` as the CLI runs it: search, record `catch-up:issue` deliveries."""

        async def run(store: Any) -> int:
            await store.start()
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    work = SiteWork(self.settings, store, http, clock=time.time)
                    site = await work.find(self.site.cloud_id)
                    return await work.catch_up(site, since, again=False)
            finally:
                await store.close()

        async def go() -> int:
            store = await open_store(  # as the CLI opens it when the app has handlers
                self.database_url, encrypt_existing=False, handler_state=HandlerState.PENDING
            )
            return await run(store)

        return asyncio.run(go())


def forge_event(body: dict[str, Any], *, with_category: bool = False) -> dict[str, Any]:
    """The Forge event for the change a webhook body describes ("Jira events": `eventType`, the
    actor as `atlassianId`, a slim issue without `self`, `timestamp` as a string); its status
    without `statusCategory` unless asked (Atlassian's example does not show it)."""
    issue = body["issue"]
    fields = issue["fields"]
    status = dict(fields["status"])
    if not with_category:
        status.pop("statusCategory", None)
    slim = {
        "summary": fields["summary"],
        "issuetype": fields["issuetype"],
        "project": fields["project"],
        "updated": fields["updated"],
        "created": fields["created"],
        "status": status,
    }
    event: dict[str, Any] = {
        "eventType": body["webhookEvent"].replace("jira:issue_", "avi:jira:") + ":issue",
        "timestamp": str(body["timestamp"]),
        "atlassianId": body["user"]["accountId"],
        "associatedUsers": [{"accountId": body["user"]["accountId"]}],
        "selfGenerated": False,
        "issue": {"id": issue["id"], "key": issue["key"], "fields": slim},
    }
    if "changelog" in body:
        event["changelog"] = copy.deepcopy(body["changelog"])
    return event


async def _prepare(
    world: DoorWorld,
    *,
    connect: bool,
    forge: bool,
    oauth: bool,
    site_url: str,
    forge_site_known: bool = True,
) -> None:
    store = await open_store(world.database_url, encrypt_existing=False)
    try:
        if connect:
            await store.tenants.save_installation(
                {
                    "key": world.settings.key,
                    "clientKey": world.tenant.client_key,
                    "sharedSecret": world.tenant.shared_secret,
                    "baseUrl": site_url,
                },
                iat=int(time.time()) - 5,
            )
        if forge:
            installations = ForgeInstallations(store.db, store.box)
            known = site_url if forge_site_known else None  # events' tokens do not say it
            details = SiteDetails(INSTALLATION, world.api_base, world.site.cloud_id, known)
            await installations.seen(details, installed=True, now=time.time())
            await installations.save_system_token(
                INSTALLATION, "forge-system-token", time.time() + 3600
            )
        if oauth:
            scopes = ("read:jira-work", "write:jira-work", "offline_access")
            await SiteStore(store.db, store.box).connect(
                Resource(world.site.cloud_id, site_url, "acme", scopes),
                TokenGrant(ACCESS_TOKEN, 3600, "oauth-refresh-" + "r" * 40, scopes),
                now=time.time(),
                projects=("DEV",),
            )
        await SyncStore(store.db).add_adapter(
            Adapter(
                name=ADAPTER,
                site=site_url,
                project_key="DEV",
                issue_type="Task",
                statuses=DEFAULT_STATUSES,
                priorities=DEFAULT_PRIORITIES,
            ),
            now=time.time(),
        )
    finally:
        await store.db.disconnect()


@contextlib.contextmanager
def door_world(
    database_url: str,
    *,
    connect: bool = False,
    forge: bool = False,
    oauth: bool = False,
    language: str = "en",
    forge_site_known: bool = True,
) -> Iterator[DoorWorld]:
    """The add-on with the doors asked for open to the fake site; the adapter on its site.

    With Connect, the site's URL is the fake site's own root (a tenant's client calls it); else
    it is `https://acme.atlassian.net`, reached only through the gateway (Forge, OAuth)."""
    from addon.simulator import SimulatedSite

    fake = FakeJiraWork()
    site: WorkSite = fake.add_site("acme", language=language)
    fake.tokens[ACCESS_TOKEN] = CONNECTING_USER
    stack = contextlib.ExitStack()
    with stack:
        jira = stack.enter_context(LoopbackServer(fake.site_root(site.cloud_id)))
        gateway = stack.enter_context(LoopbackServer(fake.app))
        if connect:
            site.url = jira.url
        key = make_signing_key("forge/sync") if forge else None
        jwks = stack.enter_context(JwksServer([key])) if key is not None else None
        settings = Settings(
            database_url=database_url,
            inspector_api_token=API_TOKEN,
            inspector_username=INSPECTOR[0],
            inspector_password=INSPECTOR[1],
            sync_search_lag_seconds=30.0,
            forge_app_id=APP_ID if forge else None,
            forge_jwks_url=jwks.url if jwks is not None else "https://forge.invalid/jwks.json",
            atlassian_client_id="sync-oauth-client" if oauth else None,
            atlassian_client_secret=CLIENT_SECRET if oauth else None,
            atlassian_auth_url=gateway.url,
            atlassian_api_url=gateway.url,
        )
        world = DoorWorld(
            fake,
            site,
            site.url,
            database_url,
            SimulatedSite.generate(base_url=site.url),
            "",
            "",
            settings,
            forge_key=key,
            api_base=f"https://api.atlassian.com/ex/jira/{site.cloud_id}",
            gateway_url=gateway.url,
        )
        asyncio.run(
            _prepare(
                world,
                connect=connect,
                forge=forge,
                oauth=oauth,
                site_url=site.url,
                forge_site_known=forge_site_known,
            )
        )
        handlers = Handlers()

        @handlers.on("*")
        async def record(event: Event) -> None:
            with world.lock:
                world.seen.append(event)

        app = create_app(settings, handlers=handlers)
        server = stack.enter_context(LoopbackServer(app, lifespan="on"))
        world.app_url = server.url
        doors = app.state.services.doors
        for door in doors:
            if isinstance(door, ForgeDoor):  # the system token's calls go to the fake gateway
                door.transport = httpx.ASGITransport(app=fake.app)
                world.forge_door = door
        yield world


__all__ = [
    "ACCESS_TOKEN",
    "APP_ID",
    "CLIENT_SECRET",
    "CONNECTING_USER",
    "INSTALLATION",
    "DoorWorld",
    "door_world",
    "forge_event",
    "read",
]
