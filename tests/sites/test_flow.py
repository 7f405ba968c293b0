"""The OAuth door end to end: the app on a real uvicorn, Atlassian played by the simulator's fake on
another loopback port. Consent with its state checks, site choice, registered webhooks delivering,
refusals, webhooks kept alive on a moved clock, catch-up, and a refused grant."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from addon.auth import encode_hs256, query_string_hash
from addon.forge import ForgeInstallations, SiteDetails
from addon.simulator import delivery_token
from addon.sites import CATCH_UP_EVENT, SiteStatus
from addon.store import DeliveryStatus
from tests.sites.flow import AUTH, Flow, cookie, flow_settings, query_of, serving
from tests.sites.support import BASE_URL, CLIENT_ID, CLIENT_SECRET, running_fake


def issue_body(key: str, hook_ids: list[int]) -> dict[str, Any]:
    return {
        "timestamp": int(time.time() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10001", "key": key, "fields": {"project": {"key": key.split("-")[0]}}},
        "matchedWebhookIds": hook_ids,
    }


async def deliver(
    flow: Flow,
    cloud_id: str,
    body: dict[str, Any],
    *,
    authorization: str | None = None,
    identifier: str | None = None,
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "Authorization": authorization or f"Bearer {delivery_token(CLIENT_SECRET)}",
        "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
    }
    return await flow.http.post(
        f"{flow.url}/oauth/sites/{cloud_id}/webhook", content=json.dumps(body), headers=headers
    )


def test_connect_takes_the_inspectors_credentials_and_binds_the_state_to_the_browser(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                anonymous = await flow.http.get(flow.url + "/oauth/connect")
                assert anonymous.status_code == 401
                started = await flow.http.get(flow.url + "/oauth/connect", auth=AUTH)
                assert started.status_code == 303
                query = query_of(started.headers["location"])
                assert started.headers["location"].startswith(fake_url + "/authorize?")
                assert query["audience"] == ["api.atlassian.com"]
                assert query["client_id"] == [CLIENT_ID]
                assert query["redirect_uri"] == [f"{BASE_URL}/oauth/callback"]
                assert query["response_type"] == ["code"] and query["prompt"] == ["consent"]
                assert "offline_access" in query["scope"][0].split()
                state = cookie(started, "addon_oauth_state")
                assert state is not None and state.value == query["state"][0]
                assert state["httponly"] and state["secure"]
                assert state["samesite"].lower() == "lax"
                assert state["path"] == "/oauth/callback" and state["max-age"] == "600"

        asyncio.run(scenario())


def test_without_the_apps_credentials_the_oauth_routes_are_404(sqlite_url: str) -> None:
    with running_fake() as (_fake, fake_url):
        settings = flow_settings(
            sqlite_url, fake_url, atlassian_client_id=None, atlassian_client_secret=None
        )

        async def scenario() -> None:
            from addon.app import create_app
            from tests.support.loopback import LoopbackServer

            with LoopbackServer(create_app(settings), lifespan="on") as server:
                async with httpx.AsyncClient(trust_env=False) as http:
                    for path in ("/oauth/connect", "/oauth/callback", "/oauth/sites/x/webhook"):
                        answer = await http.get(server.url + path, auth=AUTH)
                        assert answer.status_code == 404, path

        asyncio.run(scenario())


def test_a_missing_foreign_stale_or_reused_state_is_refused_and_changes_nothing(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                location, state = await flow.start_consent()
                missing = await flow.callback(location, None)
                assert missing.status_code == 400 and "no consent under way" in missing.text
                foreign = await flow.callback(location, "another-browsers-state")
                assert foreign.status_code == 400 and "another browser" in foreign.text
                assert await flow.door.work.sites.all() == []

                stale_location, stale_state = await flow.start_consent()
                flow.door.clock = lambda: fake.now() + 601
                stale = await flow.callback(stale_location, stale_state)
                assert stale.status_code == 400 and "ten minutes" in stale.text
                flow.door.clock = fake.now
                assert await flow.door.work.sites.all() == []

                done = await flow.callback(location, state)
                assert done.status_code == 200, done.text
                assert cookie(done, "addon_oauth_state") is not None  # deleted
                tokens = fake.token_calls
                reused = await flow.callback(location, state)
                assert reused.status_code == 400 and "already completed" in reused.text
                assert fake.token_calls == tokens
                assert len(await flow.door.work.sites.all()) == 1

        asyncio.run(scenario())


def test_a_consent_covering_several_sites_is_connected_by_the_admins_choice(
    sqlite_url: str,
) -> None:
    with running_fake("acme", "beta") as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                location, state = await flow.start_consent()
                held = await flow.callback(location, state)
                assert held.status_code == 303 and held.headers["location"] == "/oauth/choose"
                choice = cookie(held, "addon_oauth_choice")
                assert choice is not None and choice["httponly"] and choice["secure"]
                jar = {"Cookie": f"addon_oauth_choice={choice.value}"}
                page = await flow.http.get(flow.url + "/oauth/choose", headers=jar)
                assert page.status_code == 200
                assert "acme.atlassian.net" in page.text and "beta.atlassian.net" in page.text
                session = cookie(page, "inspector_session")
                assert session is not None and session["samesite"].lower() == "strict"
                beta = next(s for s in fake.sites.values() if s.name == "beta")
                form = {"site": beta.cloud_id}
                posted = {
                    "Cookie": f"addon_oauth_choice={choice.value}; inspector_session={session.value}",
                    "Origin": BASE_URL,
                }
                forged = await flow.http.post(flow.url + "/oauth/choose", data=form, headers=posted)
                assert forged.status_code == 403
                assert await flow.door.work.sites.all() == []
                chosen = await flow.http.post(
                    flow.url + "/oauth/choose",
                    data={**form, "csrf_token": session.value},
                    headers=posted,
                )
                assert chosen.status_code == 200 and "is connected" in chosen.text, chosen.text
                [site] = await flow.door.work.sites.all()
                assert site.cloud_id == beta.cloud_id and site.status is SiteStatus.CONNECTED
                assert len(fake.webhooks(beta.cloud_id)) == 1
                again = await flow.http.post(
                    flow.url + "/oauth/choose",
                    data={**form, "csrf_token": session.value},
                    headers=posted,
                )
                assert again.status_code == 400  # the held consent was used up

        asyncio.run(scenario())


def test_the_admin_can_choose_the_projects_the_webhooks_cover(sqlite_url: str) -> None:
    with running_fake(projects=("DEV", "OPS")) as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                bad = await flow.http.get(
                    flow.url + "/oauth/connect", params={"projects": "D EV"}, auth=AUTH
                )
                assert bad.status_code == 400 and "not project keys" in bad.text
                started = await flow.http.get(
                    flow.url + "/oauth/connect", params={"projects": "ops"}, auth=AUTH
                )
                state, chosen = (
                    cookie(started, "addon_oauth_state"),
                    cookie(started, "addon_oauth_projects"),
                )
                assert state is not None and chosen is not None and chosen.value == "OPS"
                assert chosen["httponly"] and chosen["path"] == "/oauth"
                approved = await flow.http.get(started.headers["location"])
                done = await flow.http.get(
                    flow.local(approved.headers["location"]),
                    headers={
                        "Cookie": f"addon_oauth_state={state.value}; addon_oauth_projects=OPS"
                    },
                )
                assert done.status_code == 200, done.text
                [site] = await flow.door.work.sites.all()
                assert site.projects == ("OPS",)
                [hook] = fake.webhooks(site.cloud_id)
                assert hook.jql == 'project IN ("OPS")'

        asyncio.run(scenario())


def test_registration_errors_are_shown_to_the_admin_and_recorded(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running_fake() as (fake, fake_url):
        settings = flow_settings(sqlite_url, fake_url, site_webhook_events=("sprint_started",))

        async def scenario() -> None:
            async with serving(settings, fake) as flow:
                location, state = await flow.start_consent()
                with caplog.at_level(logging.WARNING, logger="addon.sites"):
                    page = await flow.callback(location, state)
                assert page.status_code == 200
                refused = "The event sprint_started is not supported"
                assert refused in page.text
                [site] = await flow.door.work.sites.all()
                assert site.webhook_errors == (refused,)
                assert fake.webhooks(site.cloud_id) == []
                assert [r for r in caplog.records if refused in r.getMessage()]
                sites_page = await flow.http.get(flow.url + "/inspector/sites", auth=AUTH)
                assert refused in sites_page.text
                # The next upkeep pass tries again and keeps the record while Jira refuses.
                await flow.door.work.upkeep()
                stored = await flow.door.work.sites.get(site.cloud_id)
                assert stored is not None and stored.webhook_errors == (refused,)

        asyncio.run(scenario())


def test_deliveries_are_verified_recorded_once_and_handled_with_the_sites_token(
    database_url: str,
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(database_url, fake_url), fake) as flow:
                site = await flow.connect()
                [hook] = fake.webhooks(site.cloud_id)
                assert flow.local(hook.url) == f"{flow.url}/oauth/sites/{site.cloud_id}/webhook"

                body = issue_body("DEV-1", [hook.id])
                first = await deliver(flow, site.cloud_id, body, identifier="oauth-dup-1")
                again = await deliver(flow, site.cloud_id, body, identifier="oauth-dup-1")
                assert (first.status_code, again.status_code) == (204, 204), first.text
                rows = await flow.rows(2, q="oauth-dup-1")
                assert [r.status for r in rows] == [
                    DeliveryStatus.ACCEPTED,
                    DeliveryStatus.DUPLICATE,
                ]
                assert rows[0].origin == site.cloud_id and rows[0].issue_key == "DEV-1"
                assert rows[0].token is not None and set(rows[0].token["claims"]) == {"iat", "exp"}
                assert "authorization" not in {k.lower() for k in rows[0].headers}

                [handled] = await flow.seen(1)
                assert handled["origin"].kind == "oauth"
                assert handled["origin"].site_url == site.url
                assert handled["client"] == f"{fake_url}/ex/jira/{site.cloud_id}/"
                assert handled["status"] == 200  # the fake took the site's access token

                stray = await deliver(flow, site.cloud_id, issue_body("DEV-2", [999]))
                assert stray.status_code == 204
                [flagged] = await flow.rows(1, q="DEV-2")
                assert flagged.status is DeliveryStatus.ACCEPTED
                assert flagged.verification is not None and "flagged" in flagged.verification

                stored = await flow.door.work.sites.get(site.cloud_id)
                assert stored is not None and stored.last_delivery_at is not None

        asyncio.run(scenario())


def _connect_jwt(target: str) -> str:
    now = int(time.time())
    claims = {
        "iss": "a-connect-tenant",
        "iat": now,
        "exp": now + 180,
        "qsh": query_string_hash("POST", target, BASE_URL),
    }
    return encode_hs256(claims, CLIENT_SECRET)


def test_a_wrong_secret_an_expired_token_and_a_connect_jwt_are_refused_with_reasons(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake, clock=False) as flow:
                site = await flow.connect()
                target = f"/oauth/sites/{site.cloud_id}/webhook"
                body = issue_body("DEV-9", [])
                wrong = f"Bearer {delivery_token('not-the-client-secret-' + 'n' * 20)}"
                expired = f"Bearer {delivery_token(CLIENT_SECRET, now=time.time() - 3600)}"
                connect = f"JWT {_connect_jwt(target)}"
                connect_as_bearer = f"Bearer {_connect_jwt(target)}"
                hs512 = "Bearer " + jwt.encode({"iat": 1}, "x" * 64, algorithm="HS512")
                expected = {
                    wrong: "wrong_signature",
                    expired: "expired_token",
                    connect: "connect_token",
                    connect_as_bearer: "connect_token",
                    hs512: "wrong_algorithm",
                }
                for authorization, code in expected.items():
                    answer = await deliver(flow, site.cloud_id, body, authorization=authorization)
                    assert answer.status_code == 401, answer.text
                    assert answer.json()["error"] == code and answer.json()["reason"]
                    assert answer.headers["www-authenticate"] == 'Bearer realm="oauth-sites"'
                rows = await flow.rows(len(expected), status="rejected")
                assert sorted(r.error_code or "" for r in rows) == sorted(expected.values())
                assert all(r.reason for r in rows)
                assert flow.handled == []

                unknown = await deliver(flow, "not-a-connected-site", body)
                assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_site"

        asyncio.run(scenario())


def test_webhooks_are_refreshed_before_expiry_registered_again_and_the_gap_caught_up(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                fake.touch_issue(next(iter(fake.sites)), "DEV-1", "before the connection")
                fake.advance(60)
                site = await flow.connect()
                [hook] = fake.webhooks(site.cloud_id)
                first_expiry = hook.expires_at

                fake.advance(10 * 24 * 3600)  # 20 days left: nothing to do yet
                [outcome] = await flow.door.work.upkeep()
                assert outcome.report is not None and outcome.report.refreshed == []

                fake.advance(14 * 24 * 3600)  # 6 days left, fewer than SITE_WEBHOOK_REFRESH_DAYS
                [outcome] = await flow.door.work.upkeep()
                assert outcome.report is not None and outcome.report.refreshed == [hook.id]
                [kept] = fake.webhooks(site.cloud_id)
                assert kept.id == hook.id and kept.expires_at > first_expiry + 20 * 24 * 3600
                [stored] = await flow.door.work.sites.webhooks(site.cloud_id)
                assert stored.expires_at is not None
                assert abs(stored.expires_at - kept.expires_at) < 2

                fake.advance(60)
                fake.forget_webhook(site.cloud_id, hook.id)
                fake.advance(60)
                missed = fake.touch_issue(site.cloud_id, "DEV-2", "while nothing was delivered")
                fake.advance(60)
                [outcome] = await flow.door.work.upkeep()
                assert outcome.report is not None
                assert outcome.report.forgotten == [hook.id] and outcome.report.registered
                assert [h.id for h in fake.webhooks(site.cloud_id)] == outcome.report.registered

                [caught] = await flow.rows(1, event=CATCH_UP_EVENT)
                assert caught.issue_key == "DEV-2" and caught.origin == site.cloud_id
                assert caught.verification is not None and caught.verification["caught_up"]
                assert json.loads(caught.body)["id"] == missed["id"]
                # found again (the second pass, the overlap), it is not recorded twice
                fresh = await flow.door.work.sites.get(site.cloud_id)
                assert fresh is not None
                assert await flow.door.work.catch_up(fresh, fresh.connected_at) == 0
                assert len(await flow.rows(1, event=CATCH_UP_EVENT)) == 1

        asyncio.run(scenario())


def test_a_gap_while_no_instance_ran_is_caught_up_at_start_up(sqlite_url: str) -> None:
    with running_fake() as (fake, fake_url):
        settings = flow_settings(sqlite_url, fake_url)

        async def scenario() -> None:
            async with serving(settings, fake, clock=False) as flow:
                site = await flow.connect()
                fake.touch_issue(site.cloud_id, "DEV-5", "while an instance ran")
                async with serving(settings, fake, clock=False) as second:
                    await second.door.work.heartbeat()  # another instance ran: no gap
                    assert await second.rows(1, timeout=0.5, event=CATCH_UP_EVENT) == []
                await flow.door.work.sites.beat(now=time.time() - 900)  # as if stopped then
            fake.advance(-1200)
            fake.touch_issue(site.cloud_id, "DEV-3", "before the gap")
            fake.advance(1200)
            fake.touch_issue(site.cloud_id, "DEV-4", "during the gap")
            async with serving(settings, fake, clock=False) as flow:
                caught = await flow.rows(2, event=CATCH_UP_EVENT)
                assert sorted(row.issue_key or "" for row in caught) == ["DEV-4", "DEV-5"]
                beat = await flow.door.work.sites.last_heartbeat()
                assert beat is not None and beat > time.time() - 60


def test_a_refused_grant_means_reconnect_once_and_background_work_stops(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                site = await flow.connect()
                fake.revoke()
                fake.advance(3700)  # the access token ran out
                with caplog.at_level(logging.WARNING, logger="addon.sites"):
                    await flow.door.work.refresh_tokens()
                    calls = fake.token_calls
                    await flow.door.work.refresh_tokens()
                    await flow.door.work.upkeep()
                    await flow.door.work.heartbeat()
                assert fake.token_calls == calls
                stored = await flow.door.work.sites.get(site.cloud_id)
                assert stored is not None and stored.status is SiteStatus.NEEDS_RECONNECT
                assert "invalid_grant" in (stored.status_reason or "")
                lines = [r for r in caplog.records if "needs reconnect" in r.getMessage()]
                assert len(lines) == 1
                origin_client = await flow.door.site_client(site.url)
                assert origin_client is None
                shown = await flow.http.get(flow.url + "/inspector/api/sites", auth=AUTH)
                [listed] = [s for s in shown.json()["sites"] if s["kind"] == "oauth"]
                assert listed["status"] == "needs reconnect"
                assert any("invalid_grant" in w for w in listed["warnings"])

                await flow.connect()  # a new consent clears it
                stored = await flow.door.work.sites.get(site.cloud_id)
                assert stored is not None and stored.status is SiteStatus.CONNECTED

        asyncio.run(scenario())


def test_two_instances_refreshing_at_once_end_with_one_valid_refresh_token(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):
        settings = flow_settings(sqlite_url, fake_url)

        async def scenario() -> None:
            async with serving(settings, fake) as one, serving(settings, fake) as two:
                await one.connect()
                fake.advance(3600)
                refreshed = fake.refreshes
                await asyncio.gather(one.door.work.refresh_tokens(), two.door.work.refresh_tokens())
                assert fake.refreshes == refreshed + 1
                assert len(fake.live_refresh_tokens()) == 1
                [site] = await two.door.work.sites.all()
                assert site.refresh_token == fake.live_refresh_tokens()[0]

        asyncio.run(scenario())


def test_the_inspector_lists_every_site_marks_catch_ups_and_shows_the_claims_carried(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                site = await flow.connect()
                [hook] = fake.webhooks(site.cloud_id)
                answer = await deliver(flow, site.cloud_id, issue_body("DEV-7", [hook.id]))
                assert answer.status_code == 204
                fake.touch_issue(site.cloud_id, "DEV-8", "missed")
                assert await flow.door.work.catch_up(site, fake.now() - 60, again=False) == 1

                forge = ForgeInstallations(flow.store.db, flow.store.box)
                details = SiteDetails(
                    "ari:forge-installation-1",
                    "https://api.example.net",
                    "c-9",
                    "https://forge.example.net",
                )
                await forge.seen(details, installed=True, now=time.time())
                page = await flow.http.get(flow.url + "/inspector/sites", auth=AUTH)
                assert page.status_code == 200
                assert "https://forge.example.net" in page.text
                assert "ari:forge-installation-1" in page.text
                assert site.url in page.text and site.cloud_id in page.text
                assert 'action="/inspector/sites/connect"' in page.text
                assert str(hook.id) in page.text and "Refresh token ends" in page.text
                assert "within a month" not in page.text
                listed = (await flow.http.get(flow.url + "/inspector/api/sites", auth=AUTH)).json()
                [known] = [s for s in listed["sites"] if s["kind"] == "oauth"]
                assert known["status"] == "connected" and known["key"] == site.cloud_id
                assert "token" not in json.dumps(known["facts"]).replace("Refresh token", "")

                flow.door.clock = lambda: fake.now() + 340 * 24 * 3600
                late = await flow.http.get(flow.url + "/inspector/sites", auth=AUTH)
                assert "within a month" in late.text

                deliveries = await flow.http.get(flow.url + "/inspector/", auth=AUTH)
                assert "caught up" in deliveries.text
                [delivered] = await flow.rows(1, q="DEV-7")
                detail = await flow.http.get(
                    f"{flow.url}/inspector/deliveries/{delivered.id}", auth=AUTH
                )
                assert "Claims carried" in detail.text and "exp, iat" in detail.text

        asyncio.run(scenario())
