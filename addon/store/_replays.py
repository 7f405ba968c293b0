"""Replay records: a lifecycle token is kept, with the body it came with, until it expires.

Connect's signature covers the method, path and query (`qsh`) but not the body, so a captured
signed install could otherwise be sent again with another `sharedSecret` or `baseUrl` while its
`exp` lasts. The first body a token arrives with is the one it may come with again (Jira retries a
callback with the same token and body); the record is in the database, so every instance agrees.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from addon.store._db import Db

__all__ = ["DIGEST_SIZE", "LifecycleTokens", "replay_digest"]

DIGEST_SIZE = 16


def replay_digest(data: str | bytes) -> bytes:
    """The digest a replay record compares: SHA-256 of a token or a body, cut to 128 bits."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(raw).digest()[:DIGEST_SIZE]


class LifecycleTokens:
    """Lifecycle tokens seen, each with the digest of its body, until the token expires."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def admit(
        self, token: str, body: bytes, *, expires_at: float, now: float | None = None
    ) -> bool:
        """Record `token` with `body` until `expires_at`; False if it came before with another body.

        Expired records are removed on the way: they can only ever match an expired token.
        """
        token_digest, body_digest = replay_digest(token), replay_digest(body)
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM lifecycle_tokens WHERE expires_at < ?",
                (time.time() if now is None else now,),
            )
            await conn.execute(
                "INSERT INTO lifecycle_tokens (token_digest, body_digest, expires_at)"
                " VALUES (?, ?, ?) ON CONFLICT (token_digest) DO NOTHING",
                (token_digest, body_digest, expires_at),
            )
            row = await conn.fetch_one(
                "SELECT body_digest FROM lifecycle_tokens WHERE token_digest = ?", (token_digest,)
            )
        return row is not None and hmac.compare_digest(bytes(row["body_digest"]), body_digest)
