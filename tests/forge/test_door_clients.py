"""The Forge door's Jira clients on a real store (SQLite and PostgreSQL): the system token sent
to the installation's API base URL, by delivery origin, by site URL and by installation id; the
error naming the scheduled trigger; the client's rules. And the door opens only with FORGE_APP_ID."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from addon.app import open_doors
from addon.connect import render_for
from addon.delivery import Origin
from addon.doors import Runtime
from addon.forge import ForgeDoor, NoSystemToken, SiteDetails, forge_client
from addon.jira import CrossOriginRequest
from addon.reach import Reach, SiteUnreachable
from addon.settings import Settings
from addon.store import open_store

APP_ID = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"
INSTALLATION = "ari:cloud:ecosystem::installation/2f9d3c1e-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"
API_BASE = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}"
SITE = "https://forge-door.atlassian.net"
TOKEN = "system-token-value"


def fake_api(calls: list[tuple[str, str | None]]) -> httpx.AsyncBaseTransport:
    """Jira's API behind api.atlassian.com: busy once (429, Retry-After 0), then answers."""
    busy = [True]

    async def myself(request: Request) -> Response:
        calls.append((request.url.path, request.headers.get("authorization")))
        if busy:
            busy.pop()
            return Response(status_code=429, headers={"Retry-After": "0"})
        return JSONResponse({"accountType": "app"})

    return httpx.ASGITransport(
        app=Starlette(routes=[Route("/ex/jira/{c}/rest/api/3/myself", myself)])
    )


def with_door(database_url: str, scenario: Callable[[ForgeDoor, Any], Awaitable[None]]) -> None:
    async def run() -> None:
        settings = Settings(
            database_url=database_url, forge_app_id=APP_ID, encryption_keys=(b"k" * 32,)
        )
        store = await open_store(database_url, keys=settings.encryption_keys)
        calls: list[tuple[str, str | None]] = []
        door = ForgeDoor(settings, transport=fake_api(calls))
        async with httpx.AsyncClient() as http:
            await door.start(Runtime(store=store, http=http))
            try:
                await scenario(door, calls)
            finally:
                await store.db.disconnect()

    asyncio.run(run())


async def installed(door: ForgeDoor, *, token: bool) -> None:
    site = SiteDetails(INSTALLATION, API_BASE, CLOUD_ID, SITE, "2.0.0", "PRODUCTION")
    await door.installations.seen(site, installed=True, now=time.time())
    if token:
        await door.installations.save_system_token(INSTALLATION, TOKEN, time.time() + 3600)


def test_the_client_of_an_origin_a_site_and_an_installation_carries_the_system_token(
    database_url: str,
) -> None:
    async def scenario(door: ForgeDoor, calls: list[tuple[str, str | None]]) -> None:
        await installed(door, token=True)
        by_origin = await door.jira_client(Origin("forge", INSTALLATION))
        by_site = await Reach([door]).client_for(SITE + "/")
        by_id = await door.client_for(INSTALLATION)
        assert by_origin is not None and by_origin.site_url == SITE
        for factory in (by_origin, by_site, by_id):
            async with factory() as jira:
                answer = await jira.get("/rest/api/3/myself")
                assert answer.status_code == 200 and answer.json() == {"accountType": "app"}
                with pytest.raises(CrossOriginRequest):
                    await jira.get("https://elsewhere.example.net/rest/api/3/myself")
        path = f"/ex/jira/{CLOUD_ID}/rest/api/3/myself"
        assert calls == [(path, f"Bearer {TOKEN}")] * 4  # the 429 waited for, then 3 answers

    with_door(database_url, scenario)


