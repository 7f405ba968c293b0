"""The sync in a running add-on: the fake Jira site served at its own root on a loopback port (a
Connect tenant's base URL), a Connect tenant and an admin-webhook source for it, an adapter, and
the add-on itself under uvicorn with handlers that record what they get."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from addon import sync_of
from addon.app import create_app
from addon.handlers import Event, Handlers
from addon.settings import Settings
from addon.simulator import FakeJiraWork, SimulatedSite
from addon.simulator._jira_site import WorkSite
from addon.sources import SourceMode, Sources, signature_for
from addon.store import Delivery, DeliveryFilter, open_store
from addon.sync import DEFAULT_PRIORITIES, DEFAULT_STATUSES, Adapter, Link, SyncStore
from tests.support.loopback import LoopbackServer

API_TOKEN = "sync-test-token-" + "x" * 32
INSPECTOR = ("inspector", "correct horse battery staple")
ADAPTER = "tickets"


def read(database_url: str, call: Callable[[Any], Any]) -> Any:
    """Run `call(store)` on a store of its own (the test's thread has no event loop)."""

    async def run() -> Any:
        store = await open_store(database_url, encrypt_existing=False)
        try:
            return await call(store)
        finally:
            await store.db.disconnect()

    return asyncio.run(run())


@dataclass
class World:
    fake: FakeJiraWork
    site: WorkSite
    jira_url: str
    database_url: str
    tenant: SimulatedSite
    source_key: str
    source_secret: str
    settings: Settings
    app_url: str = ""
    app: Any = None
    seen: list[Event] = field(default_factory=list)
    pushed: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # Driving the add-on as Jira and as the user's other systems do

    def via_connect(self, body: dict[str, Any], *, identifier: str | None = None) -> None:
        target = "/webhooks/jira/issue-updated"
        token = self.tenant.token(addon_base_url=self.settings.base_url, target=target)
        answer = httpx.post(
            self.app_url + target,
            content=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"JWT {token}",
                "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
            },
            timeout=10,
        )
        assert answer.status_code in (200, 202, 204), answer.text

    def via_source(self, body: dict[str, Any], *, identifier: str | None = None) -> None:
        content = json.dumps(body).encode()
        answer = httpx.post(
            f"{self.app_url}/webhooks/jira/sources/{self.source_key}",
            content=content,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature": signature_for(content, self.source_secret),
                "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
            },
            timeout=10,
        )
        assert answer.status_code in (200, 202, 204), answer.text

    def post_item(
        self, item_id: str, body: Any, *, token: str | None = API_TOKEN, adapter: str = ADAPTER
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(
            f"{self.app_url}/sync/{adapter}/items/{item_id}",
            content=content,
            headers={"Content-Type": "application/json", **headers},
            timeout=30,
        )

    # Reading what happened

    def events(self, name: str) -> list[Event]:
        with self.lock:
            return [e for e in self.seen if e.name == name]

    def wait(self, check: Callable[[], Any], *, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    def link(self, item_id: str) -> Link | None:
        return read(  # type: ignore[no-any-return]
            self.database_url, lambda store: SyncStore(store.db).link(ADAPTER, item_id)
        )

    def deliveries(self, **where: Any) -> list[Delivery]:
        return read(  # type: ignore[no-any-return]
            self.database_url,
            lambda store: store.deliveries.page(DeliveryFilter(**where), limit=500),
        )

    def issue(self, issue_id: str) -> dict[str, Any]:
        return self.fake.sites[self.site.cloud_id].issues[issue_id]


def prepare(database_url: str, jira_url: str, settings: Settings) -> tuple[SimulatedSite, str, str]:
    """A Connect tenant whose base URL is the fake site, an admin-webhook source, an adapter."""
    tenant = SimulatedSite.generate(base_url=jira_url)
    source_secret = secrets.token_urlsafe(32)

    async def run(store: Any) -> str:
        await store.tenants.save_installation(
            {
                "key": settings.key,
                "clientKey": tenant.client_key,
                "sharedSecret": tenant.shared_secret,
                "baseUrl": jira_url,
            },
            iat=int(time.time()) - 5,
        )
        source = await Sources(store.db, store.box).add(
            f"jira-{uuid.uuid4().hex[:6]}", SourceMode.CLOUD_SIGNATURE, source_secret
        )
        await SyncStore(store.db).add_adapter(
            Adapter(
                name=ADAPTER,
                site=jira_url,
                project_key="DEV",
                issue_type="Task",
                statuses=DEFAULT_STATUSES,
                priorities=DEFAULT_PRIORITIES,
            ),
            now=time.time(),
        )
        return str(source.key)

    return tenant, read(database_url, run), source_secret


@contextlib.contextmanager
def running_world(database_url: str, *, language: str = "en") -> Iterator[World]:
    fake = FakeJiraWork()
    site = fake.add_site("acme", language=language)
    with LoopbackServer(fake.site_root(site.cloud_id)) as jira:
        site.url = jira.url
        settings = Settings(
            database_url=database_url,
            inspector_api_token=API_TOKEN,
            inspector_username=INSPECTOR[0],
            inspector_password=INSPECTOR[1],
            sync_search_lag_seconds=30.0,
        )
        tenant, source_key, source_secret = prepare(database_url, jira.url, settings)
        world = World(
            fake, site, jira.url, database_url, tenant, source_key, source_secret, settings
        )
        handlers = Handlers()

        @handlers.on("*")
        async def record(event: Event) -> None:
            with world.lock:
                world.seen.append(event)
            payload = event.payload
            if isinstance(payload, dict) and "push_item" in payload:
                sync = sync_of(world.app) if payload.get("through") == "sync_of" else event.sync
                assert sync is not None
                item = payload["push_item"]
                pushed = await sync.push(ADAPTER, item.pop("id"), **item)
                with world.lock:
                    world.pushed.append(pushed)

        app = create_app(settings, handlers=handlers)
        world.app = app
        with LoopbackServer(app, lifespan="on") as server:
            world.app_url = server.url
            yield world
