"""The inspector's JSON API on a real server, on SQLite and on PostgreSQL: filters, cursors,
detail, tenants and the live stream, fed by signed webhooks sent the way Jira sends them."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import string
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from addon.simulator import SimulatedSite
from tests.inspector.support import (
    AUTH,
    CREDENTIALS,
    api,
    eventually,
    issue_payload,
    listed,
    send_comment,
    send_issue,
    send_wrong_qsh,
)
from tests.support.connect import Jira

pytestmark = pytest.mark.timeout(120)


def server_env(directory: Path) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "ADDON_HANDLERS": "tests.inspector.handlers:handlers",
        "HANDLER_MAX_ATTEMPTS": "1",
    }


def project() -> str:
    """A project key of its own for each test: the module's tests share one database."""
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(6))


def ids(deliveries: list[dict[str, Any]]) -> list[int]:
    return [d["id"] for d in deliveries]


def bad_request(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == code and body["reason"]
    return body


def test_filters(jira: Jira) -> None:
    site, other = jira.install(), jira.install()
    key = project()
    payload = issue_payload(f"{key}-1")  # a retry resends the same body
    first = send_issue(jira, site, f"{key}-1", identifier=f"{key}-same", payload=payload)
    assert first.status_code == 204
    retried = send_issue(jira, site, f"{key}-1", identifier=f"{key}-same", retry=1, payload=payload)
    assert retried.status_code == 204
    assert send_issue(jira, site, f"{key}-12").status_code == 204
    assert send_comment(jira, site, f"{key}-1").status_code == 204
    assert send_wrong_qsh(jira, site, f"{key}-99").status_code == 401
    assert send_issue(jira, other, f"{key}-5").status_code == 204

    def all_five() -> list[dict[str, Any]] | None:
        found = listed(jira, client_key=site.client_key)
        return found if len(found) == 5 else None

    everything = eventually(all_five, what="the rejection to be stored")
    assert ids(everything) == sorted(ids(everything), reverse=True)
    assert {d["client_key"] for d in everything} == {site.client_key}
    assert all(d["source"] is None and d["received_at"].endswith("Z") for d in everything)
    assert {d["site_url"] for d in everything} == {site.base_url}

    comments = listed(jira, client_key=site.client_key, event="comment_created")
    assert [d["event"] for d in comments] == ["comment_created"]
    assert comments[0]["issue_key"] == f"{key}-1"
    assert comments[0]["payload"]["comment"]["body"] == "hello"

    rejected = eventually(lambda: listed(jira, client_key=site.client_key, status="rejected"))
    assert len(rejected) == 1
    assert rejected[0]["error_code"] == "qsh_mismatch"
    assert "qsh" in rejected[0]["reason"]
    assert rejected[0]["main_key"] == f"{key}-99"

    duplicates = listed(jira, client_key=site.client_key, status="duplicate")
    accepted = listed(jira, client_key=site.client_key, status="accepted")
    assert len(duplicates) == 1 and len(accepted) == 3
    original = next(d for d in accepted if d["webhook_id"] == f"{key}-same")
    assert duplicates[0]["duplicate_of"] == original["id"]
    assert duplicates[0]["retry"] == 1

    exact = listed(jira, q=f"{key}-1")
    assert {d["issue_key"] for d in exact} == {f"{key}-1"}
    assert len(exact) == 3  # the issue, its duplicate and the comment; not {key}-12
    prefix = listed(jira, q=f"{key}-1*")
    assert {d["issue_key"] for d in prefix} == {f"{key}-1", f"{key}-12"}
    assert len(listed(jira, q=f"{key}-*")) == 5  # the other tenant's too; rejections have no keys
    assert listed(jira, q=f"{key}-*", client_key=other.client_key)[0]["issue_key"] == f"{key}-5"
    assert listed(jira, q=f"{key}-1", event="comment_created") == comments
    assert listed(jira, source="no-such-source") == []


def test_cursor_pages_through_every_delivery_once(jira: Jira) -> None:
    site = jira.install()
    key = project()
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda n: send_issue(jira, site, f"{key}-{n}").status_code, range(120))
        )
    assert answers == [204] * 120

    pages: list[list[int]] = []
    cursor = None
    while True:
        response = api(jira, "/api/deliveries", client_key=site.client_key, limit=50, cursor=cursor)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(ids(body["deliveries"]))
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and len(pages) < 5
    assert [len(page) for page in pages] == [50, 50, 20]
    seen = [i for page in pages for i in page]
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 120
    everything = ids(listed(jira, client_key=site.client_key, limit=200))
    assert seen == everything
    html_pages, path = [], f"/inspector/?client_key={site.client_key}"
    while path:
        page = httpx.get(jira.server.url + path.replace("&amp;", "&"), auth=AUTH, timeout=10)
        assert page.status_code == 200
        html_pages.append(
            [int(i) for i in re.findall(r'<tr class="delivery[^"]*" data-id="(\d+)"', page.text)]
        )
        older = re.search(r'<a rel="next" href="([^"]+)"', page.text)
        assert ("data-stream-url" in page.text) == (len(html_pages) == 1)
        assert ("← Newest" in page.text) == (len(html_pages) > 1)
        path = older.group(1) if older else ""
    assert html_pages == pages

    exact = api(jira, "/api/deliveries", client_key=site.client_key, limit=60).json()
    assert exact["next_cursor"] is not None
    last = api(
        jira, "/api/deliveries", client_key=site.client_key, limit=60, cursor=exact["next_cursor"]
    ).json()
    assert len(last["deliveries"]) == 60 and last["next_cursor"] is None