def test_without_an_unexpired_token_the_error_names_the_scheduled_trigger(
    database_url: str,
) -> None:
    async def scenario(door: ForgeDoor, calls: list[tuple[str, str | None]]) -> None:
        await installed(door, token=False)
        factory = await door.jira_client(Origin("forge", INSTALLATION))
        assert factory is not None
        with pytest.raises(NoSystemToken, match="hourly scheduled trigger"):
            factory()
        with pytest.raises(NoSystemToken, match="hourly scheduled trigger"):
            await door.client_for(INSTALLATION)
        with pytest.raises(NoSystemToken, match="no Forge installation"):
            await door.client_for(INSTALLATION + "0")
        assert await door.jira_client(Origin("forge", INSTALLATION + "0")) is None
        assert await door.site_client("https://another.atlassian.net") is None
        await door.installations.save_system_token(INSTALLATION, TOKEN, time.time() - 1)
        with pytest.raises(NoSystemToken):
            await door.client_for(INSTALLATION)  # an expired token is no token
        assert calls == []

    with_door(database_url, scenario)


def test_the_forge_door_opens_only_with_forge_app_id() -> None:
    without = Settings()
    assert "forge" not in [door.kind for door in open_doors(without, render_for(without))]
    with_id = Settings(forge_app_id=APP_ID)
    doors = open_doors(with_id, render_for(with_id))
    assert [door.kind for door in doors][-1] == "forge"
    with pytest.raises(ValueError, match="FORGE_APP_ID"):
        ForgeDoor(without)


def test_an_installation_whose_scheduled_trigger_is_silent_for_three_hours_shows_as_silent() -> (
    None
):
    from addon.forge import SILENT_AFTER, ForgeInstallation
    from addon.inspector._forge import forge_json, forge_view

    now = 1_800_000_000.0
    heard = ForgeInstallation(
        INSTALLATION, CLOUD_ID, SITE, API_BASE, "2.0.0", "PRODUCTION",
        installed_at=now - 10 * SILENT_AFTER, updated_at=now, last_tick_at=now - 3600,
        uninstalled=False, uninstalled_at=None, system_token_expires_at=now + 60,
    )  # fmt: skip
    silent = dataclasses.replace(heard, last_tick_at=now - SILENT_AFTER - 1)
    gone = dataclasses.replace(silent, uninstalled=True, uninstalled_at=now)
    assert [forge_view(i, now).state for i in (heard, silent, gone)] == [
        "active",
        "silent",
        "uninstalled",
    ]
    assert forge_view(heard, now).token_text.startswith("until ")
    assert forge_view(
        dataclasses.replace(heard, system_token_expires_at=now - 1), now
    ).token_text.startswith("expired")
    shown = forge_json(heard, now)
    assert shown["state"] == "active" and "system_token" not in shown


LINKED = "https://linked-by-cloud.atlassian.net"


def test_reach_links_a_forge_installation_known_by_cloud_id_to_the_oauth_sites_url(
    database_url: str,
) -> None:
    """A trigger's token names the cloudId, not the URL: the OAuth door knows both."""
    from addon.sites import Resource, SiteDoor, SiteStatus, TokenGrant

    async def scenario(door: ForgeDoor, calls: list[tuple[str, str | None]]) -> None:
        site = SiteDetails(INSTALLATION, API_BASE, CLOUD_ID, None, "2.0.0", "PRODUCTION")
        await door.installations.seen(site, installed=True, now=time.time())
        await door.installations.save_system_token(INSTALLATION, TOKEN, time.time() + 3600)
        assert door._store is not None
        with pytest.raises(SiteUnreachable):  # no door knows the URL yet
            await Reach([door]).client_for(LINKED)

        oauth = SiteDoor(
            Settings(
                atlassian_client_id="client",
                atlassian_client_secret="c" * 40,
                atlassian_auth_url="http://127.0.0.1:9",
                atlassian_api_url="http://127.0.0.1:9",
            )
        )
        async with httpx.AsyncClient() as http:
            await oauth.start(Runtime(store=door._store, http=http))
        grant = TokenGrant("access-token", 3600, "refresh-token", ("read:jira-work",))
        resource = Resource(CLOUD_ID, LINKED, "linked", ())
        await oauth.work.sites.connect(resource, grant, now=time.time())
        # the OAuth door cannot call the site itself now: the Forge installation can
        await oauth.work.sites.set_status(
            CLOUD_ID, SiteStatus.NEEDS_RECONNECT, reason="consent revoked", now=time.time()
        )
        assert await oauth.site_client(LINKED) is None
        assert [f.cloud_id for f in await oauth.site_facts()] == [CLOUD_ID]

        with pytest.raises(SiteUnreachable):  # the Forge door was not told of the OAuth door
            await Reach([oauth, door]).client_for(LINKED)
        # the door learns of the others as the app starts it
        async with httpx.AsyncClient() as http:
            await door.start(Runtime(store=door._store, http=http, doors=(oauth, door)))
        factory = await Reach([oauth, door]).client_for(LINKED + "/")
        assert factory.site_url == LINKED
        by_origin = await door.jira_client(Origin("forge", INSTALLATION))
        assert by_origin is not None and by_origin.site_url == LINKED  # what handlers are told
        by_id = await door.client_for(INSTALLATION)
        assert by_id.site_url == LINKED
        async with factory() as jira:
            assert (await jira.get("/rest/api/3/myself")).json() == {"accountType": "app"}
        assert calls[-1] == (f"/ex/jira/{CLOUD_ID}/rest/api/3/myself", f"Bearer {TOKEN}")
        with pytest.raises(SiteUnreachable):
            await Reach([oauth, door]).client_for("https://another.atlassian.net")

        await door.installations.mark_uninstalled(INSTALLATION, now=time.time())
        with pytest.raises(SiteUnreachable):
            await Reach([oauth, door]).client_for(LINKED)

    with_door(database_url, scenario)


