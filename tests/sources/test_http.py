"""Admin webhooks through a real server process, on SQLite and PostgreSQL: sources added with the
CLI as an administrator would, deliveries sent as Jira Cloud and Data Center send them, handled."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from addon.sources import signature_for
from addon.store import Delivery, DeliveryFilter, generate_key, open_store
from tests.support.live import ROOT, LiveServer

DATA = Path(__file__).resolve().parents[1] / "data" / "sources"


def payload(name: str) -> bytes:
    return json.dumps(json.loads((DATA / name).read_text()), separators=(",", ":")).encode()


DC_BODY = payload("jira_issue_updated__mattermost-server-work-started.json")
CLOUD_BODY = payload("jira_issue_updated__mattermost-cloud-assigned-empty-changelog.json")


@dataclass
class Site:
    """A running add-on and how an administrator and Jira reach it."""

    server: LiveServer
    database_url: str
    events_file: Path

    def cli(self, *argv: str, stdin: str = "") -> str:
        """Run `addon ...` with the server's configuration; returns its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", "addon", *argv],
            env=self.server.env,
            cwd=self.server.cwd,
            input=stdin.encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    def add(self, name: str, *args: str) -> tuple[str, str]:
        """Add a source with the CLI; returns the URL and secret it printed."""
        out = self.cli("sources", "add", name, *args)
        url = re.search(r"URL: +(\S+)", out)
        secret = re.search(r"(?:Secret|Header): +(?:\S+: )?(?:Bearer )?(\S+)$", out, re.MULTILINE)
        assert url is not None and secret is not None, out
        return url.group(1), secret.group(1)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=10
        )

    def deliveries(self, **where: Any) -> list[Delivery]:
        async def read() -> list[Delivery]:
            store = await open_store(self.database_url, encrypt_existing=False)
            try:
                return await store.deliveries.page(DeliveryFilter(**where), limit=500)
            finally:
                await store.db.disconnect()

        return list(reversed(asyncio.run(read())))

    def wait_deliveries(self, count: int, **where: Any) -> list[Delivery]:
        deadline = time.monotonic() + 10
        while True:
            rows = self.deliveries(**where)
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def handled(self, count: int, origin: str) -> list[dict[str, Any]]:
        """The events the handler saw from `origin`, once `count` are there (10 s at most)."""
        deadline = time.monotonic() + 10
        while True:
            lines = self.events_file.read_text().splitlines() if self.events_file.exists() else []
            seen = [e for e in map(json.loads, lines) if e["origin"] == origin]
            if len(seen) >= count or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)


