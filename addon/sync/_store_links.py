"""The sync's adapters and links: which items go to which Jira project, and the issue each
item became (kept when its adapter is removed: an external reference still works)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from addon.store import Db
from addon.store._db import Row
from addon.sync._errors import AdapterExists, UnknownAdapter
from addon.sync._maps import dump_priorities, dump_statuses, load_priorities, load_statuses
from addon.sync._records import Adapter, Link, OutboxState, sync_label

__all__ = ["LinkRows"]

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


class LinkRows:
    """Adapters and links (a part of `SyncStore`)."""

    _db: Db

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
