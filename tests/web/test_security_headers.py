"""Security headers on every kind of answer, over a real server: what Atlassian's Connect Security
Requirements Tester checks (Cache-Control, Referrer-Policy, HSTS on an https base URL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from addon.app import create_app
from addon.settings import Settings
from tests.inspector.support import AUTH, issue_payload, issue_target, running_jira
from tests.support.connect import ADDON_KEY, Jira
from tests.support.loopback import LoopbackServer

PREFIX = "/jira-addon"
PUBLIC = "https://addon.example.com" + PREFIX
MAX_BODY = 4096
EVERY_ANSWER = {"cache-control": "no-cache, no-store", "referrer-policy": "no-referrer"}
HSTS = {"strict-transport-security": "max-age=31536000"}
# The inspector's HTML pages carry forms whose CSRF check needs the browser's Origin, which
# `no-referrer` turns into `null`: they send `same-origin`, which still tells no other site anything.
SAME_ORIGIN_PAGES = {"inspector page", "inspector 404"}


@pytest.fixture(scope="module")
def jira(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    directory = tmp_path_factory.mktemp("headers")
    env = {"ADDON_BASE_URL": PUBLIC, "MAX_BODY_BYTES": str(MAX_BODY)}
    with running_jira(
        f"sqlite:///{directory}/addon.db", directory, env=env, base_path=PREFIX
    ) as jira:
        yield jira


def _signed_webhook(jira: Jira) -> httpx.Response:
    """A webhook from an installed site, signed for the public https URL (through the fast lane)."""
    site = jira.site()
    token = site.install_token(addon_base_url=PUBLIC, target="/installed")
    installed = httpx.post(
        jira.base_url + "/installed",
        json=site.lifecycle_payload("installed", ADDON_KEY),
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    assert installed.status_code == 204, installed.text
    target = issue_target("HDR-1")
    return httpx.post(
        jira.base_url + target,
        content=json.dumps(issue_payload("HDR-1")).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "Authorization": f"JWT {site.token(addon_base_url=PUBLIC, target=target)}",
        },
        timeout=10,
    )


def _stream(jira: Jira) -> httpx.Response:
    with httpx.stream(
        "GET", jira.base_url + "/inspector/api/stream", auth=AUTH, timeout=10
    ) as response:
        return response  # the headers are what is checked; the stream is left unread


# label: (how to get it, the status it must have)
ANSWERS: dict[str, tuple[Callable[[Jira], httpx.Response], int]] = {
    "descriptor": (lambda j: httpx.get(j.base_url + "/atlassian-connect.json"), 200),
    "landing page": (lambda j: httpx.get(j.base_url + "/"), 200),
    "health check": (lambda j: httpx.get(j.base_url + "/healthz"), 200),
    "static file": (lambda j: httpx.get(j.base_url + "/static/inspector.css"), 200),
    "missing static file": (lambda j: httpx.get(j.base_url + "/static/none.css"), 404),
    "outside the base path": (lambda j: httpx.get(j.server.url + "/atlassian-connect.json"), 404),
    "no route": (lambda j: httpx.put(j.base_url + "/atlassian-connect.json"), 404),
    "method not allowed": (lambda j: httpx.post(j.base_url + "/inspector/", auth=AUTH), 405),
    "source URL, wrong method": (lambda j: httpx.get(j.base_url + "/webhooks/jira/sources/x"), 405),
    "unknown source": (lambda j: httpx.post(j.base_url + "/webhooks/jira/sources/x", json={}), 404),
    "unsigned lifecycle call": (lambda j: httpx.post(j.base_url + "/installed", json={}), 401),
    "unsigned webhook (fast lane)": (
        lambda j: httpx.post(j.base_url + issue_target("HDR-2"), json={}),
        401,
    ),
    "body too large (fast lane)": (
        lambda j: httpx.post(j.base_url + issue_target("HDR-3"), content=b"x" * (MAX_BODY + 1)),
        413,
    ),
    "signed webhook (fast lane)": (_signed_webhook, 204),
    "inspector without credentials": (lambda j: httpx.get(j.base_url + "/inspector/"), 401),
    "inspector redirect": (lambda j: httpx.get(j.base_url + "/inspector", auth=AUTH), 307),
    "inspector page": (lambda j: httpx.get(j.base_url + "/inspector/", auth=AUTH), 200),
    "inspector JSON": (
        lambda j: httpx.get(j.base_url + "/inspector/api/deliveries", auth=AUTH),
        200,
    ),
    "inspector 404": (
        lambda j: httpx.get(j.base_url + "/inspector/deliveries/999999", auth=AUTH),
        404,
    ),
    "inspector stream": (_stream, 200),
}


@pytest.mark.parametrize("label", list(ANSWERS))
def test_every_answer_carries_the_headers(jira: Jira, label: str) -> None:
    get, status = ANSWERS[label]
    response = get(jira)
    assert response.status_code == status, response.text if status != 200 else ""
    expected = {**EVERY_ANSWER, **HSTS}
    if label in SAME_ORIGIN_PAGES:
        expected["referrer-policy"] = "same-origin"
    assert {name: response.headers.get(name) for name in expected} == expected
    assert response.headers["x-content-type-options"] == "nosniff"


def _boom(request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [("https://addon.example.com", {**EVERY_ANSWER, **HSTS}), ("http://localhost", EVERY_ANSWER)],
)
def test_a_server_error_carries_them_too_and_hsts_only_on_https(
    tmp_path: Path, base_url: str, expected: dict[str, str]
) -> None:
    app = create_app(Settings(base_url=base_url, database_url=f"sqlite:///{tmp_path}/a.db"))
    app.router.routes.insert(0, Route("/boom", _boom))
    with LoopbackServer(app) as server:
        response = httpx.get(server.url + "/boom", timeout=10)
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    names = {*EVERY_ANSWER, *HSTS}
    assert {name: response.headers[name] for name in names if name in response.headers} == expected