def test_bad_parameters_are_400_json(jira: Jira) -> None:
    for params, code in [
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "201"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"cursor": "not-a-cursor!"}, "invalid_cursor"),
        ({"cursor": "MTIz"}, "invalid_cursor"),
        ({"status": "great"}, "invalid_status"),
        ({"client_key": "a", "source": "b"}, "invalid_parameter"),
    ]:
        bad_request(api(jira, "/api/deliveries", **params), code)
    bad_request(api(jira, "/api/deliveries/abc"), "invalid_id")
    bad_request(api(jira, "/api/deliveries/0"), "invalid_id")
    missing = api(jira, "/api/deliveries/987654321")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    bad_request(api(jira, "/api/stream", status="great"), "invalid_status")
    page = api(jira, "/", limit="0")
    assert page.status_code == 400 and "limit" in page.text
    assert api(jira, "/deliveries/abc").status_code == 400
    assert api(jira, "/deliveries/987654321").status_code == 404


def test_detail_shows_token_claims_canonical_request_and_duplicates(jira: Jira) -> None:
    site = jira.install()
    key = project()
    target = (
        f"/webhooks/jira/issue-created?issueKey={key}-1&issueId=10001"
        f"&projectKey={key}&projectId=10000"
    )
    token = site.token(addon_base_url=jira.base_url, target=target, account_id="acc-7")
    assert send_issue(jira, site, f"{key}-1", identifier=f"{key}-w", token=token).status_code == 204
    assert send_issue(jira, site, f"{key}-1", identifier=f"{key}-w", retry=3).status_code == 204
    (original,) = listed(jira, client_key=site.client_key, status="accepted")
    (duplicate,) = listed(jira, client_key=site.client_key, status="duplicate")

    response = api(jira, f"/api/deliveries/{original['id']}")
    assert response.status_code == 200
    assert token not in response.text and token.split(".")[2] not in response.text
    detail = response.json()
    assert detail["token"]["header"]["alg"] == "HS256"
    assert detail["token"]["verified"] is True
    assert set(detail["token"]["claims"]) == {"iss", "iat", "exp", "qsh", "sub"}
    assert detail["token"]["claims"]["sub"] == "acc-7"
    assert detail["qsh"]["canonical_request"] == (
        f"POST&/webhooks/jira/issue-created&issueId=10001&issueKey={key}-1"
        f"&projectId=10000&projectKey={key}"
    )
    assert detail["qsh"]["matches"] is True
    assert detail["qsh"]["computed"] == detail["token"]["claims"]["qsh"]
    assert "authorization" not in detail["headers"]
    assert detail["headers"]["x-atlassian-webhook-identifier"] == f"{key}-w"
    assert detail["context"]["issue.key"] == f"{key}-1"
    assert [d["id"] for d in detail["duplicates"]] == [duplicate["id"]]
    assert detail["duplicates"][0]["retry"] == 3
    done = eventually(
        lambda: (
            (d := api(jira, f"/api/deliveries/{original['id']}").json())["handler"]["state"]
            == "done"
            and d
        ),
        what="the handler to run",
    )
    assert done["handler"]["attempts"] == 1

    page = api(jira, f"/deliveries/{original['id']}")
    assert page.status_code == 200
    assert token.split(".")[2] not in page.text
    assert "matches" in page.text and f"#{duplicate['id']}" in page.text
    copy = api(jira, f"/deliveries/{duplicate['id']}")
    assert f"/inspector/deliveries/{original['id']}" in copy.text


