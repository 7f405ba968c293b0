"""Reading the delivery log: filtered keyset pages, single deliveries, the live tail, retention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from addon.store._db import Db
from addon.store._records import Delivery

__all__ = ["DeliveryFilter", "DeliveryReads"]

PRUNE_CHUNK = 5_000
BROAD_PREFIX = 2_000

_BY_ID = "INDEXED BY deliveries_one_accepted"
_ACCEPTED_ID_IN_RANGE = "d.status = 'accepted' AND d.webhook_id >= ? AND d.webhook_id < ?"
_KEYS_OF_DELIVERY = "delivery_keys_of_delivery"
_DELIVERIES_WITH_KEY_IN_RANGE = (
    "SELECT delivery_id FROM delivery_keys WHERE search_key >= ? AND search_key < ?"
)
_KEYS_IN_RANGE = "SELECT 1 FROM delivery_keys WHERE search_key >= ? AND search_key < ?"
_ACCEPTED_IDS_IN_RANGE = (
    "SELECT 1 FROM deliveries {hint} "
    "WHERE status = 'accepted' AND webhook_id >= ? AND webhook_id < ?"
)


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """What to list. `q` matches a key a delivery names exactly, or as a prefix when it ends in '*'."""

    event: str | None = None
    origin: str | None = None
    origin_kind: str | None = None
    status: str | None = None
    q: str | None = None


class DeliveryReads:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def page(
        self, where: DeliveryFilter, *, limit: int, before_id: int | None = None
    ) -> list[Delivery]:
        """Newest first, strictly older than `before_id` (keyset pagination)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("d.event", where.event),
            ("d.origin", where.origin),
            ("d.origin_kind", where.origin_kind),
            ("d.status", where.status),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            clauses.append("d.id < ?")
            params.append(before_id)
        if not where.q:
            return await self._select(clauses, params, limit=limit)
        # A key is in delivery_keys, except an accepted delivery's webhook identifier, which is in
        # deliveries_one_accepted (identifier first): each match is looked up in both.
        if where.q.endswith("*") and len(where.q) > 1:
            found = await self._by_prefix(where.q[:-1], clauses, params, limit)
        else:
            by_key = await self._select(
                [*clauses, "k.search_key = ?"],
                [*params, where.q],
                limit=limit,
                join="JOIN delivery_keys k ON k.delivery_id = d.id",
                order="k.delivery_id",
            )
            by_identifier = await self._select(
                [*clauses, "d.status = 'accepted' AND d.webhook_id = ?"],
                [*params, where.q],
                limit=limit,
                index=_BY_ID,
            )
            found = [*by_key, *by_identifier]
        merged = {d.id: d for d in found}
        return sorted(merged.values(), key=lambda d: d.id, reverse=True)[:limit]

    async def _by_prefix(
        self, prefix: str, clauses: list[str], params: list[Any], limit: int
    ) -> list[Delivery]:
        """Deliveries with a key or accepted identifier starting with `prefix`, up to a page each.

        A narrow prefix is answered from the indexes: collect the matches, sort, take a page. For a
        broad one that would mean sorting many thousands, so the newest are found by walking: keys
        through their index by delivery (newest first, no table lookups), identifiers through the
        log itself.
        """
        low, high = prefix, prefix + "\U0010ffff"
        keys, identifiers = await self._count_in_range(low, high)
        found: list[Delivery] = []
        if keys >= BROAD_PREFIX:
            ids = await self._walk_keys(low, high, clauses, params, limit)
            if ids:
                marks = ", ".join("?" for _ in ids)
                found += await self._select([f"d.id IN ({marks})"], ids, limit=limit)
        elif keys:
            found += await self._select(
                [*clauses, f"d.id IN ({_DELIVERIES_WITH_KEY_IN_RANGE})"],
                [*params, low, high],
                limit=limit,
            )
        if identifiers:
            found += await self._select(
                [*clauses, _ACCEPTED_ID_IN_RANGE],
                [*params, low, high],
                limit=limit,
                index="NOT INDEXED" if identifiers >= BROAD_PREFIX else _BY_ID,
            )
        return found

    async def _walk_keys(
        self, low: str, high: str, clauses: list[str], params: list[Any], limit: int
    ) -> list[int]:
        """The newest `limit` delivery ids with a key in [low, high) that pass `clauses`."""
        # A delivery has a few keys: fetch a few per wanted delivery, and go on if that was short.
        batch = limit * 4
        join = "JOIN" if self._db.postgres else f"INDEXED BY {_KEYS_OF_DELIVERY} CROSS JOIN"
        found: dict[int, None] = {}
        below: int | None = None
        while len(found) < limit:
            extra = [*clauses, "k.delivery_id < ?"] if below is not None else clauses
            sql = (
                f"SELECT k.delivery_id AS id FROM delivery_keys k {join} deliveries d "
                "ON d.id = k.delivery_id WHERE k.search_key >= ? AND k.search_key < ?"
                + "".join(f" AND {clause}" for clause in extra)
                + " ORDER BY k.delivery_id DESC LIMIT ?"
            )
            more = [below] if below is not None else []
            rows = await self._db.fetch_all(sql, [low, high, *params, *more, batch])
            found.update((int(row["id"]), None) for row in rows)
            if len(rows) < batch:
                break
            below = int(rows[-1]["id"])
        return list(found)[:limit]

    async def _select(
        self,
        clauses: list[str],
        params: list[Any],
        *,
        limit: int,
        join: str = "",
        order: str = "d.id",
        index: str = "",
    ) -> list[Delivery]:
        hint = "" if self._db.postgres or not index else f" {index}"
        sql = f"SELECT d.* FROM deliveries d{hint} {join}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY {order} DESC LIMIT ?"
        rows = await self._db.fetch_all(sql, [*params, limit])
        return [Delivery.from_row(row) for row in rows]

    async def _count_in_range(self, low: str, high: str) -> tuple[int, int]:
        """Keys, and accepted identifiers, in [low, high): each counted up to BROAD_PREFIX."""
        # Left to itself, SQLite counts identifiers by walking every accepted delivery.
        by_id = _ACCEPTED_IDS_IN_RANGE.format(hint="" if self._db.postgres else _BY_ID)
        counts = []
        for counted in (_KEYS_IN_RANGE, by_id):
            row = await self._db.fetch_one(
                f"SELECT COUNT(*) AS n FROM ({counted} LIMIT ?) AS matches",
                (low, high, BROAD_PREFIX),
            )
            counts.append(int(row["n"]) if row is not None else 0)
        return counts[0], counts[1]

    async def get(self, delivery_id: int) -> Delivery | None:
        row = await self._db.fetch_one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return None if row is None else Delivery.from_row(row)

    async def attempts_of(self, delivery_id: int, *, limit: int = 100) -> list[Delivery]:
        """The duplicates recorded for an accepted delivery, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM deliveries WHERE duplicate_of = ? ORDER BY id LIMIT ?",
            (delivery_id, limit),
        )
        return [Delivery.from_row(row) for row in rows]

    async def newest_id(self) -> int:
        row = await self._db.fetch_one("SELECT MAX(id) AS top FROM deliveries")
        return int(row["top"]) if row is not None and row["top"] is not None else 0

    async def after(self, after_id: int, *, limit: int = 100) -> list[Delivery]:
        """Deliveries newer than `after_id`, oldest first (the live tail)."""
        rows = await self._db.fetch_all(
            "SELECT * FROM deliveries WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [Delivery.from_row(row) for row in rows]

    async def prune(self, *, older_than: float) -> int:
        """Delete deliveries received before `older_than` (epoch seconds), in small chunks; a
        delivery held for its actor's mapping (`held_account`) is kept until released."""
        removed = 0
        while True:
            async with self._db.connection() as conn, conn.transaction():
                rows = await conn.fetch_all(
                    "SELECT id FROM deliveries WHERE received_at < ? AND held_account IS NULL"
                    " ORDER BY id LIMIT ?",
                    (older_than, PRUNE_CHUNK),
                )
                if not rows:
                    return removed
                top = max(int(row["id"]) for row in rows)
                await conn.execute(
                    "DELETE FROM delivery_keys WHERE delivery_id <= ? AND delivery_id IN "
                    "(SELECT id FROM deliveries WHERE received_at < ? AND id <= ?"
                    " AND held_account IS NULL)",
                    (top, older_than, top),
                )
                removed += await conn.execute(
                    "DELETE FROM deliveries WHERE received_at < ? AND id <= ? AND held_account IS NULL",
                    (older_than, top),
                )