@pytest.fixture(scope="module")
def site(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("sources-server")
    database_url = module_database_url
    events_file = directory / "events.jsonl"
    env = {
        "DATABASE_URL": database_url,
        "ADDON_ENCRYPTION_KEY": generate_key(),
        "ADDON_HANDLERS": "tests.sources.handlers_module:handlers",
        "SOURCES_TEST_EVENTS": str(events_file),
        "REJECTED_LOG_LIMIT": "1000",
        "PYTHONPATH": str(ROOT),
    }
    with LiveServer(env, log_dir=directory) as server:
        yield Site(server=server, database_url=database_url, events_file=events_file)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == code, response.text
    assert response.json()["reason"]
    assert "JWT" not in response.headers.get("www-authenticate", "")


def test_cloud_and_data_center_payloads_stored_and_handled(site: Site) -> None:
    cloud, dc = unique("jira-cloud"), unique("jira-dc")
    cloud_url, cloud_secret = site.add(cloud, "--mode", "cloud-signature")
    dc_url, dc_token = site.add(dc, "--mode", "header-token", "--header", "X-Jira-Token")
    assert cloud_url.startswith(site.server.base_url + "/webhooks/jira/sources/")

    signature = signature_for(CLOUD_BODY, cloud_secret)
    answer = site.post(cloud_url, CLOUD_BODY, {"X-Hub-Signature": signature})
    assert answer.status_code == 204, answer.text
    answer = site.post(dc_url, DC_BODY, {"X-Jira-Token": dc_token})
    assert answer.status_code == 204, answer.text

    (cloud_event,) = site.handled(1, cloud)
    assert cloud_event["origin_kind"] == "source"
    assert cloud_event["name"] == "jira:issue_updated"
    assert cloud_event["actor"] == "123456" and cloud_event["issue_key"] == "TEST-123"
    (dc_event,) = site.handled(1, dc)
    assert dc_event["origin_kind"] == "source"
    assert dc_event["name"] == "jira:issue_updated"
    assert dc_event["actor"] == "admin" and dc_event["issue_key"] == "TES-4"
    assert "accountId" not in dc_event["user"] and dc_event["user"]["key"] == "admin"

    (row,) = site.deliveries(origin=dc, status="accepted")
    assert row.origin_kind == "source" and row.event == "jira:issue_updated"
    assert "x-jira-token" not in row.headers
    assert dc_url.rsplit("/", 1)[1] not in (row.path or "")
    (row,) = site.deliveries(origin=cloud, status="accepted")
    assert row.body == CLOUD_BODY and "x-hub-signature" not in row.headers


def test_each_mode_refuses_wrong_missing_and_tampered_credentials(site: Site) -> None:
    cloud, dc, bearer = unique("cloud"), unique("dc"), unique("bearer")
    cloud_url, cloud_secret = site.add(cloud, "--mode", "cloud-signature")
    dc_url, dc_token = site.add(dc, "--mode", "header-token")
    bearer_url, bearer_token = site.add(bearer, "--mode", "bearer")

    good = signature_for(CLOUD_BODY, cloud_secret)
    over_other_bytes = signature_for(CLOUD_BODY + b" ", cloud_secret)
    cases = [
        (cloud_url, {"X-Hub-Signature": signature_for(CLOUD_BODY, "wrong-secret-0123456789")},
         "signature_mismatch"),
        (cloud_url, {}, "missing_signature"),
        (cloud_url, {"X-Hub-Signature": over_other_bytes}, "signature_mismatch"),
        (cloud_url, {"X-Hub-Signature": "sha1=" + "0" * 40}, "unsupported_signature_method"),
        (dc_url, {"X-Webhook-Token": "wrong-token-0123456789"}, "token_mismatch"),
        (dc_url, {}, "missing_token"),
        (bearer_url, {"Authorization": "Bearer wrong-token-0123456789"}, "token_mismatch"),
        (bearer_url, {}, "missing_token"),
    ]  # fmt: skip
    for url, headers, code in cases:
        refused(site.post(url, CLOUD_BODY, headers), 401, code)

    for url, headers in (
        (cloud_url, {"X-Hub-Signature": good}),
        (dc_url, {"X-Webhook-Token": dc_token}),
        (bearer_url, {"Authorization": f"Bearer {bearer_token}"}),
    ):
        assert site.post(url, CLOUD_BODY, headers).status_code == 204

    for origin, codes in (
        (cloud, ["signature_mismatch", "missing_signature", "signature_mismatch",
                 "unsupported_signature_method"]),
        (dc, ["token_mismatch", "missing_token"]),
        (bearer, ["token_mismatch", "missing_token"]),
    ):  # fmt: skip
        rows = site.wait_deliveries(len(codes), origin=origin, status="rejected")
        assert [r.error_code for r in rows] == codes
        for row in rows:
            assert row.origin_kind == "source" and row.reason
            assert not {"x-hub-signature", "x-webhook-token", "authorization"} & set(row.headers)


def test_unknown_key_wrong_method_and_bad_bodies(site: Site) -> None:
    url = site.server.base_url + "/webhooks/jira/sources/NoSuchSourceKey0123456789abcdef"
    refused(site.post(url, DC_BODY, {"X-Webhook-Token": "x" * 20}), 404, "unknown_source")
    dc = unique("dc")
    dc_url, token = site.add(dc, "--mode", "header-token")
    answer = httpx.get(dc_url, timeout=10)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["error"] == "method_not_allowed"
    auth = {"X-Webhook-Token": token}
    refused(site.post(dc_url, b"<xml/>", auth), 400, "invalid_json")
    refused(site.post(dc_url, b'{"issue": {}}', auth), 400, "missing_event")
    refused(site.post(dc_url, b"<xml/>", {}), 401, "missing_token")
    rows = site.wait_deliveries(3, origin=dc, status="rejected")
    assert [r.error_code for r in rows] == ["invalid_json", "missing_event", "missing_token"]
    strangers = site.wait_deliveries(1, origin_kind="source", status="rejected")
    assert any(r.origin is None and r.error_code == "unknown_source" for r in strangers)


def test_allow_list_ignores_other_events_with_a_2xx(site: Site) -> None:
    dc = unique("dc")
    url, token = site.add(dc, "--mode", "header-token", "--events", "comment_created")
    answer = site.post(url, DC_BODY, {"X-Webhook-Token": token})
    assert answer.status_code == 204
    comment = b'{"webhookEvent":"comment_created","comment":{"id":"10001","body":"hi"}}'
    assert site.post(url, comment, {"X-Webhook-Token": token}).status_code == 204
    (ignored,) = site.deliveries(origin=dc, status="ignored")
    assert ignored.event == "jira:issue_updated"
    assert ignored.reason == f"jira:issue_updated is not in the event list of source {dc}"
    (handled,) = site.handled(1, dc)
    assert handled["name"] == "comment_created"


def test_duplicates_by_identifier_are_handled_once(site: Site) -> None:
    cloud = unique("cloud")
    url, secret = site.add(cloud, "--mode", "cloud-signature")
    headers = {
        "X-Hub-Signature": signature_for(CLOUD_BODY, secret),
        "X-Atlassian-Webhook-Identifier": "wh-" + uuid.uuid4().hex,
    }
    assert site.post(url, CLOUD_BODY, headers).status_code == 204
    retry = {**headers, "X-Atlassian-Webhook-Retry": "1"}
    assert site.post(url, CLOUD_BODY, retry).status_code == 204
    (accepted,) = site.deliveries(origin=cloud, status="accepted")
    (duplicate,) = site.deliveries(origin=cloud, status="duplicate")
    assert duplicate.duplicate_of == accepted.id and duplicate.retry == 1
    assert len(site.handled(1, cloud)) == 1
    time.sleep(0.3)
    assert len(site.handled(1, cloud)) == 1


def test_rotation_with_and_without_grace(site: Site) -> None:
    dc = unique("dc")
    url, old = site.add(dc, "--mode", "header-token")
    out = site.cli("sources", "rotate", dc, "--grace", "3s")
    rotated_at = time.monotonic()
    new = re.search(r"X-Webhook-Token: (\S+)", out)
    assert new is not None and "keeps working until" in out
    assert site.post(url, DC_BODY, {"X-Webhook-Token": old}).status_code == 204
    assert site.post(url, DC_BODY, {"X-Webhook-Token": new.group(1)}).status_code == 204
    time.sleep(max(0.0, rotated_at + 3.3 - time.monotonic()))
    refused(site.post(url, DC_BODY, {"X-Webhook-Token": old}), 401, "token_mismatch")
    assert site.post(url, DC_BODY, {"X-Webhook-Token": new.group(1)}).status_code == 204

    out = site.cli("sources", "rotate", dc)
    newest = re.search(r"X-Webhook-Token: (\S+)", out)
    assert newest is not None and "stopped working now" in out
    refused(site.post(url, DC_BODY, {"X-Webhook-Token": new.group(1)}), 401, "token_mismatch")
    assert site.post(url, DC_BODY, {"X-Webhook-Token": newest.group(1)}).status_code == 204

    site.cli("sources", "remove", dc)
    refused(site.post(url, DC_BODY, {"X-Webhook-Token": newest.group(1)}), 404, "unknown_source")


def test_url_template_values_become_the_context(tmp_path: Path) -> None:
    """A source's ${...} URL template: Jira substitutes the values; they are the delivery's context."""
    import asyncio

    from addon.sources import SourceError, SourceMode, Sources
    from addon.store import open_store
    from tests.support.connect import read_deliveries
    from tests.support.live import LiveServer

    database = f"sqlite:///{tmp_path}/template.db"
    secret = "s" * 32

    async def add() -> str:
        store = await open_store(database)
        try:
            sources = Sources(store.db, store.box)
            with pytest.raises(SourceError, match="starts with '\\?'"):
                await sources.add("bad", SourceMode.BEARER, secret, url_template="/x/${issue.key}")
            source = await sources.add(
                "templated",
                SourceMode.BEARER,
                secret,
                url_template="?issueKey=${issue.key}&projectKey=${project.key}",
            )
            return source.key
        finally:
            await store.db.disconnect()

    key = asyncio.run(add())
    with LiveServer({"DATABASE_URL": database}, log_dir=tmp_path) as server:
        response = httpx.post(
            f"{server.base_url}/webhooks/jira/sources/{key}?issueKey=PRJ%2D9&projectKey=PRJ&user_id=x",
            content=json.dumps({"webhookEvent": "jira:issue_updated"}),
            headers={
                "Authorization": f"Bearer {secret}",
                "X-Atlassian-Webhook-Identifier": "tpl-1",
            },
        )
        assert response.status_code == 204, response.text
    [stored] = read_deliveries(database, q="tpl-1")
    assert dict(stored.context) == {"issue.key": "PRJ-9", "project.key": "PRJ"}
    assert stored.issue_key == "PRJ-9"
