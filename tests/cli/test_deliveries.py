"""`addon deliveries list|show|replay`: the delivery log in a terminal, on a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from addon.store import DeliveryStatus, HandlerState, NewDelivery, open_store
from tests.cli.test_cli import run


def new(key: str, webhook_id: str, **changes: object) -> NewDelivery:
    fields: dict[str, object] = {
        "received_at": 1_770_000_000.0,
        "origin_kind": "connect",
        "origin": "client-1",
        "status": DeliveryStatus.ACCEPTED,
        "event": "jira:issue_updated",
        "webhook_id": webhook_id,
        "body": json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": key}}).encode(),
        "issue_key": key,
        "search_keys": (key,),
        **changes,
    }
    return NewDelivery(**fields)  # type: ignore[arg-type]


def populated(tmp_path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """A database with a failed, a pending and a rejected delivery; the CLI's environment."""
    url = f"sqlite:///{tmp_path}/cli.db"

    async def fill() -> dict[str, int]:
        store = await open_store(url, handler_state=HandlerState.PENDING)
        await store.start()
        try:
            failed = await store.writer.record(new("CLI-1", "w-1"))
            [claimed] = await store.queue.claim("w", lease_seconds=30, limit=1)
            await store.queue.fail("w", claimed.id, "RuntimeError: boom\n\nTrace", retry_at=None)
            pending = await store.writer.record(new("CLI-2", "w-2"))
            store.writer.record_rejection(
                new(
                    "DC-7",
                    "w-3",
                    origin_kind="source",
                    origin="jira-dc",
                    status=DeliveryStatus.REJECTED,
                    event=None,
                    issue_key=None,
                    reason="the token is not this source's secret",
                    received_at=time.time(),
                )
            )
        finally:
            await store.close()
        return {"failed": failed.id, "pending": pending.id, "rejected": pending.id + 1}

    ids = asyncio.run(fill())
    return {"DATABASE_URL": url}, ids


def test_list_prints_columns_under_headers(tmp_path: Path) -> None:
    env, ids = populated(tmp_path)
    listed = run("deliveries", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == [
        "ID",
        "RECEIVED",
        "(UTC)",
        "FROM",
        "EVENT",
        "KEY",
        "STATUS",
        "HANDLER",
    ]
    assert [row.split()[0] for row in rows] == [
        str(ids[n]) for n in ("rejected", "pending", "failed")
    ]
    assert rows[0].split()[3:] == [
        "source",
        "jira-dc",
        "jira:issue_updated",
        "(unverified)",
        "DC-7",
        "rejected",
        "—",
    ]
    assert "2026-02-02 02:40:00" in rows[2] and "CLI-1" in rows[2] and "failed" in rows[2]
    at = header.index("FROM")
    assert [row[at:].split()[0] for row in rows] == ["source", "client-1", "client-1"]
    only = run("deliveries", "list", "--status", "accepted", "--key", "CLI-2", "--json", env=env)
    assert [d["id"] for d in json.loads(only.stdout)] == [ids["pending"]]
    none = run("deliveries", "list", "--event", "sprint_started", env=env)
    assert none.stdout.strip() == "no deliveries match"
    both = run("deliveries", "list", "--client-key", "a", "--source", "b", env=env)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_show_prints_one_delivery(tmp_path: Path) -> None:
    env, ids = populated(tmp_path)
    shown = run("deliveries", "show", str(ids["failed"]), env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Delivery {ids['failed']}"
    assert "Received            2026-02-02 02:40:00 UTC" in lines
    assert any(line.split() == ["Handler", "failed"] for line in lines)
    assert "RuntimeError: boom" in shown.stdout and '"key": "CLI-1"' in shown.stdout
    as_json = json.loads(run("deliveries", "show", str(ids["failed"]), "--json", env=env).stdout)
    assert as_json["handler"]["state"] == "failed" and as_json["replays"] == 0
    missing = run("deliveries", "show", "999999", env=env)
    assert (
        missing.returncode == 1 and missing.stderr.strip() == "addon: there is no delivery 999999"
    )


def test_replay_queues_a_finished_delivery_and_refuses_others_in_one_line(tmp_path: Path) -> None:
    env, ids = populated(tmp_path)
    replayed = run("deliveries", "replay", str(ids["failed"]), env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith(f"delivery {ids['failed']} queued to run its handlers again")
    shown = json.loads(run("deliveries", "show", str(ids["failed"]), "--json", env=env).stdout)
    assert (shown["handler_state"], shown["attempts"], shown["replays"]) == ("pending", 0, 1)
    assert shown["replayed_at"] is not None
    for which, reason in (
        ("pending", "have not finished"),
        ("failed", "have not finished"),
        ("rejected", "was rejected"),
    ):
        refused = run("deliveries", "replay", str(ids[which]), env=env)
        assert refused.returncode == 1
        [line] = refused.stderr.splitlines()
        assert line.startswith("addon: cannot replay: delivery ") and reason in line
    missing = run("deliveries", "replay", "999999", env=env)
    assert missing.returncode == 1 and "there is no delivery 999999" in missing.stderr
    bad = run("deliveries", "replay", "x1", env=env)
    assert bad.returncode == 2 and "is not a delivery id" in bad.stderr
