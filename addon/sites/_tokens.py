"""A site's access token, refreshed before it expires, by one instance at a time.

Atlassian rotates refresh tokens: each refresh spends the one sent, which stays usable only for a
10-minute leeway, and reusing it later "invalidates all refresh tokens, and requires the user to
re-consent" (Atlassian, "Updated: 31 January 2022 - Action required - Deprecating persistent
refresh tokens", community.developer.atlassian.com/t/54172; the leeway was raised from 3 seconds
to 10 minutes, Atlassian in .../t/50348). So two instances must never refresh
the same site at once: the one that takes the site's lease (a conditional UPDATE, the same on
SQLite and PostgreSQL) refreshes and stores both new tokens in one statement; the others wait for
its result and use it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from addon.sites._api import AtlassianApi
from addon.sites._errors import InvalidGrant, NeedsReconnect
from addon.sites._records import Site, SiteStatus
from addon.sites._store import SiteStore

__all__ = ["TokenKeeper"]

logger = logging.getLogger("addon.sites")

EARLY_SECONDS = 300.0
LEASE_SECONDS = 60.0
WAIT_STEP_SECONDS = 0.05


class TokenKeeper:
    """Hands out a site's current access token, refreshing it when fewer than five minutes remain."""

    def __init__(
        self,
        store: SiteStore,
        api: AtlassianApi,
        *,
        clock: Callable[[], float],
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._store = store
        self._api = api
        self._clock = clock
        self._owner = owner or secrets.token_hex(8)
        self._lease_seconds = lease_seconds
        self._local: dict[str, asyncio.Lock] = {}

    async def access_token(
        self, cloud_id: str, *, force: bool = False, rejected: str | None = None
    ) -> str:
        """A usable access token for the site; `force` refreshes even a fresh one (once).

        `rejected` is a token Atlassian refused (a 401): the site is refreshed unless its stored
        token is already another one, which a caller in this or another instance got meanwhile.
        """
        # Callers in this instance queue here; instances queue on the lease in the database.
        async with self._local.setdefault(cloud_id, asyncio.Lock()):
            if rejected is not None:
                return await self._access_token(cloud_id, force=True, seen=rejected)
            return await self._access_token(cloud_id, force=force)

    async def _access_token(self, cloud_id: str, *, force: bool, seen: str | None = None) -> str:
        while True:
            site = await self._current(cloud_id)
            if seen is None:
                seen = site.access_token
            fresh = site.access_expires_at - EARLY_SECONDS > self._clock()
            if (fresh and not force) or (force and site.access_token != seen):
                return site.access_token
            now = self._clock()
            if await self._store.take_refresh_lease(
                cloud_id, self._owner, now=now, seconds=self._lease_seconds
            ):
                try:
                    return await self._refresh(cloud_id, seen=seen, force=force)
                finally:
                    await self._store.release_refresh_lease(cloud_id, self._owner)
            await asyncio.sleep(WAIT_STEP_SECONDS)

    async def _current(self, cloud_id: str) -> Site:
        site = await self._store.get(cloud_id)
        if site is None:
            raise NeedsReconnect(f"no site {cloud_id} is connected")
        if site.status is not SiteStatus.CONNECTED:
            raise NeedsReconnect(f"{site.url} is {site.status.value}; connect it again")
        return site

    async def _refresh(self, cloud_id: str, *, seen: str, force: bool) -> str:
        # Read again under the lease: another instance may have refreshed in the meantime.
        site = await self._current(cloud_id)
        now = self._clock()
        if site.access_token != seen or (
            not force and site.access_expires_at - EARLY_SECONDS > now
        ):
            return site.access_token
        if site.refresh_token is None:
            await self._needs_reconnect(site, "no refresh token (offline_access not granted)")
        assert site.refresh_token is not None
        try:
            grant = await self._api.refresh(site.refresh_token)
        except InvalidGrant as exc:
            await self._needs_reconnect(site, str(exc))
        if not await self._store.store_refreshed(cloud_id, self._owner, grant, now=self._clock()):
            # The lease ran out during the call and another instance took over; its result wins
            # only if it stored one, so keep this grant's access token for this one call.
            logger.warning("oauth site %s: refresh lease lost during the refresh", site.url)
        return grant.access_token

    async def _needs_reconnect(self, site: Site, reason: str) -> None:
        await self._store.set_status(
            site.cloud_id, SiteStatus.NEEDS_RECONNECT, reason=reason[:300], now=self._clock()
        )
        logger.warning(
            "oauth site %s needs reconnect: Atlassian refused its refresh token (%s); its"
            " background work stops until an admin connects it again",
            site.url,
            reason[:300],
        )
        raise NeedsReconnect(f"{site.url} needs reconnect: {reason[:300]}")