def test_a_connect_tenant_installed_after_the_forge_installation_names_its_site(
    database_url: str,
) -> None:
    async def scenario(door: ForgeDoor, calls: list[tuple[str, str | None]]) -> None:
        site = SiteDetails(INSTALLATION, API_BASE, CLOUD_ID, None, "2.0.0", "PRODUCTION")
        await door.installations.seen(site, installed=True, now=time.time())
        await door.installations.save_system_token(INSTALLATION, TOKEN, time.time() + 3600)
        assert await door.site_client(SITE) is None
        assert door._store is not None
        await door._store.tenants.save_installation(
            {
                "key": "jira-connect-addon",
                "clientKey": "connect-on-forge",
                "sharedSecret": "s" * 40,
                "baseUrl": SITE,
                "installationId": INSTALLATION,
            },
            iat=1,
        )
        factory = await Reach([door]).client_for(SITE)
        assert factory.site_url == SITE
        async with factory() as jira:
            assert (await jira.get("/rest/api/3/myself")).status_code == 200
        assert calls[-1][1] == f"Bearer {TOKEN}"

    with_door(database_url, scenario)


def test_the_system_token_follows_redirects_on_its_api_only_and_waits_out_a_503() -> None:
    """The Connect client's rules: a same-host redirect is followed with the token, another
    host's is returned unfollowed; a 503 is retried after its Retry-After."""
    seen: list[tuple[str, str, str | None]] = []
    busy = [True]

    async def record(request: Request) -> Response:
        seen.append(
            (request.url.hostname or "", request.url.path, request.headers.get("authorization"))
        )
        name = request.path_params["name"]
        if name == "away":
            return Response(
                status_code=302, headers={"Location": "https://elsewhere.example.net/x"}
            )
        if name == "moved":
            return Response(status_code=301, headers={"Location": f"{API_BASE}/rest/api/3/here"})
        if name == "busy" and busy:
            busy.pop()
            return Response(status_code=503, headers={"Retry-After": "0"})
        return JSONResponse({"name": name})

    fake = Starlette(routes=[Route("/{path:path}/{name}", record), Route("/x", record)])

    async def run() -> None:
        async with forge_client(API_BASE, TOKEN, transport=httpx.ASGITransport(app=fake)) as jira:
            away = await jira.get("/rest/api/3/away")
            assert away.status_code == 302
            assert (await jira.get("/rest/api/3/moved")).json() == {"name": "here"}
            assert (await jira.get("/rest/api/3/busy")).json() == {"name": "busy"}

    asyncio.run(run())
    prefix = f"/ex/jira/{CLOUD_ID}/rest/api/3/"
    assert seen == [
        ("api.atlassian.com", prefix + name, f"Bearer {TOKEN}")
        for name in ("away", "moved", "here", "busy", "busy")
    ]
