"""The fake Jira for the sync on a loopback port, a client factory for it, and a movable clock."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx

from addon.simulator import FakeJiraWork
from addon.store import open_store
from addon.sync import (
    DEFAULT_PRIORITIES,
    DEFAULT_STATUSES,
    Adapter,
    ClientFactory,
    OutboxRunner,
    Pusher,
    SyncStore,
)
from tests.support.loopback import LoopbackServer


@dataclass
class Clock:
    at: float = field(default_factory=time.time)

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@contextlib.contextmanager
def running_jira(clock: Clock) -> Iterator[tuple[FakeJiraWork, str]]:
    fake = FakeJiraWork(clock=clock.now)
    with LoopbackServer(fake.app) as server:
        yield fake, server.url


def client_factory(fake: FakeJiraWork, url: str, token: str = "app-token") -> ClientFactory:
    """Opens a client on the site's REST root, as a door would (here: the gateway's shape)."""

    @contextlib.asynccontextmanager
    async def clients(site: str) -> AsyncIterator[httpx.AsyncClient]:
        cloud_id = next(s.cloud_id for s in fake.sites.values() if s.url == site)
        async with httpx.AsyncClient(
            base_url=f"{url}/ex/jira/{cloud_id}",
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
            timeout=10,
        ) as client:
            yield client

    return clients


def adapter_for(site_url: str, name: str = "tickets", **changes: object) -> Adapter:
    values: dict[str, object] = {
        "name": name,
        "site": site_url,
        "project_key": "DEV",
        "issue_type": "Task",
        "statuses": DEFAULT_STATUSES,
        "priorities": DEFAULT_PRIORITIES,
    }
    values.update(changes)
    return Adapter(**values)  # type: ignore[arg-type]


@dataclass
class Sync:
    store: SyncStore
    pusher: Pusher
    runner: OutboxRunner


@contextlib.asynccontextmanager
async def sync_parts(
    database_url: str,
    fake: FakeJiraWork,
    url: str,
    clock: Clock,
    *,
    owner: str = "instance-1",
    search_lag: float = 60.0,
) -> AsyncIterator[Sync]:
    store = await open_store(database_url)
    try:
        sync = SyncStore(store.db)
        pusher = Pusher(sync, client_factory(fake, url), clock=clock.now, search_lag=search_lag)
        yield Sync(sync, pusher, OutboxRunner(sync, pusher, owner=owner, clock=clock.now))
    finally:
        await store.db.disconnect()
