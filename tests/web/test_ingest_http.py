"""Webhook ingest through a real server, on both databases: every fixture, duplicates, bad input."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

import descriptor
from addon.connect import render_for
from addon.settings import Settings
from addon.store import DeliveryStatus
from tests.support.connect import ADDON_KEY, Jira

DATA = Path(__file__).resolve().parents[1] / "data" / "jira"
FIXTURES = sorted(DATA.glob("*.json"))
MAX_BODY = 200_000
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "atlassian-connect.json.j2"
LEGACY = (
    '{"event": "jira:worklog_updated", '
    '"url": {{ "/webhooks/jira/legacy-worklog-updated?issueId=${issue.id}&issueKey=${issue.key}" }}},'
)


def server_env(directory: Path) -> dict[str, str]:
    """The default descriptor plus the legacy event that one fixture carries."""
    source = DEFAULT_TEMPLATE.read_text()
    marker = '"webhooks": ['
    assert marker in source
    template = directory / "descriptor.json.j2"
    template.write_text(source.replace(marker, marker + "\n" + LEGACY, 1))
    return {"ADDON_DESCRIPTOR_TEMPLATE": str(template), "MAX_BODY_BYTES": str(MAX_BODY)}


def event_of(path: Path) -> str:
    return (
        path.name.split("__", 1)[0].replace("_", ":", 1)
        if path.name.startswith("jira_")
        else path.name.split("__", 1)[0]
    )


def modules(jira: Jira) -> dict[str, descriptor.WebhookModule]:
    template = Path(jira.server.env["ADDON_DESCRIPTOR_TEMPLATE"])
    settings = Settings(base_url=jira.base_url, key=ADDON_KEY, descriptor_template=template)
    return {module.event: module for module in render_for(settings).webhooks}


@pytest.fixture(scope="module")
def site(jira: Jira) -> Any:
    return jira.install()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_every_fixture_is_accepted_with_its_context(jira: Jira, site: Any, fixture: Path) -> None:
    event = event_of(fixture)
    module = modules(jira)[event]
    payload = json.loads(fixture.read_text())
    target = descriptor.expand_for_event(module.url, event, payload)
    identifier = f"fixture-{fixture.stem}"
    response = jira.webhook(site, target, fixture.read_bytes(), identifier=identifier)
    assert response.status_code == 204, response.text
    [stored] = [d for d in jira.deliveries(q=identifier) if d.status is DeliveryStatus.ACCEPTED]
    assert stored.event == event
    assert stored.origin == site.client_key
    assert stored.body == fixture.read_bytes()
    expected = {
        name: value
        for name, value in descriptor.context_values(event, payload).items()
        if name in module.template.parameters
    }
    assert dict(stored.context) == expected
    keys = descriptor.main_keys(event, payload)
    assert stored.issue_key == keys["issue_key"]
    assert stored.project_key == keys["project_key"]
    assert stored.resource == descriptor.lookup(event).resource  # type: ignore[union-attr]
    assert "authorization" not in stored.headers
    assert stored.token is not None and "qsh" in stored.token["claims"]


def test_context_extracted_from_url(jira: Jira, site: Any) -> None:
    target = "/webhooks/jira/issue-updated?issueKey=PRJ-7&issueId=10001&projectKey=PRJ&projectId=10000&user_id=admin"
    response = jira.webhook(
        site, target, {"webhookEvent": "jira:issue_updated"}, identifier="ctx-1"
    )
    assert response.status_code == 204, response.text
    [stored] = jira.deliveries(q="ctx-1")
    assert dict(stored.context) == {
        "issue.key": "PRJ-7",
        "issue.id": "10001",
        "project.key": "PRJ",
        "project.id": "10000",
    }


def test_duplicates_are_recorded_not_reprocessed(jira: Jira, site: Any) -> None:
    target = "/webhooks/jira/issue-created?issueKey=DUP-1"
    body = {"webhookEvent": "jira:issue_created", "issue": {"key": "DUP-1"}}
    for retry in (None, 1, 2):
        response = jira.webhook(site, target, body, identifier="dup-1", retry=retry)
        assert response.status_code == 204, response.text
    stored = jira.deliveries(q="dup-1")
    statuses = sorted((d.status.value, d.retry) for d in stored)
    assert statuses == [("accepted", 0), ("duplicate", 1), ("duplicate", 2)]
    accepted = next(d for d in stored if d.status is DeliveryStatus.ACCEPTED)
    assert all(
        d.duplicate_of == accepted.id for d in stored if d.status is DeliveryStatus.DUPLICATE
    )


def test_replayed_token_is_a_duplicate(jira: Jira, site: Any) -> None:
    target = "/webhooks/jira/issue-created?issueKey=REP-1"
    token = site.token(addon_base_url=jira.base_url, target=target)
    for _ in range(2):
        assert (
            jira.webhook(site, target, {"a": 1}, identifier="replay-1", token=token).status_code
            == 204
        )
    assert sorted(d.status.value for d in jira.deliveries(q="replay-1")) == [
        "accepted",
        "duplicate",
    ]


def test_without_identifier_every_delivery_is_accepted(jira: Jira, site: Any) -> None:
    target = "/webhooks/jira/issue-created?issueKey=NOID-1"
    for _ in range(2):
        assert jira.webhook(site, target, {"a": 1}, identifier=None).status_code == 204
    stored = jira.deliveries(q="NOID-1")
    assert [d.status for d in stored] == [DeliveryStatus.ACCEPTED, DeliveryStatus.ACCEPTED]


def refused(response: Any, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body: dict[str, str] = response.json()
    assert body["error"] == code, body
    assert body["reason"]
    return body


def test_body_not_json_is_400(jira: Jira, site: Any) -> None:
    target = "/webhooks/jira/issue-updated?issueKey=BAD-1"
    for body in (b"not json", b"[1, 2]", b"\xff\xfe", b"", b"[" * 100_000):
        refused(jira.webhook(site, target, body), 400, "invalid_json")


def test_body_over_limit_is_413_without_reading_it(jira: Jira, site: Any) -> None:
    target = "/webhooks/jira/issue-updated"
    refused(jira.webhook(site, target, b"{" + b" " * MAX_BODY + b"}"), 413, "payload_too_large")
    host, port = jira.server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10 * MAX_BODY}\r\n\r\n{{".encode()
        )
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413"), answer


def test_chunked_body_over_limit_is_413(jira: Jira, site: Any) -> None:
    import httpx

    target = "/webhooks/jira/issue-updated"

    def chunks() -> Any:
        for _ in range(MAX_BODY // 10_000 + 2):
            yield b" " * 10_000

    token = site.token(addon_base_url=jira.base_url, target=target)
    response = httpx.post(
        jira.base_url + target, content=chunks(), headers={"Authorization": f"JWT {token}"}
    )
    refused(response, 413, "payload_too_large")


def test_wrong_method_unknown_path(jira: Jira) -> None:
    import httpx

    response = httpx.get(jira.base_url + "/webhooks/jira/issue-updated")
    refused(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    refused(httpx.post(jira.base_url + "/no/such/path", content=b"{}"), 404, "not_found")


def test_token_problems_are_401_with_reason(jira: Jira, site: Any) -> None:
    target = "/webhooks/jira/issue-updated?issueKey=T-1"
    body = {"webhookEvent": "jira:issue_updated"}
    refused(jira.webhook(site, target, body, token=""), 401, "missing_token")
    refused(jira.webhook(site, target, body, token="abc.def"), 401, "malformed_token")
    other = site.token(addon_base_url=jira.base_url, target="/webhooks/jira/issue-created")
    reason = refused(jira.webhook(site, target, body, token=other), 401, "qsh_mismatch")["reason"]
    assert "POST&/webhooks/jira/issue-updated&issueKey=T-1" in reason
    headers = {"Authorization": f"JWT {site.token(addon_base_url=jira.base_url, target=target)}"}
    query_token = site.token(addon_base_url=jira.base_url, target=target, now=1)
    refused(
        jira.webhook(site, target + "&jwt=" + query_token, body, token="", headers=headers),
        401,
        "ambiguous_token",
    )


def test_context_qsh_refused(jira: Jira, site: Any) -> None:
    import time

    from addon.auth import encode_hs256

    now = int(time.time())
    token = encode_hs256(
        {"iss": site.client_key, "iat": now, "exp": now + 60, "qsh": "context-qsh"},
        site.shared_secret,
    )
    refused(
        jira.webhook(site, "/webhooks/jira/issue-updated", {"a": 1}, token=token),
        401,
        "context_qsh_refused",
    )


def test_unknown_tenant_refused_and_logged(jira: Jira) -> None:
    stranger = jira.site()
    response = jira.webhook(
        stranger, "/webhooks/jira/issue-updated?issueKey=X-9", {"a": 1}, identifier="stranger-1"
    )
    refused(response, 401, "unknown_tenant")
    rejected = jira.rejected("stranger-1")
    assert len(rejected) == 1
    record = rejected[0]
    assert record.origin == stranger.client_key
    assert record.error_code == "unknown_tenant"
    assert record.canonical_request == "POST&/webhooks/jira/issue-updated&issueKey=X-9"
    assert "authorization" not in record.headers
    assert record.token is not None and "qsh" in record.token["claims"]


def test_rejection_keeps_at_most_64_kib_in_all(jira: Jira, site: Any) -> None:
    """Headers, URL and body together: the body keeps what the few headers leave of 64 KiB."""
    body = b'{"pad": "' + b"x" * 150_000 + b'"}'
    response = jira.webhook(
        site, "/webhooks/jira/issue-updated", body, token="", identifier="big-rejected"
    )
    refused(response, 401, "missing_token")
    [record] = jira.rejected("big-rejected")
    assert record.body_size == len(body)
    assert record.body == body[: len(record.body)]
    headers = len(json.dumps(dict(record.headers)).encode())
    assert 60 * 1024 < len(record.body) <= 64 * 1024 - headers - len(record.path or "")


def test_disabled_tenant_deliveries_ignored(jira: Jira) -> None:
    site = jira.install()
    assert jira.lifecycle(site, "disabled").status_code == 204
    response = jira.webhook(
        site, "/webhooks/jira/issue-updated?issueKey=OFF-1", {"a": 1}, identifier="off-1"
    )
    assert response.status_code == 204, response.text
    [stored] = jira.deliveries(q="off-1")
    assert stored.status is DeliveryStatus.IGNORED
    assert stored.reason and "disabled" in stored.reason


def test_a_token_reused_under_a_new_identifier_is_accepted_and_marked(
    jira: Jira, site: Any
) -> None:
    """Jira sends one token to two webhooks of a URL in the same second; so may an attacker."""
    target = "/webhooks/jira/issue-created?issueKey=REUSE-1"
    token = site.token(addon_base_url=jira.base_url, target=target)
    body = {"webhookEvent": "jira:issue_created", "issue": {"key": "REUSE-1"}}
    other = {"webhookEvent": "jira:issue_created", "issue": {"key": "REUSE-1", "id": "2"}}
    assert jira.webhook(site, target, body, identifier="reuse-1", token=token).status_code == 204
    assert jira.webhook(site, target, other, identifier="reuse-2", token=token).status_code == 204
    [first] = jira.deliveries(q="reuse-1")
    [second] = jira.deliveries(q="reuse-2")
    assert first.status is second.status is DeliveryStatus.ACCEPTED
    assert (first.token_reused, second.token_reused) == (False, True)


def test_a_token_replayed_with_its_identifier_and_a_forged_body_is_refused(
    jira: Jira, site: Any
) -> None:
    target = "/webhooks/jira/issue-created?issueKey=FORGE-1"
    token = site.token(addon_base_url=jira.base_url, target=target)
    body = {"webhookEvent": "jira:issue_created", "issue": {"key": "FORGE-1"}}
    forged = {"webhookEvent": "jira:issue_deleted", "issue": {"key": "FORGE-1"}}
    assert jira.webhook(site, target, body, identifier="forge-1", token=token).status_code == 204
    response = jira.webhook(site, target, forged, identifier="forge-1", token=token)
    reason = refused(response, 401, "token_replayed")["reason"]
    assert token not in reason and "replay" in reason
    # Jira's retry of the same delivery (same token, same body) is still a duplicate.
    assert jira.webhook(site, target, body, identifier="forge-1", token=token).status_code == 204
    stored = [d for d in jira.deliveries() if d.webhook_id == "forge-1"]
    assert sorted((d.status.value, d.error_code) for d in stored) == [
        ("accepted", None),
        ("duplicate", None),
        ("rejected", "token_replayed"),
    ]
    [rejected] = [d for d in stored if d.status is DeliveryStatus.REJECTED]
    assert json.loads(rejected.body) == forged
