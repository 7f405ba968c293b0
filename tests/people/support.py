"""Running a scenario on a migrated store (SQLite file or PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from addon.people import Directory, PeopleStore
from addon.store import HandlerState, Store, open_store

SITE = "https://acme.atlassian.net"
OTHER_SITE = "https://globex.atlassian.net"


def run(url: str, scenario: Callable[[Store, Directory], Awaitable[None]]) -> None:
    async def go() -> None:
        store = await open_store(url, handler_state=HandlerState.PENDING)
        await store.start()
        try:
            await scenario(store, Directory(PeopleStore(store.db)))
        finally:
            await store.close()

    asyncio.run(go())
