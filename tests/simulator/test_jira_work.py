"""The fake Jira for the sync, over loopback HTTP: what Jira answers, and the bodies it sends."""

from __future__ import annotations

import httpx

from addon.simulator import APP_ACCOUNT, FakeJiraWork
from tests.support.loopback import LoopbackServer


class Clock:
    at = 1_780_000_000.0

    def now(self) -> float:
        return self.at


def test_issues_transitions_properties_search_and_webhooks() -> None:
    clock = Clock()
    fake = FakeJiraWork(clock=clock.now)
    site = fake.add_site("acme", language="de", search_lag=10.0)
    fake.tokens["person-token"] = "person-1"
    seen: list[tuple[str, str]] = []
    fake.on_webhook = lambda cloud_id, body: seen.append((cloud_id, body["webhookEvent"]))
    with LoopbackServer(fake.app) as server:
        base = f"{server.url}/ex/jira/{site.cloud_id}/rest/api/3"
        app = httpx.Client(base_url=base, headers={"Authorization": "Bearer a"}, trust_env=False)
        person = httpx.Client(
            base_url=base, headers={"Authorization": "Bearer person-token"}, trust_env=False
        )
        assert httpx.get(f"{base}/priority").status_code == 401
        bad = app.post("/issue", json={"fields": {"project": {"key": "NOPE"}, "summary": "x"}})
        assert bad.status_code == 400 and "project" in bad.json()["errors"]
        spaced = app.post(
            "/issue",
            json={"fields": {"project": {"key": "DEV"}, "issuetype": {"name": "Task"},
                             "summary": "x", "labels": ["two words"]}},
        )  # fmt: skip
        assert spaced.status_code == 400 and "labels" in spaced.json()["errors"]
        created = app.post(
            "/issue",
            json={"fields": {"project": {"key": "DEV"}, "issuetype": {"name": "Task"},
                             "summary": "Hallo", "labels": ["sync-1"]}},
        )  # fmt: skip
        assert created.status_code == 201
        issue_id = created.json()["id"]
        assert created.json()["key"] == "DEV-1"

        status = app.get(f"/issue/{issue_id}", params={"fields": "status"}).json()
        assert status["fields"]["status"]["name"] == "Offen"
        assert status["fields"]["status"]["statusCategory"]["key"] == "new"
        assert status["fields"]["status"]["statusCategory"]["name"] == "Zu erledigen"

        found = app.post("/search/jql", json={"jql": 'labels = "sync-1"', "fields": ["status"]})
        assert found.json()["issues"] == []  # the index lags
        clock.at += 10
        found = app.post("/search/jql", json={"jql": 'labels = "sync-1"', "fields": ["status"]})
        assert [i["id"] for i in found.json()["issues"]] == [issue_id]

        transitions = app.get(f"/issue/{issue_id}/transitions").json()["transitions"]
        assert {t["id"]: t["to"]["id"] for t in transitions} == {"11": "10001", "51": "10004"}
        refused = app.post(f"/issue/{issue_id}/transitions", json={"transition": {"id": "31"}})
        assert refused.status_code == 400
        moved = person.post(f"/issue/{issue_id}/transitions", json={"transition": {"id": "11"}})
        assert moved.status_code == 204

        assert (
            app.put(f"/issue/{issue_id}/properties/sync", json={"item": "i-1"}).status_code == 201
        )
        assert app.get(f"/issue/{issue_id}/properties/sync").json()["value"] == {"item": "i-1"}

        assert app.get("/status/10003").json()["statusCategory"] == {
            "self": "https://acme.atlassian.net/rest/api/3/statuscategory/3",
            "id": 3,
            "key": "done",
            "colorName": "green",
            "name": "Fertig",
        }
        assert app.get("/status/99").status_code == 404

    created_body, moved_body = fake.webhooks
    assert created_body["webhookEvent"] == "jira:issue_created"
    assert created_body["user"]["accountId"] == APP_ACCOUNT
    assert moved_body["webhookEvent"] == "jira:issue_updated"
    assert moved_body["user"]["accountId"] == "person-1"
    (item,) = moved_body["changelog"]["items"]
    assert item == {
        "field": "status",
        "fieldtype": "jira",
        "fieldId": "status",
        "from": "10000",
        "fromString": "Offen",
        "to": "10001",
        "toString": "In Arbeit",
    }
    assert moved_body["issue"]["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
    assert seen == [(site.cloud_id, "jira:issue_created"), (site.cloud_id, "jira:issue_updated")]
