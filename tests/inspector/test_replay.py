"""Replaying a delivery from the inspector on a real server (SQLite and PostgreSQL), and the rule
every state-changing page follows: a same-origin POST carrying the session's token, else 403.

The server runs handlers in `addon worker` processes (none here), so a delivery stays pending
until the test settles its handler work through the store, as a worker would: no timing involved.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from addon.store import open_store
from tests.inspector.support import (
    AUTH,
    CREDENTIALS,
    api,
    eventually,
    listed,
    send_issue,
    send_wrong_qsh,
)
from tests.support.connect import Jira

pytestmark = pytest.mark.timeout(120)

COOKIE = "inspector_session"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]+)"')


def server_env(directory: Path) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "ADDON_HANDLERS": "tests.inspector.handlers:handlers",
        "ADDON_WORKER": "external",
    }


def settle(jira: Jira, delivery_id: int, *, failed: bool) -> None:
    """Run the delivery's handler work to its end through the queue, as a worker would."""

    async def work() -> None:
        store = await open_store(jira.database_url, encrypt_existing=False)
        try:
            owner = f"test-{uuid.uuid4().hex[:6]}"
            claimed = await store.queue.claim(owner, lease_seconds=30, limit=100)
            assert delivery_id in [d.id for d in claimed]
            for delivery in claimed:
                if delivery.id == delivery_id and failed:
                    await store.queue.fail(owner, delivery.id, "RuntimeError: no", retry_at=None)
                else:
                    await store.queue.complete(owner, delivery.id)
        finally:
            await store.db.disconnect()

    asyncio.run(work())


def detail(jira: Jira, delivery_id: int) -> dict[str, Any]:
    response = api(jira, f"/api/deliveries/{delivery_id}")
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


class Session:
    """A browser session of the inspector: its cookie, and the token its pages put in forms."""

    def __init__(self, jira: Jira, delivery_id: int) -> None:
        page = httpx.get(f"{jira.base_url}/inspector/deliveries/{delivery_id}", auth=AUTH)
        assert page.status_code == 200
        found = TOKEN_FIELD.search(page.text)
        assert found is not None, "the delivery page has no replay form"
        self.token = found.group(1)
        self.cookie = page.cookies[COOKIE]
        self.set_cookie = page.headers["set-cookie"]
        self.jira = jira

    def post(
        self,
        delivery_id: int | str,
        *,
        token: str | None = "",
        cookie: str | None = "",
        headers: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
        method: str = "POST",
    ) -> httpx.Response:
        """The replay form's request ("" means this session's value; None leaves it out)."""
        if method == "GET":
            token = None
        sent_token = self.token if token == "" else token
        sent_cookie = self.cookie if cookie == "" else cookie
        with httpx.Client(auth=AUTH, follow_redirects=False, timeout=10) as client:
            request = client.build_request(
                method,
                f"{self.jira.base_url}/inspector/deliveries/{delivery_id}/replay",
                data={"action": "replay"} if sent_token is None else {"csrf_token": sent_token},
                headers={"Origin": self.jira.base_url, **(headers or {})},
                cookies={} if sent_cookie is None else {COOKIE: sent_cookie},
            )
            for name in drop:
                del request.headers[name]
            return client.send(request)


def accepted(jira: Jira, key: str) -> int:
    site = jira.install()
    assert send_issue(jira, site, key).status_code == 204
    [delivery] = listed(jira, q=key)
    assert delivery["handler_state"] == "pending"
    return int(delivery["id"])


def test_a_finished_delivery_is_replayed_once_and_keeps_count(jira: Jira) -> None:
    delivery_id = accepted(jira, f"REP-{uuid.uuid4().hex[:4].upper()}")
    session = Session(jira, delivery_id)
    assert session.token == session.cookie
    cookie = session.set_cookie.lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/inspector" in cookie

    early = session.post(delivery_id)
    assert early.status_code == 409
    assert "have not finished" in early.text and "replay it once they are done" in early.text
    assert detail(jira, delivery_id)["replays"] == 0

    settle(jira, delivery_id, failed=True)
    assert detail(jira, delivery_id)["handler_state"] == "failed"
    answer = session.post(delivery_id)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/inspector/deliveries/{delivery_id}"
    replayed = detail(jira, delivery_id)
    assert (replayed["handler_state"], replayed["attempts"], replayed["replays"]) == (
        "pending",
        0,
        1,
    )
    assert replayed["replayed_at"] and replayed["handler"]["replayed_at"] == replayed["replayed_at"]
    assert replayed["last_error"] is None

    settle(jira, delivery_id, failed=False)
    by_referer = session.post(
        delivery_id, headers={"Referer": f"{jira.base_url}/inspector/"}, drop=("Origin",)
    )
    assert by_referer.status_code == 303, by_referer.text
    assert detail(jira, delivery_id)["replays"] == 2
    page = httpx.get(f"{jira.base_url}/inspector/deliveries/{delivery_id}", auth=AUTH)
    assert "Last replayed" in page.text and "<dt>Replays</dt><dd>2</dd>" in page.text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "GET", "token": None}, "takes a POST"),
        ({"token": None}, "token is missing"),
        ({"token": "x" * 43}, "not this session"),
        ({"cookie": None}, "no inspector session"),
        ({"cookie": "y" * 43}, "not this session"),
        ({"headers": {"Origin": "https://evil.example"}}, "'https://evil.example'"),
        ({"headers": {"Origin": "null"}}, "'null'"),
        ({"headers": {"Referer": "https://evil.example/x"}, "drop": ("Origin",)}, "evil.example"),
        ({"drop": ("Origin",)}, "neither"),
        ({"headers": {"Content-Type": "text/plain"}}, "form post"),
    ],
    ids=[
        "GET",
        "no-token",
        "wrong-token",
        "no-cookie",
        "other-session",
        "other-origin",
        "null-origin",
        "other-referer",
        "no-origin",
        "not-a-form",
    ],
)
def test_anything_but_the_inspector_s_own_form_post_is_refused(
    jira: Jira, change: dict[str, Any], reason: str
) -> None:
    delivery_id = accepted(jira, f"CSRF-{uuid.uuid4().hex[:4].upper()}")
    settle(jira, delivery_id, failed=False)
    session = Session(jira, delivery_id)
    answer = session.post(delivery_id, **change)
    assert answer.status_code == 403, answer.text
    assert reason in answer.text.replace("&#39;", "'")
    assert answer.headers["content-type"].startswith("text/html")
    shown = detail(jira, delivery_id)
    assert (shown["handler_state"], shown["replays"], shown["replayed_at"]) == ("done", 0, None)


def test_what_cannot_be_replayed_is_refused_with_its_reason(jira: Jira) -> None:
    delivery_id = accepted(jira, f"NOT-{uuid.uuid4().hex[:4].upper()}")
    settle(jira, delivery_id, failed=False)
    session = Session(jira, delivery_id)
    site = jira.install()
    assert send_wrong_qsh(jira, site, "NOT-1").status_code == 401
    where = {"client_key": site.client_key, "status": "rejected"}
    rejected = eventually(lambda: listed(jira, **where), what="the rejection")[0]["id"]
    answer = session.post(rejected)
    assert answer.status_code == 409
    assert f"delivery {rejected} was rejected" in answer.text
    missing = session.post(10**12)
    assert missing.status_code == 404 and "there is no delivery" in missing.text
    assert session.post("abc").status_code == 400