def test_rejected_detail_explains_the_qsh_mismatch(jira: Jira) -> None:
    site = jira.install()
    key = project()
    assert send_wrong_qsh(jira, site, f"{key}-3").status_code == 401
    rejected = eventually(lambda: listed(jira, client_key=site.client_key, status="rejected"))[0]
    detail = api(jira, f"/api/deliveries/{rejected['id']}").json()
    assert detail["status"] == "rejected"
    assert detail["token"]["verified"] is False
    assert detail["qsh"]["matches"] is False
    assert detail["qsh"]["canonical_request"].startswith("POST&/webhooks/jira/issue-created&")
    assert detail["qsh"]["token"] != detail["qsh"]["computed"]
    page = api(jira, f"/deliveries/{rejected['id']}").text
    assert "does not match" in page and "qsh does not match" in page


def test_handler_failure_is_shown(jira: Jira) -> None:
    site = jira.install()
    assert send_issue(jira, site, "FAIL-1").status_code == 204
    failed = eventually(
        lambda: (
            listed(jira, client_key=site.client_key, status="accepted")[0]["handler_state"]
            == "failed"
        ),
        what="the handler to fail",
    )
    assert failed
    shown = listed(jira, client_key=site.client_key)[0]
    assert "the test handler refuses FAIL-1" in shown["last_error"]
    page = api(jira, f"/deliveries/{shown['id']}").text
    assert "the test handler refuses FAIL-1" in page


def test_tenants_with_state_and_last_delivery_never_the_secret(jira: Jira) -> None:
    site, disabled = jira.install(), jira.install()
    assert send_issue(jira, site, f"{project()}-1").status_code == 204
    assert jira.lifecycle(disabled, "disabled").status_code == 204
    response = api(jira, "/api/tenants")
    assert response.status_code == 200
    tenants = {t["client_key"]: t for t in response.json()["tenants"]}
    mine = tenants[site.client_key]
    assert mine["state"] == "installed"
    assert mine["base_url"] == site.base_url and mine["product_type"] == "jira"
    assert mine["installed_at"].endswith("Z")
    newest = listed(jira, client_key=site.client_key)[0]
    assert mine["last_delivery"]["id"] == newest["id"]
    assert tenants[disabled.client_key]["state"] == "disabled"
    assert tenants[disabled.client_key]["last_delivery"] is None
    page = api(jira, "/tenants")
    assert page.status_code == 200 and site.client_key in page.text
    for shown in (response.text, page.text):
        assert site.shared_secret not in shown and disabled.shared_secret not in shown
        assert "sharedSecret" not in shown


def test_tenants_show_how_they_were_installed_and_every_installation_id(jira: Jira) -> None:
    classic = jira.install()
    forge = dataclasses.replace(jira, forge=True).install()
    again = dataclasses.replace(forge, installation_id=SimulatedSite.new_installation_id())
    # Signed a second later: the same token with another body would be a replay.
    later = again.install_token(
        addon_base_url=jira.base_url, target="/installed", now=time.time() + 1
    )
    assert jira.lifecycle(again, "installed", token=later).status_code == 204
    response = api(jira, "/api/tenants")
    assert response.status_code == 200
    tenants = {t["client_key"]: t for t in response.json()["tenants"]}
    assert tenants[classic.client_key]["installed_through"] == "descriptor"
    assert tenants[classic.client_key]["installation_id"] is None
    assert tenants[classic.client_key]["installation_ids"] == []
    shown = tenants[forge.client_key]
    assert shown["installed_through"] == "forge"
    assert shown["installation_id"] == again.installation_id
    assert shown["installation_ids"] == [forge.installation_id, again.installation_id]
    page = api(jira, "/tenants").text
    rows = {
        key: row for key, row in re.findall(r'<tr data-client-key="([^"]+)">(.*?)</tr>', page, re.S)
    }
    through = re.search(r'data-label="Through".*?</td>', rows[forge.client_key], re.S)
    assert through is not None
    assert ">forge<" in through.group(0)
    assert f">{again.installation_id}<" in through.group(0)
    assert f">{forge.installation_id}<" in through.group(0)
    classic_through = re.search(r'data-label="Through".*?</td>', rows[classic.client_key], re.S)
    assert classic_through is not None and ">descriptor<" in classic_through.group(0)
    assert "installation/" not in classic_through.group(0)


