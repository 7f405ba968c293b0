"""Run one outbox entry against the fake Jira and die (os._exit) as soon as Jira has answered
the create: the issue exists in Jira, the link does not know it. For test_outbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator

import httpx

from addon.store import open_store
from addon.sync import OutboxRunner, Pusher, SyncStore


async def main(database_url: str, base_url: str) -> None:
    async def die_after_create(response: httpx.Response) -> None:
        if response.request.method == "POST" and response.request.url.path.endswith("/issue"):
            os._exit(9)

    @contextlib.asynccontextmanager
    async def clients(site: str) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": "Bearer app-token"},
            event_hooks={"response": [die_after_create]},
            trust_env=False,
        ) as client:
            yield client

    store = await open_store(database_url)
    sync = SyncStore(store.db)
    pusher = Pusher(sync, clients, clock=time.time)
    await OutboxRunner(sync, pusher, owner="doomed", clock=time.time).run_once()
    sys.exit("the create was not reached")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
