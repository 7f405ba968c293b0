"""Looking tenants up on the hot path: a very short cache in front of the store."""

from __future__ import annotations

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

    async def get(self, client_key: str) -> Tenant | None:
        now = time.monotonic()
        entry = self._entries.get(client_key)
        if entry is not None and entry[0] > now:
            return entry[1]
        tenant = await self._store.tenants.get(client_key)
        if self._ttl > 0:
            self._entries[client_key] = (now + self._ttl, tenant)
            self._entries.move_to_end(client_key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return tenant

    def invalidate(self, client_key: str) -> None:
        self._entries.pop(client_key, None)

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
