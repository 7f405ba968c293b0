"""The fake Atlassian on a loopback port, and the OAuth door's parts built against it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from addon.simulator import FakeAtlassian
from addon.sites import AtlassianApi, SiteStore, TokenKeeper, authorize_url
from addon.store import Store, generate_key, open_store
from tests.support.loopback import LoopbackServer

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-client-secret-" + "s" * 20
BASE_URL = "https://addon.example.com"
KEY = generate_key()


def raw_key(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@contextlib.contextmanager
def running_fake(
    *sites: str, projects: tuple[str, ...] = ("DEV",)
) -> Iterator[tuple[FakeAtlassian, str]]:
    fake = FakeAtlassian(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    for name in sites or ("acme",):
        fake.add_site(name, projects)
    with LoopbackServer(fake.app) as server:
        yield fake, server.url


@dataclass
class Door:
    """One instance's view: its store, Atlassian calls and token keeper."""

    store: Store
    sites: SiteStore
    api: AtlassianApi
    tokens: TokenKeeper
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def door(database_url: str, fake: FakeAtlassian, url: str) -> AsyncIterator[Door]:
    store = await open_store(database_url, keys=(raw_key(KEY),))
    http = httpx.AsyncClient(trust_env=False, timeout=10)
    try:
        sites = SiteStore(store.db, store.box)
        api = AtlassianApi(
            http, auth_url=url, api_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        yield Door(store, sites, api, TokenKeeper(sites, api, clock=fake.now), http)
    finally:
        await http.aclose()
        await store.db.disconnect()


async def consent_code(http: httpx.AsyncClient, url: str, state: str = "s-1") -> str:
    """Go through the fake's consent page as a browser would; the code it redirects back with."""
    location = authorize_url(
        url,
        client_id=CLIENT_ID,
        scopes=("read:jira-work", "manage:jira-webhook", "offline_access"),
        base_url=BASE_URL,
        state=state,
    )
    response = await http.get(location)
    assert response.status_code == 302
    back = urlsplit(response.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{BASE_URL}/oauth/callback"
    query = parse_qs(back.query)
    assert query["state"] == [state]
    return query["code"][0]


__all__ = [
    "BASE_URL",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "Door",
    "consent_code",
    "door",
    "running_fake",
]
