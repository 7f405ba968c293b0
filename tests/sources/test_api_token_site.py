"""A source with an API token bound (`addon sources token`) names its site: its deliveries' origin
carries the bound site URL, so handlers, people and sync see which site a delivery came from."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from addon.app import create_app
from addon.delivery import Delivery
from addon.doors import Runtime
from addon.handlers import Event, Handlers
from addon.incoming import Incoming
from addon.settings import Settings
from addon.sources import SOURCE_PATH, ApiTokens, SourceDoor, SourceMode, Sources, new_secret
from addon.store import open_store
from tests.sites.support import KEY, raw_key

SITE = "https://acme.atlassian.net"
BODY = {"webhookEvent": "jira:issue_updated", "issue": {"id": "10001", "key": "DEV-1"}}


@contextlib.asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, ws="none")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def test_handlers_see_the_bound_site_of_a_source_and_none_without_a_token(
    database_url: str,
) -> None:
    seen: dict[str, Any] = {}
    handlers = Handlers()

    @handlers.on("jira:issue_updated")
    async def note(event: Event) -> None:
        seen[event.origin.key] = event.origin.site_url

    settings = Settings(
        base_url="https://addon.example.com",
        database_url=database_url,
        encryption_keys=(raw_key(KEY),),
    )

    async def scenario() -> None:
        app = create_app(settings, handlers=handlers)
        async with running(app) as url:
            store = app.state.services.store
            sources = Sources(store.db, store.box)
            secrets = {name: new_secret() for name in ("bound", "plain")}
            keys = {
                name: (await sources.add(name, SourceMode.BEARER, secret)).key
                for name, secret in secrets.items()
            }
            await ApiTokens(store.db, store.box).bind(
                "bound", SITE.upper() + "/", "ada@example.com", "the-api-token-" + "t" * 20
            )
            async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
                for name, key in keys.items():
                    sent = await http.post(
                        url + SOURCE_PATH + key,
                        content=json.dumps(BODY).encode(),
                        headers={
                            "Content-Type": "application/json",
                            "Authorization": f"Bearer {secrets[name]}",
                            "X-Atlassian-Webhook-Identifier": f"w-{name}",
                        },
                    )
                    assert sent.status_code < 300, sent.text
            deadline = time.monotonic() + 10
            while len(seen) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        assert seen == {"bound": SITE, "plain": None}

    asyncio.run(scenario())


def test_the_verified_delivery_names_the_bound_site(sqlite_url: str) -> None:
    async def scenario() -> None:
        store = await open_store(sqlite_url, keys=(raw_key(KEY),))
        try:
            door = SourceDoor()
            async with httpx.AsyncClient() as http:
                await door.start(Runtime(store=store, http=http))
            secret = new_secret()
            source = await door.sources.add("jira", SourceMode.BEARER, secret)
            request = Incoming(
                "POST",
                SOURCE_PATH + source.key,
                "",
                [
                    ("content-type", "application/json"),
                    ("authorization", f"Bearer {secret}"),
                    ("x-atlassian-webhook-identifier", "w-1"),
                ],
                json.dumps(BODY).encode(),
                time.time(),
            )
            before = await door.verify(request, source.key)
            assert isinstance(before, Delivery) and before.origin.site_url is None
            await ApiTokens(store.db, store.box).bind(
                "jira", SITE, "ada@example.com", "the-api-token-" + "t" * 20
            )
            after = await door.verify(request, source.key)
            assert isinstance(after, Delivery)
            assert (after.origin.key, after.origin.site_url) == ("jira", SITE)
        finally:
            await store.db.disconnect()

    asyncio.run(scenario())
