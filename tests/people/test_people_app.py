"""People end to end in the app on uvicorn: signed Connect webhooks by unmapped accounts are held by
the inline worker, the account is looked up in the site's (fake) Jira through its tenant, and
mapping releases the held deliveries to the handler in arrival order: by email when a person is
added through the bearer API, by hand through the People page. No email reaches a log line."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from addon.app import create_app
from addon.auth import encode_hs256, query_string_hash
from addon.cli import main
from addon.handlers import Event, Handlers
from addon.people import PeopleStore, Person
from addon.settings import Settings
from addon.simulator import FakeJiraUsers
from addon.store import open_store
from tests.support.loopback import LoopbackServer

pytestmark = pytest.mark.timeout(120)

ADDON_KEY = "people-addon"
SECRET = "s" * 40
BASE_URL = "http://127.0.0.1:8000"  # a qsh covers the path only, and the CSRF check the origin
TOKEN = "people-app-api-token-0123456789abcdef"
AUTH = ("inspector", "a long inspector password")
TARGET = "/webhooks/jira/issue-updated?issueKey=P-1"
EMAILS = ("shown@example.com", "hidden@example.com")
NAMES = ("Shown Person", "Hidden Person")
IMPORTED = ("imported@example.com", "Imported Person")
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]+)"')


@dataclass
class App:
    url: str
    handled: list[tuple[int, str | None]]

    def send(self, account_id: str) -> None:
        body = json.dumps(
            {
                "webhookEvent": "jira:issue_updated",
                "user": {"accountId": account_id, "displayName": NAMES[account_id == "acc-hidden"]},
                "issue": {"key": "P-1", "fields": {}},
            }
        ).encode()
        now = int(time.time())
        claims = {
            "iss": "tenant-1",
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash("POST", TARGET, BASE_URL),
        }
        answer = httpx.post(
            self.url + TARGET,
            content=body,
            headers={
                "Authorization": f"JWT {encode_hs256(claims, SECRET)}",
                "Content-Type": "application/json",
                "X-Atlassian-Webhook-Identifier": f"{account_id}-{time.monotonic_ns()}",
            },
            timeout=10,
        )
        assert answer.status_code == 204, answer.text

    def deliveries(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/inspector/api/deliveries", auth=AUTH, timeout=10)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["deliveries"]
        return sorted(found, key=lambda d: d["id"])

    def until(self, what: str, check: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            time.sleep(0.05)


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    fake = FakeJiraUsers(email_api=False)
    fake.add("acc-shown", NAMES[0], EMAILS[0], visible=True)
    fake.add("acc-hidden", NAMES[1], EMAILS[1])
    handled: list[tuple[int, str | None]] = []
    handlers = Handlers()

    @handlers.on("jira:issue_updated")
    async def note(event: Event) -> None:
        actor = event.people.actor
        handled.append((event.delivery_id, actor.id if actor else None))

    with LoopbackServer(fake.app) as jira:

        async def prepare() -> None:
            store = await open_store(database_url)
            try:
                await store.tenants.save_installation(
                    {"key": ADDON_KEY, "clientKey": "tenant-1", "sharedSecret": SECRET,
                     "baseUrl": jira.url},
                    iat=1,
                )  # fmt: skip
                await PeopleStore(store.db).upsert_people([Person("p-other", "other@example.com")])
            finally:
                await store.db.disconnect()

        asyncio.run(prepare())
        settings = Settings(
            base_url=BASE_URL,
            key=ADDON_KEY,
            database_url=database_url,
            tenant_cache_seconds=0,
            inspector_username=AUTH[0],
            inspector_password=AUTH[1],
            inspector_api_token=TOKEN,
        )
        with LoopbackServer(create_app(settings, handlers=handlers), lifespan="on") as server:
            yield App(server.url, handled)


def test_held_by_the_app_then_released_in_order_by_api_and_page(
    app: App,
    caplog: pytest.LogCaptureFixture,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="addon")
    for account in ("acc-shown", "acc-hidden", "acc-shown"):
        app.send(account)
    app.until(
        "three held deliveries",
        lambda: [d["handler_state"] for d in app.deliveries()] == ["held"] * 3,
    )
    first, hidden, second = app.deliveries()
    assert first["held_for"]["account_id"] == "acc-shown"
    assert hidden["held_for"]["account_id"] == "acc-hidden"
    assert app.handled == []

    added = httpx.post(
        f"{app.url}/inspector/api/people",
        json={"id": "p-shown", "email": " SHOWN@Example.com "},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert added.status_code == 200, added.text
    app.until("the shown account's deliveries", lambda: len(app.handled) == 2)
    assert app.handled == [(first["id"], "p-shown"), (second["id"], "p-shown")]

    page = httpx.get(f"{app.url}/inspector/people", auth=AUTH, timeout=10)
    found = TOKEN_FIELD.search(page.text)
    assert page.status_code == 200 and found is not None
    mapped = httpx.post(
        f"{app.url}/inspector/people/map",
        data={
            "csrf_token": found.group(1),
            "site": "",
            "account_id": "acc-hidden",
            "person_id": "p-other",
        },
        auth=AUTH,
        cookies={"inspector_session": page.cookies["inspector_session"]},
        headers={"Origin": BASE_URL},
        timeout=10,
    )
    assert mapped.status_code == 400  # no site named: refused with a reason, not a 500
    site = hidden["held_for"]["site"]
    mapped = httpx.post(
        f"{app.url}/inspector/people/map",
        data={
            "csrf_token": found.group(1),
            "site": site,
            "account_id": "acc-hidden",
            "person_id": "p-other",
        },
        auth=AUTH,
        cookies={"inspector_session": page.cookies["inspector_session"]},
        headers={"Origin": BASE_URL},
        timeout=10,
    )
    assert mapped.status_code == 303, mapped.text
    app.until("the hidden account's delivery", lambda: len(app.handled) == 3)
    assert app.handled[2] == (hidden["id"], "p-other")
    assert [d["handler_state"] for d in app.deliveries()] == ["done"] * 3
    assert all(d["held_for"] is None for d in app.deliveries())

    # the rest of the flow from the command line, in this process so its log is captured too
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ADDON_KEY", ADDON_KEY)
    listed = tmp_path / "people.csv"
    listed.write_text(f"id,email,name\np-imported,{IMPORTED[0]},{IMPORTED[1]}\n")
    assert main(["people", "import", str(listed)]) == 0
    assert main(["people", "refresh", site]) == 0  # Jira's user search, paged
    assert main(["people", "forget", "acc-shown"]) == 0
    assert main(["people", "forget", "acc-hidden"]) == 0

    async def bodies() -> list[bytes]:
        store = await open_store(database_url)
        try:
            rows = await store.db.fetch_all("SELECT body FROM deliveries ORDER BY id")
            return [bytes(row["body"]) for row in rows]
        finally:
            await store.db.disconnect()

    left = httpx.get(f"{app.url}/inspector/api/accounts", auth=AUTH, timeout=10).json()
    assert {a["account_id"] for a in left["accounts"]} & {"acc-shown", "acc-hidden"} == set()
    stored = asyncio.run(bodies())
    assert len(stored) == 3 and all(b'"acc-' in body for body in stored)
    assert not any(name.encode() in body for body in stored for name in NAMES)
    secrets = tuple(v.casefold() for v in (*EMAILS, *NAMES, *IMPORTED))
    for record in caplog.records:
        text = record.getMessage().casefold()
        assert not any(value in text for value in secrets), text
    logged = [r.getMessage() for r in caplog.records]
    assert any("held until account acc-hidden" in line for line in logged)
    assert any(line.startswith("people: 2 accounts of") for line in logged)  # the refresh
