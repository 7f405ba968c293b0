"""The consent's start: the authorize URL, the state cookie, and every way a callback is refused."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from addon.errors import Refusal
from addon.sites import (
    STATE_COOKIE,
    SiteStore,
    StateExpired,
    StateForeign,
    StateMissing,
    StateUnknown,
    authorize_url,
    check_state,
    start_consent,
)
from addon.store import open_store


def test_the_authorize_url_asks_atlassian_for_consent_to_this_app() -> None:
    url = authorize_url(
        "https://auth.example.com/",
        client_id="cid",
        scopes=("read:jira-work", "offline_access"),
        base_url="https://addon.example.com/jira",
        state="st",
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.example.com/authorize"
    assert parse_qs(parts.query) == {
        "audience": ["api.atlassian.com"],
        "client_id": ["cid"],
        "scope": ["read:jira-work offline_access"],
        "redirect_uri": ["https://addon.example.com/jira/oauth/callback"],
        "state": ["st"],
        "response_type": ["code"],
        "prompt": ["consent"],
    }


def test_the_state_cookie_is_http_only_lax_and_secure_on_https(sqlite_url: str) -> None:
    async def scenario() -> None:
        store = await open_store(sqlite_url)
        try:
            sites = SiteStore(store.db, store.box)
            cookie = await start_consent(sites, base_url="https://addon.example.com/jira", now=0)
            assert cookie.name == STATE_COOKIE
            assert (cookie.secure, cookie.httponly, cookie.samesite) == (True, True, "lax")
            assert cookie.path == "/jira/oauth/callback"
            assert cookie.max_age == 600
            assert len(cookie.value) >= 40
            plain = await start_consent(sites, base_url="http://127.0.0.1:8000", now=0)
            assert not plain.secure and plain.path == "/oauth/callback"
            assert plain.value != cookie.value
            row = await store.db.fetch_one("SELECT state_hash FROM oauth_states LIMIT 1")
            assert row is not None and row["state_hash"] not in (cookie.value, plain.value)
        finally:
            await store.db.disconnect()

    asyncio.run(scenario())


def test_a_state_is_checked_once_from_any_instance_and_refused_otherwise(
    database_url: str,
) -> None:
    async def scenario() -> None:
        one, two = await open_store(database_url), await open_store(database_url)
        try:
            first, second = SiteStore(one.db, one.box), SiteStore(two.db, two.box)
            cookie = await start_consent(first, base_url="https://a.example", now=1000)
            refusals: list[Refusal] = []
            for state, browser in ((None, cookie.value), (cookie.value, None), ("", "")):
                with pytest.raises(StateMissing) as missing:
                    await check_state(second, state=state, cookie=browser, now=1001)
                refusals.append(missing.value)
            with pytest.raises(StateForeign) as foreign:
                await check_state(second, state=cookie.value, cookie="another", now=1001)
            refusals.append(foreign.value)
            # Refused callbacks changed nothing: the right one, on the other instance, passes.
            await check_state(second, state=cookie.value, cookie=cookie.value, now=1001)
            with pytest.raises(StateUnknown) as reused:
                await check_state(first, state=cookie.value, cookie=cookie.value, now=1002)
            refusals.append(reused.value)
            with pytest.raises(StateUnknown):
                await check_state(first, state="never-issued", cookie="never-issued", now=1002)
            stale = await start_consent(first, base_url="https://a.example", now=1000)
            with pytest.raises(StateExpired) as expired:
                await check_state(first, state=stale.value, cookie=stale.value, now=1000 + 601)
            refusals.append(expired.value)
            assert all(r.status == 400 and r.reason for r in refusals)
            assert all(cookie.value not in r.reason for r in refusals)
        finally:
            await one.db.disconnect()
            await two.db.disconnect()

    asyncio.run(scenario())
