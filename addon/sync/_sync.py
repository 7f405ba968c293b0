"""The sync as the running app offers it: `push` for handlers and the user's code, the outbox as
background jobs, and status coming back from the worker's deliveries.

Built once by the app factory (`app.state.services.sync`, `event.sync` in handlers); reaches a
site's Jira through whichever door knows it (`Reach.client_for`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from addon.doors import JiraClientFactory, Job
from addon.handlers import NoJiraClient
from addon.store import Db, Delivery
from addon.sync._derive import Derive, OriginClient, Record
from addon.sync._errors import InvalidItem, JiraUnavailable, SyncError, UnknownAdapter
from addon.sync._incoming import StatusCategories
from addon.sync._jira import ClientFactory
from addon.sync._outbox import LEASE_SECONDS, OutboxRunner
from addon.sync._push import SEARCH_LAG_SECONDS, Pusher
from addon.sync._records import Change, Link, OutboxEntry, OutboxState, check_item_id
from addon.sync._store import SyncStore

__all__ = ["OUTBOX_EVERY", "PRUNE_AFTER", "Pushed", "SiteClients", "Sync", "sync_of"]

SiteClients = Callable[[str], Awaitable[JiraClientFactory]]
"""A site's Jira client factory by its URL (`Reach.client_for`); raises `LookupError` when no
door can call it."""

logger = logging.getLogger("addon.sync")

OUTBOX_EVERY = 1.0
"""Seconds between two looks for outbox entries that are due (retries, resumed work)."""
PRUNE_AFTER = 7 * 86400.0
AT_ONCE_HOLD = 30.0
"""A change queued to run at once is left to the outbox job only after this many seconds (if the
process stopped before it ran)."""
UNREACHABLE_RETRY = 60.0


@dataclass(frozen=True, slots=True)
class Pushed:
    """What a push did: its outbox entry (done, or queued with its last error) and the link,
    once the issue exists (`link.issue_key`, `link.browse_url`)."""

    entry: OutboxEntry
    link: Link | None

    @property
    def done(self) -> bool:
        return self.entry.state is OutboxState.DONE


class Sync:
    """One app's sync: adapters, links and outbox in the store; Jira through `sites`."""

    def __init__(
        self,
        db: Db,
        sites: SiteClients,
        *,
        record: Record,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease: float = LEASE_SECONDS,
        search_lag: float = SEARCH_LAG_SECONDS,
        outbox_every: float = OUTBOX_EVERY,
    ) -> None:
        self.store = SyncStore(db)
        self._sites = sites
        self._clock = clock
        self._outbox_every = outbox_every
        self._background: set[asyncio.Future[OutboxEntry | None]] = set()
        owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.pusher = Pusher(self.store, self._clients, clock=clock, search_lag=search_lag)
        self.runner = OutboxRunner(self.store, self.pusher, owner=owner, clock=clock, lease=lease)
        categories = StatusCategories(self._clients, clock=clock)
        self._derive = Derive(self.store, categories, record, clock=clock)

    @property
    def clients(self) -> ClientFactory:
        return self._clients

    @contextlib.asynccontextmanager
    async def _clients(self, site: str) -> AsyncIterator[httpx.AsyncClient]:
        try:
            factory = await self._sites(site)
        except LookupError as exc:
            raise JiraUnavailable(str(exc), retry_after=UNREACHABLE_RETRY) from None
        try:
            async with factory() as client:
                yield client
        except SyncError:
            raise
        except NoJiraClient as exc:  # e.g. a Forge installation without a system token yet
            raise JiraUnavailable(f"{site}: {exc}", retry_after=UNREACHABLE_RETRY) from None
        except Exception as exc:
            # The door could not sign a call (an OAuth token it could not refresh): retried
            # later; a create it broke off stays unclear, so it is searched for before again.
            logger.info("sync: the door of %s could not call Jira: %s", site, type(exc).__name__)
            raise JiraUnavailable(
                f"{site}: the door could not call Jira ({type(exc).__name__}: {exc})",
                retry_after=UNREACHABLE_RETRY,
            ) from None

    async def push(
        self,
        adapter: str,
        item_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        status: str | None = None,
        priority: str | None = None,
    ) -> Pushed:
        """Queue the item's change durably, then try it at once: `Pushed.done` when Jira has it,
        else it stays queued and the outbox retries it (after Jira's `Retry-After`)."""
        change = Change(title=title, description=description, status=status, priority=priority)
        entry_id = await self.queue(adapter, item_id, change, at_once=True)
        return await self.run(entry_id)

    async def queue(
        self, adapter: str, item_id: str, change: Change, *, at_once: bool = False
    ) -> int:
        """Check the change against the adapter and write it to the outbox; its entry's id.

        `at_once`: the caller runs it next (`run`), so the outbox job leaves it alone until then.
        """
        check_item_id(item_id)
        found = await self.store.adapter(adapter)
        if found is None:
            raise UnknownAdapter(f"no adapter named {adapter!r} (addon sync list shows them)")
        Pusher.check_mapped(found, change)
        if not change.as_dict():
            raise InvalidItem("give at least one of title, description, status, priority")
        if change.title is None and await self.store.link(adapter, item_id) is None:
            raise InvalidItem("the first push of an item needs a title")
        now = self._clock()
        later = now + AT_ONCE_HOLD if at_once else None
        return await self.store.enqueue(adapter, item_id, change, now=now, not_before=later)

    async def run(self, entry_id: int, *, wait: float | None = None) -> Pushed:
        """Run entry `entry_id` now if it is due and first in its item's line; how it stands.

        With `wait`, answer after that many seconds at most: the attempt goes on in the
        background (a slow Jira, its own `Retry-After` waits) and the outbox records its outcome.
        """
        attempt = asyncio.ensure_future(self._run_now(entry_id))
        if wait is None:
            await attempt
        else:
            self._background.add(attempt)
            attempt.add_done_callback(self._settled)
            await asyncio.wait({attempt}, timeout=wait)
        entry = await self.store.entry(entry_id)
        if entry is None:
            raise LookupError(f"no outbox entry {entry_id}")
        link = await self.store.link(entry.adapter, entry.item_id)
        return Pushed(entry, link if link is not None and link.issue_id is not None else None)

    async def _run_now(self, entry_id: int) -> OutboxEntry | None:
        ran = await self.runner.run_once(entry_id, early=True)
        if ran is None:  # an earlier change of the item is not done yet: due with the others
            await self.store.reschedule(entry_id, at=self._clock())
        return ran

    def _settled(self, attempt: asyncio.Future[OutboxEntry | None]) -> None:
        self._background.discard(attempt)
        if not attempt.cancelled() and attempt.exception() is not None:
            logger.warning("sync: an outbox attempt failed: %s", attempt.exception())

    async def run_due(self) -> int:
        """Run every outbox entry that is due (retries, and work a stopped instance left)."""
        return await self.runner.run_due()

    async def prune(self) -> None:
        await self.store.prune(before=self._clock() - PRUNE_AFTER)

    def jobs(self) -> list[Job]:
        """The outbox, and forgetting old echo and exactly-once records, as leased jobs."""
        return [
            Job("sync-outbox", self._outbox_every, self._run_due),
            Job("sync-prune", 3600.0, self.prune),
        ]

    async def _run_due(self) -> None:
        await self.run_due()

    async def observe(
        self, delivery: Delivery, *, site_url: str | None, client: OriginClient | None
    ) -> int:
        """Feed an accepted delivery from any door to the incoming logic; records the derived
        `sync:status_changed` / `sync:issue_changed` deliveries; returns how many."""
        return await self._derive.observe(delivery, site_url=site_url, client=client)


def sync_of(app: Any) -> Sync:
    """The running app's `Sync`, for code outside handlers (a route, a task started with the app):

    from addon import sync_of
    pushed = await sync_of(request.app).push("tickets", "T-1", title="Printer on fire")
    """
    services = getattr(getattr(app, "state", None), "services", None)
    sync = getattr(services, "sync", None)
    if not isinstance(sync, Sync):
        raise RuntimeError("the app has not started: its sync exists while it runs (lifespan)")
    return sync
