"""The whole app on a real uvicorn (in the test's event loop), the fake Atlassian on another, and a
browser's side of the consent: cookies read from Set-Cookie and sent back by hand, since the app
calls itself https://addon.example.com while it listens on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from http.cookies import Morsel, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn

from addon.app import create_app
from addon.handlers import Event, Handlers
from addon.settings import Settings
from addon.simulator import FakeAtlassian
from addon.sites import Site, SiteDoor
from addon.store import Delivery, DeliveryFilter, Store
from tests.sites.support import BASE_URL, CLIENT_ID, CLIENT_SECRET, KEY, raw_key

__all__ = ["AUTH", "Flow", "cookie", "flow_settings", "serving"]

AUTH = ("inspector", "correct horse battery staple")


def flow_settings(database_url: str, fake_url: str, **overrides: Any) -> Settings:
    settings = Settings(
        base_url=BASE_URL,
        database_url=database_url,
        encryption_keys=(raw_key(KEY),),
        inspector_username=AUTH[0],
        inspector_password=AUTH[1],
        atlassian_client_id=CLIENT_ID,
        atlassian_client_secret=CLIENT_SECRET,
        atlassian_auth_url=fake_url,
        atlassian_api_url=fake_url,
    )
    return replace(settings, **overrides)


def cookie(response: httpx.Response, name: str) -> Morsel[str] | None:
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            return jar[name]
    return None


@dataclass
class Flow:
    """One running app and its OAuth door, and a browser talking to it."""

    fake: FakeAtlassian
    url: str
    door: SiteDoor
    store: Store
    http: httpx.AsyncClient
    handled: list[dict[str, Any]] = field(default_factory=list)

    def local(self, url: str) -> str:
        """A URL the app gave under its base URL, where it really listens."""
        assert url.startswith(BASE_URL), url
        return self.url + url[len(BASE_URL) :]

    async def start_consent(self) -> tuple[str, str]:
        """`/oauth/connect` as the admin; (the callback URL Atlassian redirects to, the state
        cookie's value)."""
        started = await self.http.get(self.url + "/oauth/connect", auth=AUTH)
        assert started.status_code == 303, started.text
        state = cookie(started, "addon_oauth_state")
        assert state is not None
        approved = await self.http.get(started.headers["location"])
        assert approved.status_code == 302, approved.text
        return approved.headers["location"], state.value

    async def callback(self, location: str, state_cookie: str | None) -> httpx.Response:
        headers = {"Cookie": f"addon_oauth_state={state_cookie}"} if state_cookie else {}
        return await self.http.get(self.local(location), headers=headers)

    async def connect(self) -> Site:
        """A whole consent for a grant covering one site; the site connected."""
        location, state = await self.start_consent()
        answer = await self.callback(location, state)
        assert answer.status_code == 200 and "is connected" in answer.text, answer.text
        [site] = await self.door.work.sites.all()
        return site

    async def rows(self, count: int = 1, *, timeout: float = 10, **where: Any) -> list[Delivery]:
        """Deliveries of the OAuth door matching `where`, oldest first, once `count` are there."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.store.deliveries.page(
                DeliveryFilter(origin_kind="oauth", **where), limit=200
            )
            if len(found) >= count or time.monotonic() > deadline:
                return list(reversed(found))
            await asyncio.sleep(0.05)

    async def seen(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.handled) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return list(self.handled)


def calling_handlers(handled: list[dict[str, Any]]) -> Handlers:
    """Handlers that call Jira back with each event's client and note what came back."""
    handlers = Handlers()

    @handlers.on("*")
    async def note(event: Event) -> None:
        async with event.jira_client() as jira:
            me = await jira.get("/rest/api/3/myself")
        handled.append(
            {
                "event": event.name,
                "origin": event.origin,
                "client": str(jira.base_url),
                "status": me.status_code,
            }
        )

    return handlers


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, fake: FakeAtlassian, *, clock: bool = True
) -> AsyncIterator[Flow]:
    """The app on a loopback port in this event loop; its door on the fake's clock (`clock`)."""
    handled: list[dict[str, Any]] = []
    app = create_app(settings, handlers=calling_handlers(handled))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, ws="none")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the app did not start")
            await asyncio.sleep(0.01)
        services = app.state.services
        [door] = [d for d in services.doors if isinstance(d, SiteDoor)]
        if clock:
            door.clock = fake.now
        async with httpx.AsyncClient(trust_env=False, timeout=15) as http:
            yield Flow(fake, f"http://127.0.0.1:{port}", door, services.store, http, handled)
    finally:
        server.should_exit = True
        await task
        sock.close()


def query_of(location: str) -> Mapping[str, list[str]]:
    return parse_qs(urlsplit(location).query)
