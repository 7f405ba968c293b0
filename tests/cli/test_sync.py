"""`addon sync add | list | remove`: adapters from the command line, with clear refusals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from addon.store import open_store
from addon.sync import SyncStore
from tests.cli.test_cli import run


def test_add_list_remove_keeps_links(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}
    empty = run("sync", "list", env=env)
    assert empty.returncode == 0, empty.stderr
    assert "no adapters" in empty.stdout

    added = run(
        "sync", "add", "tickets", "--site", "https://acme.atlassian.net/", "--project", "DEV",
        "--statuses", "Open=new,Doing=indeterminate/10001,Done=done",
        "--priorities", "Low=Minor,Urgent=Blocker",
        env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added adapter tickets: items to DEV on https://acme.atlassian.net" in added.stdout
    plain = run("sync", "add", "plain", "--site", "https://beta.atlassian.net", "--project", "OPS",
                "--issue-type", "Bug", env=env)  # fmt: skip
    assert plain.returncode == 0, plain.stderr

    listing = run("sync", "list", env=env)
    header, first, second = listing.stdout.splitlines()
    assert header.split()[:5] == ["NAME", "SITE", "PROJECT", "ISSUE", "TYPE"]
    assert first.split()[:5] == ["plain", "https://beta.atlassian.net", "OPS", "Bug", "0"]
    assert "Open=new,In Progress=indeterminate,Resolved=done,Closed=done" in first
    assert "Urgent=Highest" in first
    assert header.index("PROJECT") == second.index("DEV")
    assert "Doing=indeterminate/10001" in second and "Urgent=Blocker" in second

    async def link() -> None:
        store = await open_store(env["DATABASE_URL"])
        sync = SyncStore(store.db)
        adapter = await sync.adapter("tickets")
        assert adapter is not None
        made = await sync.begin_create(adapter, "item-1", now=1.0)
        await sync.record_issue(made, issue_id="1", issue_key="DEV-1", browse_url="u", now=2.0)
        await store.db.disconnect()

    asyncio.run(link())
    as_json = json.loads(run("sync", "list", "--json", env=env).stdout)
    assert [(a["name"], a["links"]) for a in as_json] == [("plain", 0), ("tickets", 1)]

    removed = run("sync", "remove", "tickets", env=env)
    assert removed.returncode == 0, removed.stderr
    assert "its 1 links are kept" in removed.stdout
    again = run("sync", "remove", "tickets", env=env)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "addon: no adapter named 'tickets' (addon sync list shows them)"
    )

    async def kept() -> None:
        store = await open_store(env["DATABASE_URL"])
        link = await SyncStore(store.db).link("tickets", "item-1")
        await store.db.disconnect()
        assert link is not None and link.issue_key == "DEV-1"

    asyncio.run(kept())


def test_refusals_are_one_clear_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}
    base = ("sync", "add", "tickets", "--site", "https://acme.atlassian.net", "--project", "DEV")
    cases = [
        ((*base, "--statuses", "Done=Fertig"), "never the localised names"),
        ((*base, "--priorities", "Urgent"), "--priorities: 'Urgent' is not LOCAL=JIRA"),
        (("sync", "add", "t", "--site", "acme", "--project", "DEV"), "give the Jira site's URL"),
        (
            ("sync", "add", "t", "--site", "https://a.atlassian.net", "--project", "dev"),
            "uppercase",
        ),
        (("sync", "add", "a b", "--site", "https://a.atlassian.net", "--project", "D"), "letters"),
    ]
    for args, says in cases:
        result = run(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert run(*base, env=env).returncode == 0
    twice = run(*base, env=env)
    assert twice.returncode == 1
    assert twice.stderr.strip() == "addon: an adapter named 'tickets' exists"
