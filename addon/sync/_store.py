"""The sync's rows: adapters, links, the durable outbox (leased, so one instance runs an entry),
the transitions the sync made (for echo suppression) and the status changes already reported."""

from __future__ import annotations

import json
from collections.abc import Mapping

from addon.store import Db
from addon.store._db import Row
from addon.sync._errors import AdapterExists, UnknownAdapter
from addon.sync._maps import dump_priorities, dump_statuses, load_priorities, load_statuses
from addon.sync._records import (
    MAX_ERROR,
    Adapter,
    Change,
    Link,
    OutboxEntry,
    OutboxState,
    check_item_id,
    sync_label,
)

__all__ = ["ECHO_SECONDS", "SyncStore"]

EARLY = 10 * 365 * 86400.0
"""How far ahead `claim(early=True)` looks: any pending entry is due for it."""
ECHO_SECONDS = 120.0
"""A transition the sync made is taken as the origin of a matching change for this long."""

_OUTBOX = (
    "id, adapter, item_id, change, state, attempts, next_attempt_at, last_error, lease_owner,"
    " lease_until, created_at"
)
_LINK = (
    "adapter, item_id, site, label, issue_id, issue_key, browse_url, pushed, local_status,"
    " jira_status_id, creating_since"
)


def _adapter(row: Row) -> Adapter:
    return Adapter(
        name=row["name"],
        site=row["site"],
        project_key=row["project_key"],
        issue_type=row["issue_type"],
        statuses=load_statuses(row["statuses"]),
        priorities=load_priorities(row["priorities"]),
        created_at=float(row["created_at"]),
    )


def _link(row: Row) -> Link:
    return Link(
        adapter=row["adapter"],
        item_id=row["item_id"],
        site=row["site"],
        label=row["label"],
        issue_id=row["issue_id"],
        issue_key=row["issue_key"],
        browse_url=row["browse_url"],
        pushed=json.loads(row["pushed"]),
        local_status=row["local_status"],
        jira_status_id=row["jira_status_id"],
        creating_since=row["creating_since"],
    )


