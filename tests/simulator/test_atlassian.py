"""The fake Atlassian over real loopback HTTP: consent, rotating refresh tokens, the webhook REST
API, issue search, and its movable clock."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from addon.simulator import FakeAtlassian, FakeSite
from addon.simulator._jql import webhook_filter_errors
from tests.support.loopback import LoopbackServer

CLIENT = {"client_id": "cid", "client_secret": "csecret"}
DAY = 86400


@pytest.fixture
def fake() -> Iterator[tuple[FakeAtlassian, FakeSite, httpx.Client]]:
    atlassian = FakeAtlassian(client_id="cid", client_secret="csecret")
    site = atlassian.add_site("acme", ["DEV", "OPS"])
    with (
        LoopbackServer(atlassian.app) as server,
        httpx.Client(base_url=server.url, trust_env=False) as http,
    ):
        yield atlassian, site, http


def consent(http: httpx.Client, scope: str = "read:jira-work offline_access") -> dict[str, str]:
    query = {
        "audience": "api.atlassian.com",
        "client_id": "cid",
        "scope": scope,
        "redirect_uri": "http://addon.test/oauth/callback",
        "state": "xyz",
        "response_type": "code",
        "prompt": "consent",
    }
    answer = http.get("/authorize?" + urlencode(query))
    assert answer.status_code == 302
    back = urlsplit(answer.headers["location"])
    assert back.netloc == "addon.test" and parse_qs(back.query)["state"] == ["xyz"]
    code = parse_qs(back.query)["code"][0]
    tokens = http.post(
        "/oauth/token",
        json={
            **CLIENT,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://addon.test/oauth/callback",
        },
    )
    assert tokens.status_code == 200, tokens.text
    body: dict[str, str] = tokens.json()
    return body


def refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post(
        "/oauth/token", json={**CLIENT, "grant_type": "refresh_token", "refresh_token": token}
    )


def test_the_consent_page_refuses_a_request_that_is_not_this_apps(
    fake: tuple[FakeAtlassian, FakeSite, httpx.Client],
) -> None:
    _, _, http = fake
    answer = http.get("/authorize?client_id=other&response_type=code&state=s&redirect_uri=x")
    assert answer.status_code == 400
    assert "audience" in answer.json()["error_description"]


def test_refresh_tokens_rotate_and_a_spent_one_works_only_within_the_leeway(
    fake: tuple[FakeAtlassian, FakeSite, httpx.Client],
) -> None:
    atlassian, _, http = fake
    first = consent(http)
    assert first["expires_in"] == 3600 and first["refresh_token"]
    second = refresh(http, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    atlassian.advance(599)
    assert refresh(http, first["refresh_token"]).status_code == 200  # within the 10 minutes
    atlassian.advance(2)
    reused = refresh(http, first["refresh_token"])
    assert reused.status_code == 403 and reused.json()["error"] == "invalid_grant"
    # Reuse past the leeway ended the whole consent: the newest token is refused too.
    assert refresh(http, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert atlassian.live_refresh_tokens() == []


def test_a_consent_ends_after_a_year_and_without_offline_access_has_no_refresh_token(
    fake: tuple[FakeAtlassian, FakeSite, httpx.Client],
) -> None:
    atlassian, _, http = fake
    assert consent(http, scope="read:jira-work").get("refresh_token") is None
    token = consent(http)["refresh_token"]
    for _ in range(4):  # used every 89 days: never inactive for 90
        atlassian.advance(89 * DAY)
        token = refresh(http, token).json()["refresh_token"]
    atlassian.advance(10 * DAY)
    assert refresh(http, token).json()["error"] == "invalid_grant"
    wrong = http.post(
        "/oauth/token",
        json={**CLIENT, "client_secret": "no", "grant_type": "refresh_token", "refresh_token": "x"},
    )
    assert wrong.status_code == 401


def test_webhooks_register_with_per_entry_errors_refresh_expire_and_delete(
    fake: tuple[FakeAtlassian, FakeSite, httpx.Client],
) -> None:
    atlassian, site, http = fake
    auth = {"Authorization": "Bearer " + consent(http)["access_token"]}
    api = f"/ex/jira/{site.cloud_id}/rest/api/3"
    assert http.get(f"{api}/webhook").status_code == 401
    registered = http.post(
        f"{api}/webhook",
        headers=auth,
        json={
            "url": "https://addon.test/hook",
            "webhooks": [
                {"events": ["jira:issue_created"], "jqlFilter": 'project IN ("DEV")'},
                {"events": ["jira:issue_updated"], "jqlFilter": "project is not EMPTY"},
                {"events": ["comment_created"], "jqlFilter": "project = OPS"},
            ],
        },
    )
    assert registered.status_code == 200
    results = registered.json()["webhookRegistrationResult"]
    assert "createdWebhookId" in results[0] and "createdWebhookId" in results[2]
    assert results[1] == {"errors": ["The operator IS NOT is unsupported"]}
    first, third = results[0]["createdWebhookId"], results[2]["createdWebhookId"]

    listed = http.get(f"{api}/webhook", headers=auth).json()
    assert [h["id"] for h in listed["values"]] == [first, third] and listed["isLast"]
    assert listed["values"][0]["expirationDate"] // 1000 == pytest.approx(
        atlassian.now() + 30 * DAY, abs=5
    )

    assert http.post("/_fake/clock", json={"advance": 29 * DAY}).status_code == 200
    assert http.get(f"{api}/webhook", headers=auth).status_code == 401  # an hour's token
    auth = {"Authorization": "Bearer " + consent(http)["access_token"]}
    renewed = http.put(f"{api}/webhook/refresh", headers=auth, json={"webhookIds": [first, 999]})
    assert renewed.json()["expirationDate"].endswith("+0000")
    atlassian.advance(2 * DAY)
    token = {"Authorization": "Bearer " + consent(http)["access_token"]}
    assert [h["id"] for h in http.get(f"{api}/webhook", headers=token).json()["values"]] == [first]
    deleted = http.request("DELETE", f"{api}/webhook", headers=token, json={"webhookIds": [first]})
    assert deleted.status_code == 202
    assert http.get(f"{api}/webhook", headers=token).json()["values"] == []


def test_search_pages_with_next_page_token_and_returns_the_fields_asked_for(
    fake: tuple[FakeAtlassian, FakeSite, httpx.Client],
) -> None:
    atlassian, site, http = fake
    auth = {"Authorization": "Bearer " + consent(http)["access_token"]}
    for number in range(1, 6):
        atlassian.touch_issue(site.cloud_id, f"DEV-{number}")
    atlassian.touch_issue(site.cloud_id, "OPS-1")
    url = f"/ex/jira/{site.cloud_id}/rest/api/3/search/jql"
    query = {"jql": 'project IN ("DEV")', "fields": "summary,updated", "maxResults": 2}
    seen: list[str] = []
    while True:
        page = http.get(url, headers=auth, params=query).json()
        seen += [issue["key"] for issue in page["issues"]]
        assert all(set(i["fields"]) == {"summary", "updated"} for i in page["issues"])
        if "nextPageToken" not in page:
            break
        query["nextPageToken"] = page["nextPageToken"]
    assert seen == [f"DEV-{n}" for n in range(1, 6)]


@pytest.mark.parametrize(
    ("jql", "errors"),
    [
        ('project IN ("DEV", "OPS") AND status != Done', []),
        ("issuetype NOT IN (Bug, Task) OR assignee = abc", []),
        ("cf[10014] = EPIC-1", []),
        ("watchCount > 1", ["The clause watchCount is unsupported"]),
        ("project ~ DEV", ["The operator ~ is unsupported"]),
        ("", ["The JQL filter is required"]),
    ],
)
def test_the_webhook_jql_subset(jql: str, errors: list[str]) -> None:
    assert webhook_filter_errors(jql) == errors
