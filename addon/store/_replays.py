"""Replay records: what tells a captured token sent again from Jira's own deliveries.

Connect's signature covers the method, path and query (`qsh`) but not the body, and Connect tokens
carry no `jti`, so a captured token could otherwise be sent again with another body while its
`exp` lasts. Both records are in the database, so every instance agrees.

- A lifecycle token is kept, with the digest of the first body it came with, until it expires:
  Jira retries a callback with the same token and body, an attacker changes the body.
- A webhook token's digest is kept with its delivery (and pruned with it). Jira sends byte-identical
  tokens for two webhooks to the same URL in the same second, so a token seen again under another
  identifier is accepted and marked `token_reused`; under the identifier it came with before (or
  again without one), only with the body it came with.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

from addon.store._db import Connection, Db, Row
from addon.store._records import DeliveryStatus, NewDelivery, Recorded

__all__ = [
    "DIGEST_SIZE",
    "REPLAYED",
    "LifecycleTokens",
    "Seen",
    "first_sightings",
    "judge",
    "replay_digest",
    "seen_in",
    "webhook_token_key",
]

DIGEST_SIZE = 16
REPLAYED = "token_replayed"
REPLAYED_REASON = (
    "this token was already used with the same webhook identifier and another body;"
    " the signature does not cover the body, so this is a replay"
)


def replay_digest(data: str | bytes) -> bytes:
    """The digest a replay record compares: SHA-256 of a token or a body, cut to 128 bits."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(raw).digest()[:DIGEST_SIZE]


def webhook_token_key(token: str, expires_at: int) -> bytes:
    """What the delivery log keeps of a webhook token: its `exp` (big-endian), then its digest.

    Keys of new tokens are near each other, at the end of the index, instead of each on a random
    page of it: a batch of deliveries writes a few index pages, not one per delivery.
    """
    return max(expires_at, 0).to_bytes(8, "big") + replay_digest(token)


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


@dataclass(frozen=True, slots=True)
class Seen:
    """A delivery a new one is compared with: the accepted one with its webhook identifier, or
    the first to carry its token."""

    id: int
    webhook_id: str | None
    token_digest: bytes | None
    body: bytes

    def replayed_by(self, delivery: NewDelivery) -> bool:
        """Whether `delivery` is this one's token and identifier with another body."""
        return (
            delivery.token_digest is not None
            and self.token_digest == delivery.token_digest
            and self.webhook_id == delivery.webhook_id
            and self.body != delivery.body
        )


def seen_in(row: Row) -> Seen:
    """A stored delivery (`id`, `webhook_id`, `token_digest`, `body`) to compare with."""
    digest = row["token_digest"]
    return Seen(
        int(row["id"]),
        row["webhook_id"],
        None if digest is None else bytes(digest),
        bytes(row["body"] or b""),
    )


async def first_sightings(conn: Connection, batch: Sequence[NewDelivery]) -> dict[bytes, Seen]:
    """The first stored delivery of each token in `batch`, by digest: one probe each of a unique
    index that holds only first sightings, however often a token was sent."""
    digests = {d.token_digest for d in batch if d.token_digest is not None}
    if not digests:
        return {}
    marks = ", ".join("?" for _ in digests)
    rows = await conn.fetch_all(
        "SELECT webhook_id, id, token_digest, body FROM deliveries"
        + ("" if conn.postgres else " INDEXED BY deliveries_first_of_token")
        + " WHERE token_digest IS NOT NULL AND token_reused = 0"
        + f" AND token_digest IN ({marks})",
        tuple(digests),
    )
    return {bytes(row["token_digest"]): seen_in(row) for row in rows}


def judge(
    delivery: NewDelivery,
    delivery_id: int,
    firsts: dict[bytes, Seen],
    existing: dict[tuple[str, str | None, str | None], Seen],
    dedupe: tuple[str, str | None, str | None],
) -> tuple[Recorded, bytes | None]:
    """What `delivery` is, given those before it (`firsts` by token, `existing` accepted ones by
    `dedupe`, its origin and identifier as stored; both updated): its outcome, and the digest of
    its token to keep with it."""
    digest = delivery.token_digest
    first = firsts.get(digest) if digest is not None else None
    guarded = delivery.status is DeliveryStatus.ACCEPTED and delivery.webhook_id is not None
    same_identifier = existing.get(dedupe) if guarded else None
    if any(seen.replayed_by(delivery) for seen in (first, same_identifier) if seen is not None):
        rejected = Recorded(
            delivery_id, DeliveryStatus.REJECTED, token_reused=True, reason=REPLAYED_REASON
        )
        return rejected, None
    seen = Seen(delivery_id, delivery.webhook_id, digest, delivery.body)
    if digest is not None and first is None:
        firsts[digest] = seen
    if same_identifier is not None:
        # A retry is not marked, nor kept as its token's: the accepted delivery stands for it.
        duplicate = Recorded(delivery_id, DeliveryStatus.DUPLICATE, same_identifier.id)
        return duplicate, digest if first is None else None
    if guarded:
        existing[dedupe] = seen
    return Recorded(delivery_id, delivery.status, token_reused=first is not None), digest
