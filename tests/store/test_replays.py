"""Lifecycle replay records on both databases: first body wins, across instances, until expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from addon.store import Store, open_store, replay_digest, webhook_token_key

NOW = 1_800_000_000.0


def with_stores(url: str, scenario: Callable[[Store, Store], Awaitable[Any]]) -> Any:
    """Two stores on one database: two instances of the add-on."""

    async def go() -> Any:
        first, second = await open_store(url), await open_store(url)
        try:
            return await scenario(first, second)
        finally:
            await first.db.disconnect()
            await second.db.disconnect()

    return asyncio.run(go())


def test_the_first_body_of_a_token_is_the_only_one_it_may_come_with(database_url: str) -> None:
    async def scenario(a: Store, b: Store) -> None:
        admit_a, admit_b = a.lifecycle_tokens.admit, b.lifecycle_tokens.admit
        assert await admit_a("token-1", b'{"sharedSecret":"jira"}', expires_at=NOW + 60, now=NOW)
        assert await admit_b("token-1", b'{"sharedSecret":"jira"}', expires_at=NOW + 60, now=NOW)
        assert not await admit_b(
            "token-1", b'{"sharedSecret":"attacker"}', expires_at=NOW + 60, now=NOW
        )
        assert not await admit_a(
            "token-1", b'{"sharedSecret":"attacker"}', expires_at=NOW + 60, now=NOW
        )
        assert await admit_a("token-2", b'{"sharedSecret":"attacker"}', expires_at=NOW, now=NOW)

    with_stores(database_url, scenario)


def test_concurrent_first_sightings_agree_on_one_body(database_url: str) -> None:
    async def scenario(a: Store, b: Store) -> None:
        bodies = [f'{{"n":{n}}}'.encode() for n in range(8)]
        results = await asyncio.gather(
            *(
                (a if n % 2 else b).lifecycle_tokens.admit(
                    "token-raced", body, expires_at=NOW + 60, now=NOW
                )
                for n, body in enumerate(bodies)
            )
        )
        assert sorted(results) == [False] * 7 + [True]

    with_stores(database_url, scenario)


def test_records_are_kept_until_the_token_expires_then_pruned(database_url: str) -> None:
    async def scenario(a: Store, b: Store) -> None:
        for n in range(5):
            await a.lifecycle_tokens.admit(f"old-{n}", b"{}", expires_at=NOW + n, now=NOW)
        assert not await a.lifecycle_tokens.admit("old-4", b"[]", expires_at=NOW + 4, now=NOW + 4)
        await b.lifecycle_tokens.admit("new", b"{}", expires_at=NOW + 100, now=NOW + 4)
        rows = await a.db.fetch_all("SELECT token_digest FROM lifecycle_tokens")
        assert sorted(bytes(r["token_digest"]) for r in rows) == sorted(
            replay_digest(token) for token in ("old-4", "new")
        )

    with_stores(database_url, scenario)


def test_digests_are_short_and_never_the_token() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
    assert len(replay_digest(token)) == 16
    assert replay_digest(token) == replay_digest(token.encode())
    assert replay_digest(token) != replay_digest(token + "x")
    assert token.encode() not in replay_digest(token)


def test_webhook_token_keys_sort_by_expiry_then_differ_by_token() -> None:
    """New tokens' keys land together at the end of the index, not on a random page each."""
    keys = [webhook_token_key(f"token-{n}", 1_800_000_000 + n) for n in (3, 1, 2, 0)]
    assert sorted(keys) == [webhook_token_key(f"token-{n}", 1_800_000_000 + n) for n in range(4)]
    assert webhook_token_key("a", 1_800_000_000) != webhook_token_key("b", 1_800_000_000)
    assert webhook_token_key("a", 1_800_000_000).endswith(replay_digest("a"))
