"""`SiteDoor` on its own: which paths are its own, what `verify` makes of a request, the Jira
client it builds, its jobs under the job leases, and when the app opens it at all."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from addon.app import open_doors
from addon.connect import render_for
from addon.delivery import Delivery, Origin, Rejection
from addon.doors import ListsSites, Runtime
from addon.incoming import Incoming
from addon.jobs import JobRunner
from addon.settings import Settings
from addon.simulator import delivery_token
from addon.sites import Resource, SiteDoor, SiteStatus, SiteWebhook, TokenGrant
from addon.store import open_store
from tests.sites.support import BASE_URL, CLIENT_ID, CLIENT_SECRET, KEY, raw_key

SETTINGS = Settings(
    base_url=BASE_URL,
    atlassian_client_id=CLIENT_ID,
    atlassian_client_secret=CLIENT_SECRET,
    atlassian_auth_url="http://127.0.0.1:9",
    atlassian_api_url="http://127.0.0.1:9",
)
CLOUD_ID = "0b7c6f1e-cloud"


@asynccontextmanager
async def started(database_url: str) -> AsyncIterator[SiteDoor]:
    store = await open_store(database_url, keys=(raw_key(KEY),))
    await store.start()
    door = SiteDoor(SETTINGS)
    try:
        async with httpx.AsyncClient() as http:
            await door.start(Runtime(store=store, http=http))
            grant = TokenGrant("access-token", 3600, "refresh-token", ("read:jira-work",))
            resource = Resource(CLOUD_ID, "https://acme.atlassian.net", "acme", ())
            await door.work.sites.connect(resource, grant, now=time.time())
            await door.work.sites.save_webhooks(
                CLOUD_ID, [SiteWebhook(7, ("jira:issue_updated",), "project = DEV", None)], now=1
            )
            yield door
    finally:
        await store.close()


def request(body: object, authorization: str | None, cloud_id: str = CLOUD_ID) -> Incoming:
    headers = [("content-type", "application/json"), ("x-atlassian-webhook-identifier", "w-1")]
    if authorization is not None:
        headers.append(("authorization", authorization))
    return Incoming(
        "POST",
        f"/oauth/sites/{cloud_id}/webhook",
        "",
        headers,
        json.dumps(body).encode(),
        time.time(),
    )


def good() -> str:
    return f"Bearer {delivery_token(CLIENT_SECRET)}"


BODY = {"webhookEvent": "jira:issue_updated", "issue": {"key": "DEV-1"}, "matchedWebhookIds": [7]}


def test_its_webhook_paths_name_the_site() -> None:
    door = SiteDoor(SETTINGS)
    assert door.match(f"/oauth/sites/{CLOUD_ID}/webhook", "") == CLOUD_ID
    assert door.match("/oauth/sites/a%2Fb/webhook", "") == "a/b"
    for other in ("/oauth/sites//webhook", "/oauth/sites/x/y/webhook", "/oauth/connect", "/"):
        assert door.match(other, "") is None
    assert door.example_paths() == ["/oauth/sites/example/webhook"]
    with pytest.raises(ValueError, match="ATLASSIAN_CLIENT_SECRET"):
        SiteDoor(Settings())


def test_the_app_opens_it_only_with_the_apps_credentials() -> None:
    plain = Settings(base_url=BASE_URL)
    assert "oauth" not in [d.kind for d in open_doors(plain, render_for(plain))]
    doors = open_doors(SETTINGS, render_for(SETTINGS))
    assert [d.kind for d in doors].count("oauth") == 1
    [door] = [d for d in doors if d.kind == "oauth"]
    assert isinstance(door, ListsSites) and door.connect_path == "/inspector/sites/connect"


def test_verify_accepts_a_signed_delivery_and_flags_an_unknown_registration(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with started(database_url) as door:
            outcome = await door.verify(request(BODY, good()), CLOUD_ID)
            assert isinstance(outcome, Delivery)
            assert outcome.origin == Origin("oauth", CLOUD_ID, "https://acme.atlassian.net")
            assert outcome.event == "jira:issue_updated" and outcome.ignored is None
            assert outcome.headers.webhook_id == "w-1"
            assert "authorization" in outcome.hidden_headers
            assert outcome.evidence.verification is not None
            assert outcome.evidence.verification["matched_webhook_ids"] == [7]
            assert "mark" not in outcome.evidence.verification
            assert outcome.evidence.token is not None
            assert set(outcome.evidence.token["claims"]) == {"iat", "exp"}

            stray = await door.verify(request({**BODY, "matchedWebhookIds": [8]}, good()), CLOUD_ID)
            assert isinstance(stray, Delivery)
            assert stray.evidence.verification is not None
            assert stray.evidence.verification["mark"] == "flagged"
            assert "[8]" in stray.evidence.verification["flagged"]

            await door.work.sites.save_webhooks(
                CLOUD_ID, [SiteWebhook(9, ("jira:issue_updated",), "project = OPS", None)], now=2
            )
            both = await door.verify(
                request({**BODY, "matchedWebhookIds": [7, 9]}, good()), CLOUD_ID
            )
            assert isinstance(both, Delivery) and both.evidence.verification is not None
            assert both.evidence.verification["mark"] == "overlap"

    asyncio.run(scenario())


def test_the_marks_follow_the_rules_the_readme_states(database_url: str) -> None:
    async def mark(door: SiteDoor, named: object) -> str | None:
        body = {**BODY, "matchedWebhookIds": named}
        outcome = await door.verify(request(body, good()), CLOUD_ID)
        assert isinstance(outcome, Delivery) and outcome.ignored is None
        assert outcome.evidence.verification is not None
        return outcome.evidence.verification.get("mark")

    async def scenario() -> None:
        async with started(database_url) as door:  # one registration stored: 7
            assert await mark(door, [7]) is None
            assert await mark(door, ["7", 8]) is None  # an unknown id beside it is ignored
            for nothing in ([], [8], None, "7", [True], ["x"]):
                assert await mark(door, nothing) == "flagged", nothing
            await door.work.sites.save_webhooks(
                CLOUD_ID, [SiteWebhook(9, ("jira:issue_updated",), "project = OPS", None)], now=2
            )  # a new filter registered, the old not deleted yet
            assert await mark(door, [7]) == "overlap"
            assert await mark(door, [9]) == "overlap"
            assert await mark(door, [7, 9]) == "overlap"
            assert await mark(door, [8]) == "flagged"  # flagged, never also overlap
            await door.work.sites.drop_webhooks(CLOUD_ID, [7])  # the old one deleted
            assert await mark(door, [9]) is None
            assert await mark(door, [7]) == "flagged"  # a late delivery of the deleted one

    asyncio.run(scenario())


def test_verify_refuses_what_it_cannot_trust_with_a_reason(database_url: str) -> None:
    async def scenario() -> None:
        async with started(database_url) as door:
            cases = {
                None: "missing_token",
                "Bearer " + delivery_token("another-secret-" + "x" * 30): "wrong_signature",
                f"Bearer {delivery_token(CLIENT_SECRET, now=time.time() - 3600)}": "expired_token",
                f"JWT {delivery_token(CLIENT_SECRET)}": "connect_token",
            }
            for authorization, code in cases.items():
                outcome = await door.verify(request(BODY, authorization), CLOUD_ID)
                assert isinstance(outcome, Rejection), authorization
                assert outcome.refusal.code == code and outcome.refusal.status == 401
                assert outcome.refusal.reason and outcome.origin_kind == "oauth"
                assert "authorization" in outcome.hidden_headers
            unknown = await door.verify(request(BODY, good(), "elsewhere"), "elsewhere")
            assert isinstance(unknown, Rejection) and unknown.refusal.status == 404
            no_event = await door.verify(request({"issue": {}}, good()), CLOUD_ID)
            assert isinstance(no_event, Rejection) and no_event.refusal.status == 400

    asyncio.run(scenario())


def test_verify_keeps_a_delivery_of_a_disconnected_site_as_ignored(database_url: str) -> None:
    async def scenario() -> None:
        async with started(database_url) as door:
            await door.work.sites.forget_tokens(CLOUD_ID, now=time.time())
            outcome = await door.verify(request(BODY, good()), CLOUD_ID)
            assert isinstance(outcome, Delivery) and outcome.ignored
            assert await door.jira_client(outcome.origin) is None

    asyncio.run(scenario())


def test_its_jira_client_goes_through_the_gateway_with_the_sites_token(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with started(database_url) as door:
            origin = Origin("oauth", CLOUD_ID, "https://acme.atlassian.net")
            factory = await door.jira_client(origin)
            assert factory is not None and factory.site_url == "https://acme.atlassian.net"
            assert await door.jira_client(Origin("connect", CLOUD_ID)) is None
            assert await door.site_client("https://acme.atlassian.net") is not None
            assert await door.site_client("https://other.atlassian.net") is None
            async with factory() as jira:
                assert str(jira.base_url) == f"http://127.0.0.1:9/ex/jira/{CLOUD_ID}/"
                assert jira.auth is not None
                flow = jira.auth.async_auth_flow(jira.build_request("GET", "/rest/api/3/myself"))
                signed = await flow.__anext__()
                await flow.aclose()
            assert signed.headers["authorization"] == "Bearer access-token"
            await door.work.sites.set_status(
                CLOUD_ID, SiteStatus.NEEDS_RECONNECT, reason="invalid_grant", now=time.time()
            )
            assert await door.jira_client(origin) is None

    asyncio.run(scenario())


def test_its_jobs_run_at_one_instance_at_a_time_and_the_heartbeat_is_recorded(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with started(database_url) as door:
            jobs = {job.name: job for job in door.jobs()}
            assert set(jobs) == {"oauth-webhooks", "oauth-tokens", "oauth-heartbeat"}
            assert jobs["oauth-heartbeat"].every == 60
            one = JobRunner(door.work.store, list(jobs.values()), owner="one")
            two = JobRunner(door.work.store, list(jobs.values()), owner="two")
            assert await one.run_once(jobs["oauth-heartbeat"])
            assert not await two.run_once(jobs["oauth-heartbeat"])
            beat = await door.work.sites.last_heartbeat()
            assert beat is not None and abs(beat - time.time()) < 5
            facts = await door.site_facts()
            assert [f.key for f in facts] == [CLOUD_ID]
            assert dict(facts[0].facts)["Webhooks"].startswith("7 until")

    asyncio.run(scenario())