def _entry(row: Row) -> OutboxEntry:
    return OutboxEntry(
        id=int(row["id"]),
        adapter=row["adapter"],
        item_id=row["item_id"],
        change=Change.from_dict(json.loads(row["change"])),
        state=OutboxState(row["state"]),
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        last_error=row["last_error"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        created_at=float(row["created_at"]),
    )


class SyncStore:
    """Reads and writes the sync's rows (SQLite or PostgreSQL)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    # Adapters

    async def add_adapter(self, adapter: Adapter, *, now: float) -> Adapter:
        async with self._db.connection() as conn, conn.transaction():
            if await conn.fetch_one(
                "SELECT name FROM sync_adapters WHERE name = ?", (adapter.name,)
            ):
                raise AdapterExists(f"an adapter named {adapter.name!r} exists")
            await conn.execute(
                "INSERT INTO sync_adapters (name, site, project_key, issue_type, statuses,"
                " priorities, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    adapter.name,
                    adapter.site,
                    adapter.project_key,
                    adapter.issue_type,
                    dump_statuses(adapter.statuses),
                    dump_priorities(adapter.priorities),
                    now,
                ),
            )
        found = await self.adapter(adapter.name)
        assert found is not None
        return found

    async def adapter(self, name: str) -> Adapter | None:
        row = await self._db.fetch_one("SELECT * FROM sync_adapters WHERE name = ?", (name,))
        return _adapter(row) if row is not None else None

    async def adapters(self) -> list[Adapter]:
        rows = await self._db.fetch_all("SELECT * FROM sync_adapters ORDER BY name")
        return [_adapter(row) for row in rows]

    async def remove_adapter(self, name: str) -> None:
        """Forget the adapter and its queued changes; its links stay (external references)."""
        async with self._db.connection() as conn, conn.transaction():
            if not await conn.execute("DELETE FROM sync_adapters WHERE name = ?", (name,)):
                raise UnknownAdapter(f"no adapter named {name!r} (addon sync list shows them)")
            await conn.execute(
                "DELETE FROM sync_outbox WHERE adapter = ? AND state IN (?, ?)",
                (name, OutboxState.PENDING.value, OutboxState.RUNNING.value),
            )

    # Links

    async def link(self, adapter: str, item_id: str) -> Link | None:
        row = await self._db.fetch_one(
            f"SELECT {_LINK} FROM sync_links WHERE adapter = ? AND item_id = ?",
            (adapter, item_id),
        )
        return _link(row) if row is not None else None

    async def link_of_issue(self, site: str, issue_id: str) -> Link | None:
        row = await self._db.fetch_one(
            f"SELECT {_LINK} FROM sync_links WHERE site = ? AND issue_id = ?", (site, issue_id)
        )
        return _link(row) if row is not None else None

    async def links(self, adapter: str | None = None) -> list[Link]:
        where, params = ("WHERE adapter = ?", (adapter,)) if adapter else ("", ())
        rows = await self._db.fetch_all(
            f"SELECT {_LINK} FROM sync_links {where} ORDER BY adapter, item_id", params
        )
        return [_link(row) for row in rows]

    async def begin_create(self, adapter: Adapter, item_id: str, *, now: float) -> Link:
        """Record, before asking Jira, that a create is under way: after a crash or an unclear
        answer, `creating_since` says to search for the label before creating again."""
        label = sync_label(adapter.name, item_id)
        async with self._db.connection() as conn, conn.transaction():
            changed = await conn.execute(
                "UPDATE sync_links SET creating_since = COALESCE(creating_since, ?),"
                " updated_at = ? WHERE adapter = ? AND item_id = ? AND issue_id IS NULL",
                (now, now, adapter.name, item_id),
            )
            if not changed and not await conn.fetch_one(
                "SELECT item_id FROM sync_links WHERE adapter = ? AND item_id = ?",
                (adapter.name, item_id),
            ):
                await conn.execute(
                    "INSERT INTO sync_links (adapter, item_id, site, label, creating_since,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (adapter.name, item_id, adapter.site, label, now, now, now),
                )
        link = await self.link(adapter.name, item_id)
        assert link is not None
        return link

    async def abandon_create(self, link: Link, *, now: float) -> None:
        """Jira refused the create outright: nothing to search for next time."""
        await self._db.execute(
            "UPDATE sync_links SET creating_since = NULL, updated_at = ?"
            " WHERE adapter = ? AND item_id = ? AND issue_id IS NULL",
            (now, link.adapter, link.item_id),
        )

    async def record_issue(
        self, link: Link, *, issue_id: str, issue_key: str, browse_url: str, now: float
    ) -> Link:
        await self._db.execute(
            "UPDATE sync_links SET issue_id = ?, issue_key = ?, browse_url = ?,"
            " creating_since = NULL, updated_at = ? WHERE adapter = ? AND item_id = ?",
            (issue_id, issue_key, browse_url, now, link.adapter, link.item_id),
        )
        found = await self.link(link.adapter, link.item_id)
        assert found is not None
        return found

    async def record_pushed(
        self,
        link: Link,
        pushed: Mapping[str, str],
        *,
        jira_status_id: str | None,
        now: float,
    ) -> None:
        await self._db.execute(
            "UPDATE sync_links SET pushed = ?, local_status = COALESCE(?, local_status),"
            " jira_status_id = COALESCE(?, jira_status_id), updated_at = ?"
            " WHERE adapter = ? AND item_id = ?",
            (
                json.dumps(dict(pushed)),
                pushed.get("status"),
                jira_status_id,
                now,
                link.adapter,
                link.item_id,
            ),
        )

    async def record_status(
        self, link: Link, *, local_status: str | None, jira_status_id: str, now: float
    ) -> None:
        """A status that came back from Jira."""
        await self._db.execute(
            "UPDATE sync_links SET local_status = COALESCE(?, local_status), jira_status_id = ?,"
            " updated_at = ? WHERE adapter = ? AND item_id = ?",
            (local_status, jira_status_id, now, link.adapter, link.item_id),
        )

    # The outbox

    async def enqueue(
        self,
        adapter: str,
        item_id: str,
        change: Change,
        *,
        now: float,
        not_before: float | None = None,
    ) -> int:
        """Queue a change, due at `not_before` (default now): a caller that runs it at once
        queues it for later, so that the outbox job does not take it first."""
        check_item_id(item_id)
        async with self._db.connection() as conn, conn.transaction():
            if not await conn.fetch_one(
                "SELECT name FROM sync_adapters WHERE name = ?", (adapter,)
            ):
                raise UnknownAdapter(f"no adapter named {adapter!r} (addon sync list shows them)")
            await conn.execute(
                "INSERT INTO sync_outbox (adapter, item_id, change, state, next_attempt_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    adapter,
                    item_id,
                    json.dumps(change.as_dict()),
                    OutboxState.PENDING.value,
                    now if not_before is None else not_before,
                    now,
                    now,
                ),
            )
            row = await conn.fetch_one(
                "SELECT MAX(id) AS id FROM sync_outbox WHERE adapter = ? AND item_id = ?",
                (adapter, item_id),
            )
        assert row is not None
        return int(row["id"])

    async def claim(
        self,
        owner: str,
        *,
        now: float,
        lease: float,
        entry_id: int | None = None,
        early: bool = False,
    ) -> OutboxEntry | None:
        """Lease the oldest due entry (or entry `entry_id`, if due, or pending at all when
        `early`) whose item has no earlier unfinished one (an item's changes run in order); a
        running entry whose lease ran out (its instance crashed) is due again."""
        unfinished = (OutboxState.PENDING.value, OutboxState.RUNNING.value)
        only, only_params = (" AND o.id = ?", (entry_id,)) if entry_id is not None else ("", ())
        due = now + EARLY if early and entry_id is not None else now
        rows = await self._db.fetch_all(
            f"SELECT {_OUTBOX} FROM sync_outbox o WHERE"
            " ((state = ? AND next_attempt_at <= ?) OR (state = ? AND lease_until < ?))"
            " AND NOT EXISTS (SELECT 1 FROM sync_outbox e WHERE e.adapter = o.adapter"
            f" AND e.item_id = o.item_id AND e.id < o.id AND e.state IN (?, ?)){only}"
            " ORDER BY id LIMIT 10",
            (
                OutboxState.PENDING.value,
                due,
                OutboxState.RUNNING.value,
                now,
                *unfinished,
                *only_params,
            ),
        )
        for row in rows:
            changed = await self._db.execute(
                "UPDATE sync_outbox SET state = ?, lease_owner = ?, lease_until = ?,"
                " attempts = attempts + 1, updated_at = ? WHERE id = ? AND"
                " ((state = ? AND next_attempt_at <= ?) OR (state = ? AND lease_until < ?))",
                (
                    OutboxState.RUNNING.value,
                    owner,
                    now + lease,
                    now,
                    row["id"],
                    OutboxState.PENDING.value,
                    due,
                    OutboxState.RUNNING.value,
                    now,
                ),
            )
            if changed == 1:
                return await self.entry(int(row["id"]))
        return None

    async def reschedule(self, entry_id: int, *, at: float) -> None:
        """Make a pending entry due at `at` (one that could not run at once: due now)."""
        await self._db.execute(
            "UPDATE sync_outbox SET next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = ?",
            (at, at, entry_id, OutboxState.PENDING.value),
        )

    async def entry(self, entry_id: int) -> OutboxEntry | None:
        row = await self._db.fetch_one(
            f"SELECT {_OUTBOX} FROM sync_outbox WHERE id = ?", (entry_id,)
        )
        return _entry(row) if row is not None else None

    async def entries(self, *, limit: int = 100) -> list[OutboxEntry]:
        rows = await self._db.fetch_all(
            f"SELECT {_OUTBOX} FROM sync_outbox ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_entry(row) for row in rows]

    async def finish(
        self,
        entry: OutboxEntry,
        owner: str,
        state: OutboxState,
        *,
        now: float,
        next_attempt_at: float | None = None,
        error: str | None = None,
    ) -> bool:
        """Record an attempt's outcome, only while `owner` holds the lease; False if it lost it."""
        changed = await self._db.execute(
            "UPDATE sync_outbox SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at),"
            " last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?"
            " WHERE id = ? AND lease_owner = ? AND state = ?",
            (
                state.value,
                next_attempt_at,
                error[:MAX_ERROR] if error is not None else None,
                now,
                entry.id,
                owner,
                OutboxState.RUNNING.value,
            ),
        )
        return changed == 1

    # Echo suppression and exactly-once

    async def begin_transition(
        self, site: str, issue_id: str, from_status: str, to_status: str, *, now: float
    ) -> int:
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO sync_transitions (site, issue_id, from_status, to_status, state, at)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                (site, issue_id, from_status, to_status, now),
            )
            row = await conn.fetch_one(
                "SELECT MAX(id) AS id FROM sync_transitions WHERE site = ? AND issue_id = ?",
                (site, issue_id),
            )
        assert row is not None
        return int(row["id"])

    async def end_transition(self, transition_id: int, *, done: bool, now: float) -> None:
        """Done: Jira made it (an echo may follow); not done: it failed, so none will."""
        if done:
            await self._db.execute(
                "UPDATE sync_transitions SET state = 'done', at = ? WHERE id = ?",
                (now, transition_id),
            )
        else:
            await self._db.execute("DELETE FROM sync_transitions WHERE id = ?", (transition_id,))

    async def take_echo(
        self, site: str, issue_id: str, from_status: str | None, to_status: str, *, now: float
    ) -> bool:
        """True, once, if the sync made this transition (pending, or done within ECHO_SECONDS):
        the change is its own echo. Without `from_status` (catch-up) the target alone counts."""
        from_clause = " AND from_status = ?" if from_status is not None else ""
        params = (site, issue_id, to_status, *([from_status] if from_status else []))
        rows = await self._db.fetch_all(
            "SELECT id FROM sync_transitions WHERE site = ? AND issue_id = ? AND to_status = ?"
            + from_clause
            + " AND (state = 'pending' OR at >= ?) ORDER BY id",
            (*params, now - ECHO_SECONDS),
        )
        for row in rows:
            if await self._db.execute("DELETE FROM sync_transitions WHERE id = ?", (row["id"],)):
                return True
        return False

    async def forget_change(self, site: str, change_key: str) -> None:
        """Undo `first_time`: the change's events could not be recorded, so its retry may."""
        await self._db.execute(
            "DELETE FROM sync_processed WHERE site = ? AND change_key = ?", (site, change_key)
        )

    async def first_time(self, site: str, change_key: str, *, now: float) -> bool:
        """Record a change as processed; False if it already was (a retry, or another door)."""
        inserted = await self._db.execute(
            "INSERT INTO sync_processed (site, change_key, processed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (site, change_key) DO NOTHING",
            (site, change_key, now),
        )
        return inserted == 1

    async def prune(self, *, before: float) -> None:
        """Forget processed-change records and finished transitions older than `before`."""
        await self._db.execute("DELETE FROM sync_processed WHERE processed_at < ?", (before,))
        await self._db.execute(
            "DELETE FROM sync_transitions WHERE state = 'done' AND at < ?", (before,)
        )
