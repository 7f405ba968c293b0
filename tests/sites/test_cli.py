"""`addon oauth list | refresh | catch-up | disconnect` and `addon sources token`, as an admin runs
them: real processes against the database a running app connected a site in."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from addon.delivery import Origin
from addon.doors import Runtime
from addon.people import Account, AccountType, PeopleStore
from addon.sites import DAY, SiteStore
from addon.sites._points import CatchUpPoints, SecondPass
from addon.sources import ApiTokens, SourceDoor
from addon.store import generate_key, open_store
from tests.sites.flow import AUTH, flow_settings, serving
from tests.sites.support import BASE_URL, CLIENT_ID, CLIENT_SECRET, KEY, raw_key, running_fake
from tests.support.live import ROOT


def addon(
    env: dict[str, str], *argv: str, stdin: str = "", cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "addon", *argv],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def environment(database_url: str, fake_url: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("ADDON_", "ATLASSIAN_"))}
    return {
        **kept,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "ADDON_BASE_URL": BASE_URL,
        "ADDON_ENCRYPTION_KEY": KEY,
        "ATLASSIAN_CLIENT_ID": CLIENT_ID,
        "ATLASSIAN_CLIENT_SECRET": CLIENT_SECRET,
        "ATLASSIAN_AUTH_URL": fake_url,
        "ATLASSIAN_API_URL": fake_url,
    }


async def add_accounts(database_url: str, sites: list[str]) -> None:
    store = await open_store(database_url, keys=(raw_key(KEY),))
    try:
        for site in sites:
            account = Account(site, "5b10ac8d82e05b22cc7d4ef5", AccountType.ATLASSIAN, "Ada")
            await PeopleStore(store.db).upsert_account(account)
    finally:
        await store.close()


async def second_passes(database_url: str, *, due_by: float) -> list[SecondPass]:
    store = await open_store(database_url, keys=(raw_key(KEY),))
    try:
        return await CatchUpPoints(store.db).due(now=due_by)
    finally:
        await store.close()


async def account_sites(database_url: str) -> list[str]:
    store = await open_store(database_url, keys=(raw_key(KEY),))
    try:
        return sorted(a.site for a in await PeopleStore(store.db).accounts())
    finally:
        await store.close()


def test_list_catch_up_refresh_and_disconnect_a_site(sqlite_url: str, tmp_path: Path) -> None:
    with running_fake() as (fake, fake_url):

        async def connect() -> str:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                return (await flow.connect()).cloud_id

        cloud_id = asyncio.run(connect())
        site = fake.sites[cloud_id]
        env = environment(sqlite_url, fake_url)

        listed = addon(env, "oauth", "list", "--json", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        [facts] = json.loads(listed.stdout)
        assert facts["url"] == site.url and facts["status"] == "connected"
        assert [h["id"] for h in facts["webhooks"]] == list(site.webhooks)
        assert facts["webhooks"][0]["expires_at"] and facts["refresh_token_ends_at"]
        assert "token" not in json.dumps({k: v for k, v in facts.items() if "refresh" not in k})
        table = addon(env, "oauth", "list", cwd=tmp_path)
        assert site.url in table.stdout and "REFRESH TOKEN ENDS" in table.stdout

        fake.touch_issue(cloud_id, "DEV-5", "missed")
        caught = addon(env, "oauth", "catch-up", site.url, "--since", "10m", cwd=tmp_path)
        assert caught.returncode == 0, caught.stderr
        assert caught.stdout.startswith("1 issue change(s)")
        assert "searched again in a minute" in caught.stdout
        [pending] = asyncio.run(second_passes(sqlite_url, due_by=time.time() + 61))
        assert pending.cloud_id == cloud_id and pending.since < time.time() - 590
        again = addon(env, "oauth", "catch-up", cloud_id, "--since", "10m", cwd=tmp_path)
        assert again.stdout.startswith("0 issue change(s)"), again.stdout + again.stderr

        refreshes = fake.refreshes
        refreshed = addon(env, "oauth", "refresh", cloud_id, cwd=tmp_path)
        assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
        assert "tokens refreshed" in refreshed.stdout and fake.refreshes == refreshes + 1
        assert "caught up" not in refreshed.stdout

        # Jira forgot the webhook: refreshing registers it again and catches up the gap.
        [forgotten] = fake.webhooks(cloud_id)
        fake.forget_webhook(cloud_id, forgotten.id)
        fake.touch_issue(cloud_id, "DEV-6", "while nothing was delivered")
        again_registered = addon(env, "oauth", "refresh", site.url, cwd=tmp_path)
        assert again_registered.returncode == 0, again_registered.stdout + again_registered.stderr
        assert f"forgotten by Jira [{forgotten.id}]" in again_registered.stdout
        assert "1 issue change(s) missed meanwhile caught up" in again_registered.stdout

        unknown = addon(env, "oauth", "catch-up", "nowhere", "--since", "1h", cwd=tmp_path)
        assert unknown.returncode == 1 and "no site 'nowhere'" in unknown.stderr

        asyncio.run(add_accounts(sqlite_url, [site.url, "https://other.atlassian.net"]))
        gone = addon(env, "oauth", "disconnect", site.url, cwd=tmp_path)
        assert gone.returncode == 0, gone.stderr
        assert fake.webhooks(cloud_id) == []
        # No other door reaches the site: its people accounts go with it, another site's stay.
        assert "1 people account(s) erased" in gone.stdout, gone.stdout
        assert asyncio.run(account_sites(sqlite_url)) == ["https://other.atlassian.net"]
        [facts] = json.loads(addon(env, "oauth", "list", "--json", cwd=tmp_path).stdout)
        assert facts["status"] == "disconnected" and facts["webhooks"] == []


def test_an_api_token_is_read_from_standard_input_only_and_stored_encrypted(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = environment(sqlite_url, "http://127.0.0.1:9")
    token = "ATATT3xFfGF0-the-api-token-" + "t" * 20
    assert addon(env, "sources", "add", "jira", "--mode", "bearer", cwd=tmp_path).returncode == 0
    helped = addon(env, "sources", "token", "--help", cwd=tmp_path)
    assert "--token" not in helped.stdout and "standard input" in helped.stdout
    on_argv = addon(
        env,
        "sources",
        "token",
        "jira",
        "--url",
        "https://acme.atlassian.net",
        "--email",
        "ada@example.com",
        token,
        cwd=tmp_path,
    )
    assert on_argv.returncode == 2 and "unrecognized arguments" in on_argv.stderr
    empty = addon(
        env,
        "sources",
        "token",
        "jira",
        "--url",
        "https://acme.atlassian.net",
        "--email",
        "ada@example.com",
        cwd=tmp_path,
    )
    assert empty.returncode != 0 and "standard input" in empty.stderr
    bound = addon(
        env,
        "sources",
        "token",
        "jira",
        "--url",
        "https://ACME.atlassian.net/",
        "--email",
        "ada@example.com",
        stdin=token + "\n",
        cwd=tmp_path,
    )
    assert bound.returncode == 0, bound.stderr
    assert token not in bound.stdout + bound.stderr
    no_source = addon(
        env,
        "sources",
        "token",
        "nope",
        "--url",
        "https://acme.atlassian.net",
        "--email",
        "ada@example.com",
        stdin=token,
        cwd=tmp_path,
    )
    assert no_source.returncode == 1 and "no source 'nope'" in no_source.stderr

    async def check() -> None:
        store = await open_store(sqlite_url, keys=(raw_key(KEY),))
        try:
            row = await store.db.fetch_one("SELECT api_token FROM source_api_tokens")
            assert row is not None and token not in row["api_token"]
            door = SourceDoor()
            async with httpx.AsyncClient() as http:
                await door.start(Runtime(store=store, http=http))
            factory = await door.site_client("https://acme.atlassian.net")
            assert factory is not None and factory.site_url == "https://acme.atlassian.net"
            by_origin = await door.jira_client(Origin("source", "jira"))
            assert by_origin is not None
            async with factory() as jira:
                request = jira.build_request("GET", "/rest/api/3/myself")
                assert jira.auth is not None
                flow = jira.auth.async_auth_flow(request)
                signed = await flow.__anext__()
                await flow.aclose()
            expected = base64.b64encode(f"ada@example.com:{token}".encode()).decode()
            assert signed.headers["authorization"] == f"Basic {expected}"
            assert str(signed.url) == "https://acme.atlassian.net/rest/api/3/myself"
            assert await door.site_client("https://other.atlassian.net") is None
        finally:
            await store.db.disconnect()

    asyncio.run(check())


def test_keys_rotate_rewrites_site_tokens_and_api_tokens_under_the_new_key(
    sqlite_url: str, tmp_path: Path
) -> None:
    with running_fake() as (fake, fake_url):

        async def connect() -> str:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                return (await flow.connect()).cloud_id

        cloud_id = asyncio.run(connect())
        env = environment(sqlite_url, fake_url)
        assert (
            addon(env, "sources", "add", "jira", "--mode", "bearer", cwd=tmp_path).returncode == 0
        )
        bound = addon(
            env,
            *("sources", "token", "jira", "--url", "https://acme.atlassian.net"),
            *("--email", "ada@example.com"),
            stdin="api-token-" + "a" * 30,
            cwd=tmp_path,
        )
        assert bound.returncode == 0, bound.stderr
        new_key = generate_key()
        rotated = addon(
            {**env, "ADDON_ENCRYPTION_KEY": f"{new_key},{KEY}"}, "keys", "rotate", cwd=tmp_path
        )
        assert rotated.returncode == 0, rotated.stderr

        async def read_with_the_new_key_only() -> None:
            store = await open_store(sqlite_url, keys=(raw_key(new_key),), encrypt_existing=False)
            try:
                site = await SiteStore(store.db, store.box).get(cloud_id)
                assert site is not None and site.access_token and site.refresh_token
                token = await ApiTokens(store.db, store.box).get("jira")
                assert token is not None and token.token == "api-token-" + "a" * 30
            finally:
                await store.db.disconnect()

        asyncio.run(read_with_the_new_key_only())


def test_a_refresh_token_ending_within_a_month_is_warned_on_the_sites_page_and_in_the_list(
    sqlite_url: str, tmp_path: Path
) -> None:
    with running_fake() as (fake, fake_url):

        async def connect_then_look() -> tuple[str, str, str]:
            async with serving(flow_settings(sqlite_url, fake_url), fake, clock=False) as flow:
                flow.door.clock = lambda: time.time() - 300 * DAY  # consent given 300 days ago
                site = await flow.connect()
                flow.door.clock = time.time
                early = await flow.http.get(flow.url + "/inspector/sites", auth=AUTH)
                flow.door.clock = lambda: time.time() + 40 * DAY  # 25 days left
                late = await flow.http.get(flow.url + "/inspector/sites", auth=AUTH)
                assert early.status_code == late.status_code == 200
                return site.url, early.text, late.text

        url, early, late = asyncio.run(connect_then_look())
        warning = "the refresh token ends within a month"
        assert warning not in early and url in early
        assert warning in late and "only a new consent (/oauth/connect) renews it" in late
        env = environment(sqlite_url, fake_url)
        [facts] = json.loads(addon(env, "oauth", "list", "--json", cwd=tmp_path).stdout)
        assert facts["refresh_token_warning"] is None  # 65 days left now
        asyncio.run(shorten_refresh_token_life(sqlite_url, days=20))
        listed = addon(env, "oauth", "list", cwd=tmp_path)
        assert f"{url}: {warning}" in listed.stdout, listed.stdout
        [facts] = json.loads(addon(env, "oauth", "list", "--json", cwd=tmp_path).stdout)
        assert warning in facts["refresh_token_warning"]


async def shorten_refresh_token_life(database_url: str, *, days: float) -> None:
    store = await open_store(database_url, keys=(raw_key(KEY),))
    try:
        await store.db.execute(
            "UPDATE oauth_sites SET refresh_expires_at = ?", (time.time() + days * DAY,)
        )
    finally:
        await store.close()
