"""Driving the inspector of a real server: credentials, signed webhooks to show, API calls."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from addon.simulator import SimulatedSite
from tests.auth.keyserver import KeyServer
from tests.support.connect import ADDON_KEY, Jira
from tests.support.live import LiveServer

T = TypeVar("T")

USERNAME = "inspector"
PASSWORD = "correct horse battery staple"
AUTH = (USERNAME, PASSWORD)
CREDENTIALS = {"INSPECTOR_USERNAME": USERNAME, "INSPECTOR_PASSWORD": PASSWORD}


@contextlib.contextmanager
def running_jira(
    database_url: str,
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    base_path: str = "",
    open_inspector: bool = True,
) -> Iterator[Jira]:
    """A real server process (inspector open unless told), its key server, and Jira's side."""
    with KeyServer() as keys:
        settings = {
            "DATABASE_URL": database_url,
            "ADDON_KEY": ADDON_KEY,
            "CONNECT_INSTALL_KEYS_URL": keys.url,
            **(CREDENTIALS if open_inspector else {}),
            **(env or {}),
        }
        with LiveServer(settings, log_dir=log_dir, base_path=base_path) as server:
            yield Jira(server=server, keys=keys, database_url=database_url)


def issue_target(key: str, issue_id: str = "10001", event: str = "issue-created") -> str:
    project = key.split("-", 1)[0]
    return (
        f"/webhooks/jira/{event}?issueKey={key}&issueId={issue_id}"
        f"&projectKey={project}&projectId=10000"
    )


def issue_payload(
    key: str, *, summary: str = "A test issue", event: str = "jira:issue_created"
) -> dict[str, Any]:
    project = key.split("-", 1)[0]
    return {
        "timestamp": int(time.time() * 1000),
        "webhookEvent": event,
        "issue_event_type_name": event.split(":", 1)[-1],
        "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ada"},
        "issue": {
            "id": "10001",
            "key": key,
            "fields": {"summary": summary, "project": {"id": "10000", "key": project}},
        },
    }


def send_issue(
    jira: Jira,
    site: SimulatedSite,
    key: str,
    *,
    summary: str = "A test issue",
    identifier: str | None = None,
    retry: int | None = None,
    token: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> httpx.Response:
    """A signed `jira:issue_created` webhook about `key`, as Jira sends it."""
    return jira.webhook(
        site,
        issue_target(key),
        dict(payload) if payload is not None else issue_payload(key, summary=summary),
        identifier=identifier or str(uuid.uuid4()),
        retry=retry,
        token=token,
    )


def send_comment(jira: Jira, site: SimulatedSite, key: str) -> httpx.Response:
    project = key.split("-", 1)[0]
    target = (
        f"/webhooks/jira/comment-created?issueKey={key}&issueId=10001"
        f"&projectKey={project}&projectId=10000"
    )
    payload = {
        "timestamp": int(time.time() * 1000),
        "webhookEvent": "comment_created",
        "comment": {
            "id": "1",
            "body": "hello",
            "author": {"accountId": "5b10ac8d82e05b22cc7d4ef5"},
        },
        "issue": {"id": "10001", "key": key, "fields": {"project": {"key": project}}},
    }
    return jira.webhook(site, target, payload)


def send_wrong_qsh(jira: Jira, site: SimulatedSite, key: str) -> httpx.Response:
    """A webhook whose token was made for another URL: rejected with a qsh mismatch."""
    other = site.token(addon_base_url=jira.base_url, target="/webhooks/jira/issue-deleted")
    return send_issue(jira, site, key, token=other)


def api(jira: Jira, path: str, *, auth: Any = AUTH, **params: Any) -> httpx.Response:
    """GET an inspector URL (relative to /inspector) with the inspector's credentials."""
    given = {name: value for name, value in params.items() if value is not None}
    return httpx.get(f"{jira.base_url}/inspector{path}", params=given, auth=auth, timeout=10)


def eventually(probe: Callable[[], T | None], *, timeout: float = 10.0, what: str = "it") -> T:
    """Poll `probe` until it returns something truthy (rejections are stored asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def listed(jira: Jira, **params: Any) -> list[dict[str, Any]]:
    response = api(jira, "/api/deliveries", **params)
    assert response.status_code == 200, response.text
    deliveries: list[dict[str, Any]] = response.json()["deliveries"]
    return deliveries