def read_events(
    response: httpx.Response, until: Any, *, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Parse SSE messages from `response` until `until(messages)` is true."""
    messages: list[dict[str, Any]] = []
    message: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            break
        if line == "":
            if message:
                messages.append(message)
                if until(messages):
                    return messages
            message = {}
            continue
        name, _, value = line.partition(":")
        message[name] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended first: {messages}")


def deliveries_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m["data"]) for m in messages if m.get("event") == "delivery"]


def test_stream_sends_new_matching_deliveries(jira: Jira) -> None:
    site: SimulatedSite = jira.install()
    key = project()
    url = f"{jira.base_url}/inspector/api/stream"
    params = {"client_key": site.client_key, "status": "accepted"}
    with httpx.stream("GET", url, params=params, auth=AUTH, timeout=15) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache, no-store"
        assert send_wrong_qsh(jira, site, f"{key}-0").status_code == 401
        assert send_issue(jira, site, f"{key}-<b>1</b>").status_code == 204
        messages = read_events(response, lambda m: deliveries_in(m))
    (event,) = deliveries_in(messages)
    newest = listed(jira, client_key=site.client_key, status="accepted")[0]
    assert event["id"] == newest["id"]
    assert f"{key}-&lt;b&gt;1&lt;/b&gt;" in event["html"] and "<b>" not in event["html"]
    assert f'data-href="/inspector/deliveries/{newest["id"]}"' in event["html"]

    headers = {"Last-Event-ID": str(newest["id"] - 1)}
    with httpx.stream("GET", url, params=params, headers=headers, auth=AUTH, timeout=15) as again:
        resumed = read_events(again, lambda m: deliveries_in(m))
    assert [d["id"] for d in deliveries_in(resumed)] == [newest["id"]]


def test_stream_filters_by_key(jira: Jira) -> None:
    site = jira.install()
    key = project()
    url = f"{jira.base_url}/inspector/api/stream"
    with httpx.stream("GET", url, params={"q": f"{key}-2*"}, auth=AUTH, timeout=15) as response:
        assert send_issue(jira, site, f"{key}-1").status_code == 204
        assert send_issue(jira, site, f"{key}-21").status_code == 204
        messages = read_events(response, lambda m: deliveries_in(m))
    assert len(deliveries_in(messages)) == 1
    assert f"{key}-21" in deliveries_in(messages)[0]["html"]


def test_a_reused_token_is_marked_in_the_list_detail_and_pages(jira: Jira) -> None:
    site = jira.install()
    key = project()
    target = (
        f"/webhooks/jira/issue-created?issueKey={key}-1&issueId=10001"
        f"&projectKey={key}&projectId=10000"
    )
    token = site.token(addon_base_url=jira.base_url, target=target)
    assert send_issue(jira, site, f"{key}-1", identifier=f"{key}-a", token=token).status_code == 204
    assert send_issue(jira, site, f"{key}-1", identifier=f"{key}-b", token=token).status_code == 204
    second, first = listed(jira, client_key=site.client_key)
    assert (first["webhook_id"], first["token_reused"]) == (f"{key}-a", False)
    assert (second["webhook_id"], second["token_reused"]) == (f"{key}-b", True)
    for delivery, reused in ((first, False), (second, True)):
        detail = api(jira, f"/api/deliveries/{delivery['id']}").json()
        assert detail["token_reused"] is reused
        page = api(jira, f"/deliveries/{delivery['id']}").text
        assert ('id="token-reused"' in page) is reused
    rows = api(jira, "/", client_key=site.client_key).text
    assert rows.count("token reused</span>") == 1
    assert token not in rows and token.split(".")[2] not in rows
