"""Looking tenants up on the hot path: a very short cache in front of the store."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from addon.auth import UnknownTenant
from addon.store import Store, Tenant, TenantState

__all__ = ["TenantCache"]

MAX_ENTRIES = 10_000


class TenantCache:
    """Caches tenants for `ttl` seconds (0 disables it).

    Local changes invalidate at once; changes made by another instance on the same database are
    seen within `ttl` (default 0.5 s), which is how a secret rotated elsewhere is honoured.
    """

    def __init__(self, store: Store, *, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._entries: OrderedDict[str, tuple[float, Tenant | None]] = OrderedDict()
        self._fetches: dict[str, asyncio.Future[Tenant | None]] = {}

    async def get(self, client_key: str) -> Tenant | None:
        now = time.monotonic()
        entry = self._entries.get(client_key)
        if entry is not None and entry[0] > now:
            return entry[1]
        if self._ttl <= 0:
            return await self._store.tenants.get(client_key)
        # One read per tenant at a time: when the entry expires under load, the requests that
        # find it stale share the read already under way instead of each opening a connection.
        fetch = self._fetches.get(client_key)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch(client_key, now))
            self._fetches[client_key] = fetch
            fetch.add_done_callback(lambda done: self._fetched(client_key, done))
        return await asyncio.shield(fetch)

    async def _fetch(self, client_key: str, started: float) -> Tenant | None:
        tenant = await self._store.tenants.get(client_key)
        if self._fetches.get(client_key) is asyncio.current_task():  # not invalidated meanwhile
            self._entries[client_key] = (started + self._ttl, tenant)
            self._entries.move_to_end(client_key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return tenant

    def _fetched(self, client_key: str, fetch: asyncio.Future[Tenant | None]) -> None:
        if self._fetches.get(client_key) is fetch:
            del self._fetches[client_key]
        if not fetch.cancelled():
            fetch.exception()  # retrieved here too: its waiters may all have gone

    def invalidate(self, client_key: str) -> None:
        """Forget `client_key`: the next lookup reads the store, and a read already under way
        is neither cached nor shared with later lookups."""
        self._entries.pop(client_key, None)
        self._fetches.pop(client_key, None)

    async def secret_for(self, client_key: str) -> str | None:
        """The shared secret to verify a token from `client_key`; refuses uninstalled tenants."""
        tenant = await self.get(client_key)
        if tenant is None:
            return None
        if tenant.state is TenantState.UNINSTALLED or tenant.shared_secret is None:
            raise UnknownTenant(
                f"tenant {client_key} is uninstalled; install the add-on again on that site"
            )
        return tenant.shared_secret
