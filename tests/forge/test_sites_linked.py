"""One Jira site across doors on the inspector's Sites page: a Forge installation whose calls name
only the cloudId is listed under the URL of the OAuth site with that cloudId, or of the Connect
tenant installed through Forge with its installation id (issue 18)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx

from addon.app import create_app
from addon.settings import Settings
from addon.sites import Resource, SiteStore, TokenGrant
from addon.store import open_store
from tests.forge.test_door import (
    APP_ID,
    CLOUD_ID,
    ENCRYPTION_KEY,
    INSPECTOR,
    INSTALLATION,
    SITE,
    fit_claims,
    install_connect_on_forge,
    lifecycle,
)
from tests.support.jwks import JwksServer, SigningKey, make_signing_key
from tests.support.loopback import LoopbackServer

LINKED = "https://linked-by-cloud.atlassian.net"


@contextlib.contextmanager
def running(database_url: str, key: SigningKey, *, oauth: bool) -> Iterator[str]:
    credentials: dict[str, Any] = (
        {
            "atlassian_client_id": "client",
            "atlassian_client_secret": "c" * 40,
            "atlassian_auth_url": "http://127.0.0.1:9",
            "atlassian_api_url": "http://127.0.0.1:9",
        }
        if oauth
        else {}
    )
    with JwksServer([key]) as jwks:
        settings = Settings(
            base_url="https://addon.example.com",
            database_url=database_url,
            forge_app_id=APP_ID,
            forge_jwks_url=jwks.url,
            encryption_keys=(ENCRYPTION_KEY,),
            inspector_username=INSPECTOR[0],
            inspector_password=INSPECTOR[1],
            **credentials,
        )
        with LoopbackServer(create_app(settings), lifespan="on") as server:
            yield server.url


def connect_oauth_site(database_url: str) -> None:
    async def connect() -> None:
        store = await open_store(database_url, keys=(ENCRYPTION_KEY,))
        try:
            grant = TokenGrant("access-token", 3600, "refresh-token", ("read:jira-work",))
            resource = Resource(CLOUD_ID, LINKED, "linked", ())
            await SiteStore(store.db, store.box).connect(resource, grant, now=time.time())
        finally:
            await store.db.disconnect()

    asyncio.run(connect())


def stored_site_url(database_url: str) -> str | None:
    async def read() -> str | None:
        store = await open_store(database_url, keys=(ENCRYPTION_KEY,))
        try:
            row = await store.db.fetch_one(
                "SELECT site_url FROM forge_installations WHERE installation_id = ?",
                (INSTALLATION,),
            )
        finally:
            await store.db.disconnect()
        assert row is not None
        value: str | None = row["site_url"]
        return value

    return asyncio.run(read())


def installed(base_url: str, key: SigningKey) -> None:
    answer = httpx.post(
        f"{base_url}/forge/events",
        json=lifecycle(),
        headers={"Authorization": f"Bearer {key.sign(fit_claims())}"},
        timeout=10,
    )
    assert answer.status_code == 204, answer.text


def sites(base_url: str) -> tuple[dict[str, list[str]], str]:
    """The Sites JSON (site URL to the doors listing it) and the Sites page."""
    listed = httpx.get(f"{base_url}/inspector/api/sites", auth=INSPECTOR, timeout=10)
    page = httpx.get(f"{base_url}/inspector/sites", auth=INSPECTOR, timeout=10)
    assert listed.status_code == page.status_code == 200, listed.text
    by_url: dict[str, list[str]] = {}
    for site in listed.json()["sites"]:
        by_url.setdefault(site["site_url"], []).append(site["kind"])
    return by_url, page.text


def test_a_forge_installation_is_listed_under_the_oauth_site_with_its_cloud_id(
    sqlite_url: str,
) -> None:
    key = make_signing_key("forge/linked")
    connect_oauth_site(sqlite_url)
    with running(sqlite_url, key, oauth=True) as base_url:
        installed(base_url, key)
        by_url, page = sites(base_url)
    assert by_url == {LINKED: ["forge", "oauth"]}
    assert stored_site_url(sqlite_url) == LINKED  # the installation is recorded with it
    assert page.count(f">{LINKED}</a>") == 2 and "api.atlassian.com/ex/jira" not in page


def test_without_a_door_knowing_its_url_it_is_listed_under_its_api(sqlite_url: str) -> None:
    key = make_signing_key("forge/alone")
    with running(sqlite_url, key, oauth=False) as base_url:
        installed(base_url, key)
        by_url, _ = sites(base_url)
    assert by_url == {f"https://api.atlassian.com/ex/jira/{CLOUD_ID}": ["forge"]}
    assert stored_site_url(sqlite_url) is None


def test_a_connect_on_forge_tenant_installed_after_it_names_its_site(sqlite_url: str) -> None:
    key = make_signing_key("forge/later")
    with running(sqlite_url, key, oauth=False) as base_url:
        installed(base_url, key)
        install_connect_on_forge(sqlite_url)
        by_url, page = sites(base_url)
    assert by_url == {SITE: ["connect", "forge"]}
    assert page.count(f">{SITE}</a>") == 2
