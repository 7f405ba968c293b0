"""`addon sync`: add, list and remove two-way sync adapters (items of yours to a Jira project)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from addon.cli._common import CliError, load, run_with_store
from addon.cli._table import table
from addon.store import Store
from addon.sync import (
    Adapter,
    SyncError,
    SyncStore,
    UnknownAdapter,
    new_adapter,
    parse_priorities,
    parse_statuses,
)

__all__ = ["register"]


def register(commands: Any) -> None:
    sync = commands.add_parser(
        "sync", help="two-way sync adapters: your items to issues of a Jira project"
    )
    actions = sync.add_subparsers(dest="sync_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="connect a set of your items to a Jira project")
    add.add_argument("name", metavar="NAME", help="a short name, used in /sync/NAME/items/ID")
    add.add_argument("--site", required=True, metavar="SITE", help="the site's URL")
    add.add_argument("--project", required=True, metavar="KEY", help="the project key, e.g. DEV")
    add.add_argument(
        "--issue-type", default="Task", metavar="NAME", help="issue type to create (Task)"
    )
    add.add_argument(
        "--statuses",
        metavar="MAP",
        help="local status to Jira status category key (new, indeterminate, done), optionally "
        "/STATUS_ID: 'Open=new,Doing=indeterminate,Done=done/10002' (default: Open=new, "
        "In Progress=indeterminate, Resolved=done, Closed=done)",
    )
    add.add_argument(
        "--priorities",
        metavar="MAP",
        help="local priority to the site's Jira priority name: 'Low=Low,Urgent=Highest' "
        "(default: Low, Medium, High to themselves, Urgent=Highest)",
    )
    add.set_defaults(run=run_add)

    listing = actions.add_parser("list", help="list adapters and how many items each has linked")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)

    remove = actions.add_parser("remove", help="remove an adapter; its links are kept")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=run_remove)


def run_add(args: argparse.Namespace) -> int:
    try:
        adapter = new_adapter(
            args.name,
            site=args.site,
            project_key=args.project,
            issue_type=args.issue_type,
            statuses=parse_statuses(args.statuses) if args.statuses is not None else None,
            priorities=parse_priorities(args.priorities) if args.priorities is not None else None,
        )
    except SyncError as exc:
        raise CliError(str(exc)) from None
    settings, _ = load()

    async def add(store: Store) -> Adapter:
        return await SyncStore(store.db).add_adapter(adapter, now=time.time())

    try:
        added = run_with_store(settings, add)
    except SyncError as exc:
        raise CliError(str(exc), 1) from None
    print(f"added adapter {added.name}: items to {added.project_key} on {added.site}")
    print("  (the site must be connected by a door with write access: see the README)")
    return 0


def _describe(adapter: Adapter, links: int) -> dict[str, Any]:
    return {
        "name": adapter.name,
        "site": adapter.site,
        "project": adapter.project_key,
        "issue_type": adapter.issue_type,
        "statuses": {k: str(v) for k, v in adapter.statuses.items()},
        "priorities": dict(adapter.priorities),
        "links": links,
    }


def run_list(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def listing(store: Store) -> list[dict[str, Any]]:
        sync = SyncStore(store.db)
        return [
            _describe(adapter, sum(1 for link in await sync.links(adapter.name) if link.issue_id))
            for adapter in await sync.adapters()
        ]

    rows = run_with_store(settings, listing)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no adapters; add one with: addon sync add NAME --site SITE --project KEY")
        return 0
    headers = ("NAME", "SITE", "PROJECT", "ISSUE TYPE", "LINKS", "STATUSES", "PRIORITIES")
    lines = [
        (
            row["name"],
            row["site"],
            row["project"],
            row["issue_type"],
            str(row["links"]),
            ",".join(f"{k}={v}" for k, v in row["statuses"].items()),
            ",".join(f"{k}={v}" for k, v in row["priorities"].items()),
        )
        for row in rows
    ]
    for line in table(headers, lines):
        print(line)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def remove(store: Store) -> int:
        sync = SyncStore(store.db)
        await sync.remove_adapter(args.name)
        return sum(1 for link in await sync.links(args.name) if link.issue_id)

    try:
        kept = run_with_store(settings, remove)
    except UnknownAdapter as exc:
        raise CliError(str(exc), 1) from None
    print(
        f"removed adapter {args.name}: its queued changes are dropped; its {kept} links are"
        " kept, so the items' references to their issues still work"
    )
    return 0
