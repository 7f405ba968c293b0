"""The OAuth door's rows: connected sites (tokens encrypted), their webhooks, consent states, and
the lease that lets one instance at a time refresh a site's tokens."""

from __future__ import annotations

import hashlib
import json

from addon.sites._errors import StateExpired, StateUnknown
from addon.sites._records import (
    REFRESH_TOKEN_LIFETIME,
    Resource,
    Site,
    SiteStatus,
    SiteWebhook,
    TokenGrant,
)
from addon.store import Db, SecretBox
from addon.store._db import Row

__all__ = ["SiteStore"]

HEARTBEAT = "oauth"

_COLUMNS = (
    "cloud_id, url, name, status, status_reason, scopes, projects, access_token, "
    "access_expires_at, refresh_token, refresh_expires_at, connected_at, updated_at, "
    "last_delivery_at, webhook_errors"
)


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class SiteStore:
    """Reads and writes the OAuth door's rows; every token passes through the `SecretBox`,
    bound to its site's cloudId."""

    def __init__(self, db: Db, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def _site(self, row: Row) -> Site:
        cloud_id = row["cloud_id"]
        refresh = row["refresh_token"]
        projects = row["projects"]
        return Site(
            cloud_id=cloud_id,
            url=row["url"],
            name=row["name"],
            status=SiteStatus(row["status"]),
            status_reason=row["status_reason"],
            scopes=tuple(row["scopes"].split()),
            projects=tuple(json.loads(projects)) if projects is not None else None,
            access_token=self._box.decrypt(row["access_token"], cloud_id),
            access_expires_at=float(row["access_expires_at"]),
            refresh_token=self._box.decrypt(refresh, cloud_id) if refresh else None,
            refresh_expires_at=row["refresh_expires_at"],
            connected_at=float(row["connected_at"]),
            updated_at=float(row["updated_at"]),
            last_delivery_at=row["last_delivery_at"],
            webhook_errors=tuple(json.loads(row["webhook_errors"] or "[]")),
        )

    async def get(self, site: str) -> Site | None:
        """The site whose cloudId or URL is `site`."""
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM oauth_sites WHERE cloud_id = ? OR url = ?",
            (site, site.rstrip("/")),
        )
        return self._site(row) if row is not None else None

    async def all(self) -> list[Site]:
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM oauth_sites ORDER BY url")
        return [self._site(row) for row in rows]

    async def connect(
        self,
        resource: Resource,
        grant: TokenGrant,
        *,
        now: float,
        projects: tuple[str, ...] | None = None,
    ) -> Site:
        """Store a consent for `resource`: a new site, or the same site connected again (a new
        consent renews the refresh token's end of life and clears `needs reconnect`)."""
        cloud_id = resource.cloud_id
        access = self._box.encrypt(grant.access_token, cloud_id)
        refresh = self._box.encrypt(grant.refresh_token, cloud_id) if grant.refresh_token else None
        refresh_end = now + REFRESH_TOKEN_LIFETIME if grant.refresh_token else None
        scopes = " ".join(grant.scopes or resource.scopes)
        chosen = json.dumps(list(projects)) if projects is not None else None
        values = (
            resource.url.rstrip("/"),
            resource.name,
            SiteStatus.CONNECTED.value,
            scopes,
            chosen,
            access,
            now + grant.expires_in,
            refresh,
            refresh_end,
            now,
        )
        async with self._db.connection() as conn, conn.transaction():
            changed = await conn.execute(
                "UPDATE oauth_sites SET url = ?, name = ?, status = ?, status_reason = NULL,"
                " scopes = ?, projects = ?, access_token = ?, access_expires_at = ?,"
                " refresh_token = ?, refresh_expires_at = ?, connected_at = ?, updated_at = ?,"
                " refresh_lease_owner = NULL, refresh_lease_until = NULL WHERE cloud_id = ?",
                (*values, now, cloud_id),
            )
            if not changed:
                await conn.execute(
                    "INSERT INTO oauth_sites (url, name, status, scopes, projects, access_token,"
                    " access_expires_at, refresh_token, refresh_expires_at, connected_at,"
                    " updated_at, cloud_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, now, cloud_id),
                )
        site = await self.get(cloud_id)
        assert site is not None
        return site

    async def take_refresh_lease(
        self, cloud_id: str, owner: str, *, now: float, seconds: float
    ) -> bool:
        """Become the one instance refreshing this site's tokens, unless another holds the lease."""
        changed = await self._db.execute(
            "UPDATE oauth_sites SET refresh_lease_owner = ?, refresh_lease_until = ?"
            " WHERE cloud_id = ? AND (refresh_lease_until IS NULL OR refresh_lease_until < ?)",
            (owner, now + seconds, cloud_id, now),
        )
        return changed == 1

    async def release_refresh_lease(self, cloud_id: str, owner: str) -> None:
        await self._db.execute(
            "UPDATE oauth_sites SET refresh_lease_owner = NULL, refresh_lease_until = NULL"
            " WHERE cloud_id = ? AND refresh_lease_owner = ?",
            (cloud_id, owner),
        )

    async def store_refreshed(
        self, cloud_id: str, owner: str, grant: TokenGrant, *, now: float
    ) -> bool:
        """Replace both tokens at once, only while `owner` holds the lease; False if it lost it."""
        refresh = self._box.encrypt(grant.refresh_token, cloud_id) if grant.refresh_token else None
        changed = await self._db.execute(
            "UPDATE oauth_sites SET access_token = ?, access_expires_at = ?,"
            " refresh_token = COALESCE(?, refresh_token), updated_at = ?"
            " WHERE cloud_id = ? AND refresh_lease_owner = ?",
            (
                self._box.encrypt(grant.access_token, cloud_id),
                now + grant.expires_in,
                refresh,
                now,
                cloud_id,
                owner,
            ),
        )
        return changed == 1

    async def set_status(
        self, cloud_id: str, status: SiteStatus, *, reason: str | None, now: float
    ) -> None:
        await self._db.execute(
            "UPDATE oauth_sites SET status = ?, status_reason = ?, updated_at = ? WHERE cloud_id = ?",
            (status.value, reason, now, cloud_id),
        )

    async def forget_tokens(self, cloud_id: str, *, now: float) -> None:
        """Disconnected: the tokens are gone (the site's deliveries stay in the log)."""
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE oauth_sites SET status = ?, status_reason = NULL, access_token = '',"
                " access_expires_at = 0, refresh_token = NULL, updated_at = ? WHERE cloud_id = ?",
                (SiteStatus.DISCONNECTED.value, now, cloud_id),
            )
            await conn.execute("DELETE FROM oauth_site_webhooks WHERE cloud_id = ?", (cloud_id,))

    async def record_webhook_errors(self, cloud_id: str, errors: list[str], *, now: float) -> None:
        """Jira's per-entry registration errors of the last attempt (none: cleared)."""
        await self._db.execute(
            "UPDATE oauth_sites SET webhook_errors = ?, updated_at = ? WHERE cloud_id = ?",
            (json.dumps([error[:500] for error in errors[:20]]) if errors else None, now, cloud_id),
        )

    async def record_delivery(self, cloud_id: str, *, now: float) -> None:
        await self._db.execute(
            "UPDATE oauth_sites SET last_delivery_at = ? WHERE cloud_id = ?", (now, cloud_id)
        )

    async def webhooks(self, cloud_id: str) -> list[SiteWebhook]:
        rows = await self._db.fetch_all(
            "SELECT webhook_id, events, jql, expires_at FROM oauth_site_webhooks"
            " WHERE cloud_id = ? ORDER BY webhook_id",
            (cloud_id,),
        )
        return [
            SiteWebhook(
                int(row["webhook_id"]),
                tuple(row["events"].split(",")),
                row["jql"],
                row["expires_at"],
            )
            for row in rows
        ]

    async def save_webhooks(
        self, cloud_id: str, webhooks: list[SiteWebhook], *, now: float
    ) -> None:
        """Add these registrations, or update their expiry if already known."""
        async with self._db.connection() as conn, conn.transaction():
            for hook in webhooks:
                changed = await conn.execute(
                    "UPDATE oauth_site_webhooks SET events = ?, jql = ?, expires_at = ?"
                    " WHERE cloud_id = ? AND webhook_id = ?",
                    (",".join(hook.events), hook.jql, hook.expires_at, cloud_id, hook.webhook_id),
                )
                if not changed:
                    await conn.execute(
                        "INSERT INTO oauth_site_webhooks (cloud_id, webhook_id, events, jql,"
                        " expires_at, registered_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            cloud_id,
                            hook.webhook_id,
                            ",".join(hook.events),
                            hook.jql,
                            hook.expires_at,
                            now,
                        ),
                    )

    async def drop_webhooks(self, cloud_id: str, webhook_ids: list[int]) -> None:
        async with self._db.connection() as conn, conn.transaction():
            for webhook_id in webhook_ids:
                await conn.execute(
                    "DELETE FROM oauth_site_webhooks WHERE cloud_id = ? AND webhook_id = ?",
                    (cloud_id, webhook_id),
                )

    async def put_state(self, state: str, *, now: float, seconds: float) -> None:
        await self._db.execute(
            "INSERT INTO oauth_states (state_hash, created_at, expires_at) VALUES (?, ?, ?)",
            (_state_hash(state), now, now + seconds),
        )
        await self._db.execute("DELETE FROM oauth_states WHERE expires_at < ?", (now - 3600,))

    async def hold_consent(
        self,
        handle: str,
        grant: TokenGrant,
        resources: tuple[Resource, ...],
        *,
        now: float,
        seconds: float,
    ) -> None:
        """Keep a consent that covers several sites until the admin picks one (its grant
        encrypted, bound to `handle`, which only the admin's browser holds)."""
        digest = _state_hash(handle)
        sealed = self._box.encrypt(
            json.dumps(
                {
                    "access_token": grant.access_token,
                    "expires_in": grant.expires_in,
                    "refresh_token": grant.refresh_token,
                    "scopes": list(grant.scopes),
                }
            ),
            digest,
        )
        listed = json.dumps([[r.cloud_id, r.url, r.name, list(r.scopes)] for r in resources])
        await self._db.execute(
            "INSERT INTO oauth_pending_consents (consent_hash, grant_data, resources, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (digest, sealed, listed, now + seconds),
        )
        await self._db.execute(
            "DELETE FROM oauth_pending_consents WHERE expires_at < ?", (now - 3600,)
        )

    async def take_consent(
        self, handle: str, *, now: float
    ) -> tuple[TokenGrant, tuple[Resource, ...]]:
        """The held consent, once; `StateUnknown` if none is held, `StateExpired` if stale."""
        digest = _state_hash(handle)
        async with self._db.connection() as conn, conn.transaction():
            row = await conn.fetch_one(
                "SELECT grant_data, resources, expires_at FROM oauth_pending_consents"
                " WHERE consent_hash = ?",
                (digest,),
            )
            if row is None:
                raise StateUnknown("no site choice is under way here; start again")
            await conn.execute(
                "DELETE FROM oauth_pending_consents WHERE consent_hash = ?", (digest,)
            )
        if float(row["expires_at"]) < now:
            raise StateExpired("this site choice was offered more than ten minutes ago")
        data = json.loads(self._box.decrypt(row["grant_data"], digest))
        grant = TokenGrant(
            data["access_token"], data["expires_in"], data["refresh_token"], tuple(data["scopes"])
        )
        resources = tuple(
            Resource(cloud_id, url, name, tuple(scopes))
            for cloud_id, url, name, scopes in json.loads(row["resources"])
        )
        return grant, resources

    async def peek_consent(self, handle: str, *, now: float) -> tuple[Resource, ...]:
        """The sites a held consent covers, without using it up; `StateUnknown` if none is held
        (or it is stale)."""
        row = await self._db.fetch_one(
            "SELECT resources, expires_at FROM oauth_pending_consents WHERE consent_hash = ?",
            (_state_hash(handle),),
        )
        if row is None or float(row["expires_at"]) < now:
            raise StateUnknown("no site choice is under way in this browser; start again")
        return tuple(
            Resource(cloud_id, url, name, tuple(scopes))
            for cloud_id, url, name, scopes in json.loads(row["resources"])
        )

    async def last_heartbeat(self) -> float | None:
        """The last time an instance running the OAuth door said it was alive."""
        row = await self._db.fetch_one(
            "SELECT beat_at FROM oauth_heartbeat WHERE name = ?", (HEARTBEAT,)
        )
        return float(row["beat_at"]) if row is not None else None

    async def beat(self, *, now: float) -> None:
        await self._db.execute(
            "INSERT INTO oauth_heartbeat (name, beat_at) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET beat_at = excluded.beat_at",
            (HEARTBEAT, now),
        )

    async def reencrypt(self) -> int:
        """Rewrite every site's tokens under the first key (after ADDON_ENCRYPTION_KEY gained a
        new first key); returns the sites rewritten. `DecryptionError` names none of the tokens."""
        changed = 0
        for site in await self.all():
            if not site.access_token:
                continue
            refresh = (
                self._box.encrypt(site.refresh_token, site.cloud_id) if site.refresh_token else None
            )
            changed += await self._db.execute(
                "UPDATE oauth_sites SET access_token = ?, refresh_token = ? WHERE cloud_id = ?",
                (self._box.encrypt(site.access_token, site.cloud_id), refresh, site.cloud_id),
            )
        return changed

    async def consume_state(self, state: str, *, now: float) -> None:
        """Use up `state`, once; `StateUnknown` if never issued or used, `StateExpired` if stale."""
        digest = _state_hash(state)
        async with self._db.connection() as conn, conn.transaction():
            row = await conn.fetch_one(
                "SELECT expires_at FROM oauth_states WHERE state_hash = ?", (digest,)
            )
            if row is None:
                raise StateUnknown("this consent was already completed, or never started here")
            await conn.execute("DELETE FROM oauth_states WHERE state_hash = ?", (digest,))
        if float(row["expires_at"]) < now:
            raise StateExpired("this consent was started more than ten minutes ago; start again")
