"""The inspector shows admin-webhook deliveries with their source, and filters by it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from addon.sources import SourceMode, Sources
from addon.store import open_store
from tests.support.live import LiveServer

SECRET = "t" * 40


def add_source(database: str, name: str) -> str:
    async def add() -> str:
        store = await open_store(database)
        try:
            return (await Sources(store.db, store.box).add(name, SourceMode.BEARER, SECRET)).key
        finally:
            await store.db.disconnect()

    return asyncio.run(add())


def test_inspector_lists_and_filters_source_deliveries(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/inspect.db"
    key = add_source(database, "jira-dc")
    env = {"DATABASE_URL": database, "INSPECTOR_USERNAME": "admin", "INSPECTOR_PASSWORD": "pw"}
    with LiveServer(env, log_dir=tmp_path) as server:
        posted = httpx.post(
            f"{server.base_url}/webhooks/jira/sources/{key}",
            content=json.dumps(
                {
                    "webhookEvent": "jira:issue_updated",
                    "issue": {"key": "DC-4"},
                    "user": {"name": "admin"},
                }
            ),
            headers={"Authorization": f"Bearer {SECRET}", "X-Atlassian-Webhook-Identifier": "dc-1"},
        )
        assert posted.status_code == 204, posted.text
        auth = ("admin", "pw")
        deadline = time.monotonic() + 5
        while True:
            listed = httpx.get(
                f"{server.base_url}/inspector/api/deliveries",
                params={"source": "jira-dc"},
                auth=auth,
            ).json()["deliveries"]
            if listed or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        [delivery] = listed
        assert (delivery["source"], delivery["client_key"]) == ("jira-dc", None)
        assert delivery["event"] == "jira:issue_updated"
        assert delivery["issue_key"] == "DC-4"
        other = httpx.get(
            f"{server.base_url}/inspector/api/deliveries", params={"source": "elsewhere"}, auth=auth
        ).json()["deliveries"]
        assert other == []
        page = httpx.get(f"{server.base_url}/inspector/", params={"source": "jira-dc"}, auth=auth)
        assert page.status_code == 200
        assert "jira-dc" in page.text and "DC-4" in page.text
        detail = httpx.get(f"{server.base_url}/inspector/deliveries/{delivery['id']}", auth=auth)
        assert "jira-dc" in detail.text
        assert SECRET not in detail.text
