"""What the inspector shows of a delivery or a tenant, without HTTP: times, tokens, qsh, payloads."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from addon.auth import canonical_request, query_string_hash
from addon.inspector._json import delivery_detail_json, delivery_json, tenant_json
from addon.inspector._present import (
    check_view,
    event_name,
    iso_time,
    main_key,
    payload_text,
    qsh_check,
    token_view,
)
from addon.inspector._views import detail_view, row_view, tenant_view
from addon.store import Delivery, DeliveryStatus, HandlerState, Tenant, TenantState

TARGET = "/webhooks/jira/issue-created?issueKey=ABC-1&issueId=1&projectKey=ABC&projectId=2"
CANONICAL = canonical_request("POST", TARGET)
QSH = query_string_hash("POST", TARGET)
SECRET = "ATCOSEC_do-not-show-this-secret"


def delivery(**changes: Any) -> Delivery:
    base = Delivery(
        id=7,
        received_at=1_770_000_000.25,
        origin_kind="connect",
        origin="client-1",
        event="jira:issue_created",
        webhook_id="wh-1",
        retry=2,
        flow="Primary",
        status=DeliveryStatus.ACCEPTED,
        reason=None,
        error_code=None,
        method="POST",
        path=TARGET,
        context={"issue.key": "ABC-1"},
        token={
            "header": {"alg": "HS256", "typ": "JWT"},
            "claims": {
                "iss": "client-1",
                "iat": 1_770_000_000,
                "exp": 1_770_000_180,
                "qsh": QSH,
                "context": {"user": {"accountId": "x"}},
                "jti": "abc",
            },
        },
        canonical_request=CANONICAL,
        qsh_expected=QSH,
        headers={"content-type": "application/json", "x-atlassian-webhook-identifier": "wh-1"},
        body=json.dumps({"issue": {"key": "ABC-1", "fields": {"summary": "Hi"}}}).encode(),
        body_size=0,
        resource="issue",
        action="created",
        issue_key="ABC-1",
        project_key="ABC",
        sprint_id=None,
        actor="acc-1",
        handler_state=HandlerState.FAILED,
        attempts=3,
        next_attempt_at=None,
        last_error="RuntimeError: boom",
        completed_at=None,
        duplicate_of=None,
    )
    base = dataclasses.replace(base, body_size=len(base.body))
    return dataclasses.replace(base, **changes)


def tenant(**changes: Any) -> Tenant:
    base = Tenant(
        client_key="client-1",
        shared_secret=SECRET,
        base_url="https://example.atlassian.net",
        display_url=None,
        product_type="jira",
        description="Example",
        oauth_client_id="oauth-1",
        installation_id=None,
        payload={"clientKey": "client-1"},
        state=TenantState.ENABLED,
        state_iat=1,
        installed_at=1_769_000_000.0,
        updated_at=1_769_000_000.0,
        uninstalled_at=None,
    )
    return dataclasses.replace(base, **changes)


def url(delivery_id: int) -> str:
    return f"/inspector/deliveries/{delivery_id}"


def test_times_are_iso_8601_utc() -> None:
    assert iso_time(1_770_000_000.25) == "2026-02-02T02:40:00.250Z"
    assert iso_time(None) is None
    assert delivery_json(delivery())["received_at"].endswith("Z")


def test_list_json_has_the_documented_fields() -> None:
    shown = delivery_json(delivery(), tenant())
    for field in (
        "id",
        "received_at",
        "client_key",
        "source",
        "event",
        "status",
        "reason",
        "webhook_id",
        "retry",
        "context",
        "payload",
        "resource",
        "action",
        "issue_key",
        "project_key",
        "handler_state",
    ):
        assert field in shown
    assert shown["client_key"] == "client-1"
    assert shown["source"] is None
    assert shown["site_url"] == "https://example.atlassian.net"
    assert shown["payload"] == {"issue": {"key": "ABC-1", "fields": {"summary": "Hi"}}}
    from_source = delivery_json(delivery(origin_kind="source", origin="billing"))
    assert (from_source["client_key"], from_source["source"]) == (None, "billing")


def test_token_shows_header_and_named_claims_only() -> None:
    view = token_view(delivery().token)
    assert view is not None
    assert list(view.claims) == ["iss", "iat", "exp", "qsh"]
    assert view.verified
    rows = {name: (value, note) for name, value, note in view.claim_rows()}
    assert rows["exp"] == ("1770000180", "2026-02-02 02:43:00 UTC")
    forged = token_view(
        {
            "header": {"alg": "HS256"},
            "claims": {"sub": "u", "aud": ["x"]},
            "verified": False,
            "signature": "SIG",
            "raw": "a.b.c",
        }
    )
    assert forged is not None and not forged.verified
    text = json.dumps(
        delivery_detail_json(
            delivery(token={"header": {}, "claims": {}, "signature": "SIG"}), None, []
        )
    )
    assert "SIG" not in text
    assert token_view(None) is None


def test_qsh_check_recomputes_the_hash_of_the_canonical_request() -> None:
    good = qsh_check(delivery())
    assert good is not None
    assert good.canonical_request == CANONICAL
    assert good.computed_qsh == QSH
    assert good.matches is True
    wrong = qsh_check(delivery(token={"header": {}, "claims": {"qsh": "0" * 64}}))
    assert wrong is not None and wrong.matches is False
    no_claim = qsh_check(delivery(token=None))
    assert no_claim is not None and no_claim.matches is None
    assert qsh_check(delivery(canonical_request=None)) is None


def test_payload_is_pretty_printed_or_shown_as_text() -> None:
    pretty = payload_text(delivery())
    assert pretty is not None and pretty.is_json
    assert pretty.text.startswith('{\n  "issue": {')
    junk = payload_text(delivery(body=b"<script>x</script>\xff", body_size=70_000))
    assert junk is not None and not junk.is_json
    assert "<script>x</script>" in junk.text
    assert "only the first" in junk.note
    assert payload_text(delivery(body=b"")) is None


def test_nan_in_a_payload_still_gives_valid_json() -> None:
    shown = delivery_json(delivery(body=b'{"x": NaN, "y": Infinity}'))
    assert shown["payload"] == {"x": "NaN", "y": "Infinity"}
    json.dumps(shown, allow_nan=False)


def test_main_key_prefers_the_issue() -> None:
    assert main_key(delivery()) == "ABC-1"
    assert main_key(delivery(issue_key=None)) == "ABC"
    assert main_key(delivery(issue_key=None, project_key=None, sprint_id="5")) == "sprint 5"
    assert main_key(delivery(issue_key=None, project_key=None, actor="acc")) == "acc"


def test_a_rejected_delivery_names_the_key_of_its_body() -> None:
    rejected = delivery(
        status=DeliveryStatus.REJECTED,
        issue_key=None,
        project_key=None,
        actor=None,
        resource=None,
        action=None,
    )
    assert main_key(rejected) == "ABC-1"


def test_detail_view_collects_everything() -> None:
    duplicate = delivery(id=9, status=DeliveryStatus.DUPLICATE, duplicate_of=7)
    view = detail_view(delivery(), tenant(), [duplicate], url)
    assert view.row.detail_url == "/inspector/deliveries/7"
    assert view.row.handler_label == "failed"
    assert row_view(delivery(handler_state=HandlerState.NONE), None, url).handler_label == "none"
    assert view.last_error == "RuntimeError: boom"
    assert ("Attempts", "3") in view.handler
    assert ("issue.key", "ABC-1") in view.context
    assert [d.id for d in view.duplicates] == [9]
    assert view.original_url is None
    assert detail_view(duplicate, None, [], url).original_url == "/inspector/deliveries/7"
    detail = delivery_detail_json(delivery(), tenant(), [duplicate])
    assert detail["qsh"]["matches"] is True
    assert detail["handler"]["last_error"] == "RuntimeError: boom"
    assert detail["duplicates"][0]["id"] == 9


def test_row_view_of_an_unknown_tenant() -> None:
    row = row_view(delivery(origin=None, status=DeliveryStatus.REJECTED, reason="bad"), None, url)
    assert row.site_url is None and row.origin is None and row.reason == "bad"


def test_tenants_never_show_the_secret() -> None:
    last = delivery()
    shown = json.dumps(tenant_json(tenant(), last))
    assert SECRET not in shown
    assert json.loads(shown)["last_delivery"]["id"] == 7
    view = tenant_view(tenant(), last, url, "/inspector/?client_key=client-1")
    assert SECRET not in repr(view)
    assert view.state == "enabled"
    assert view.last_delivery is not None and view.last_delivery.id == 7
    assert tenant_json(tenant(state=TenantState.UNINSTALLED), None)["last_delivery"] is None


def refused_source(**changes: Any) -> Delivery:
    """An admin webhook refused before its body was read: no event, no normalised keys."""
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "DC-9"}}).encode()
    fields: dict[str, Any] = dict(
        origin_kind="source",
        origin="jira-dc",
        status=DeliveryStatus.REJECTED,
        reason="the token in the X-Webhook-Token header is not this source's secret",
        event=None,
        token=None,
        canonical_request=None,
        qsh_expected=None,
        issue_key=None,
        project_key=None,
        actor=None,
        handler_state=HandlerState.NONE,
        body=body,
        body_size=len(body),
        verification={"scheme": "header-token", "header": "X-Webhook-Token", "matched": False},
    )
    return delivery(**{**fields, **changes})


def test_a_refused_delivery_names_the_event_of_its_body_as_unverified() -> None:
    refused = refused_source()
    assert event_name(refused).name == "jira:issue_updated"
    assert event_name(refused).verified is False
    assert main_key(refused) == "DC-9"
    shown = delivery_json(refused)
    assert (shown["event"], shown["event_verified"]) == ("jira:issue_updated", False)
    row = row_view(refused, None, url)
    assert (row.event, row.event_verified) == ("jira:issue_updated", False)
    assert ("Event (unverified)", "jira:issue_updated") in detail_view(refused, None, [], url).facts
    accepted = delivery_json(delivery())
    assert (accepted["event"], accepted["event_verified"]) == ("jira:issue_created", True)
    for body in (b"not json", b'["jira:issue_updated"]', b'{"webhookEvent": 7}', b""):
        unnamed = event_name(refused_source(body=body, body_size=len(body)))
        assert (unnamed.name, unnamed.verified) == (None, False)
    long_name = json.dumps({"webhookEvent": "x" * 201}).encode()
    assert event_name(refused_source(body=long_name, body_size=len(long_name))).name is None


def test_a_source_delivery_shows_its_check_and_no_connect_sections() -> None:
    checked = {
        "scheme": "cloud-signature",
        "header": "X-Hub-Signature",
        "algorithm": "HMAC-SHA256",
        "matched": True,
        "secret": "previous",
    }
    accepted = refused_source(status=DeliveryStatus.ACCEPTED, reason=None, verification=checked)
    view = detail_view(accepted, None, [], url)
    assert view.check is not None and view.check.matched is True
    rows = dict(view.check.rows)
    assert rows["Scheme"] == "cloud-signature" and rows["Header"] == "X-Hub-Signature"
    assert "HMAC-SHA256" in rows["Checked"] and "previous" in rows["Secret"]
    assert (view.show_check, view.show_connect) == (True, False)
    assert delivery_detail_json(accepted, None, [])["verification"] == checked
    failed = check_view(refused_source())
    assert failed is not None and failed.matched is False and "Secret" not in dict(failed.rows)
    unknown_url = detail_view(refused_source(origin=None, verification=None), None, [], url)
    assert unknown_url.check is None and (unknown_url.show_check, unknown_url.show_connect) == (
        True,
        False,
    )
    connect = detail_view(delivery(), tenant(), [], url)
    assert (connect.show_check, connect.show_connect) == (False, True)
    assert delivery_detail_json(delivery(), None, [])["verification"] is None


def test_replays_are_shown_with_their_time() -> None:
    replayed = delivery(
        handler_state=HandlerState.DONE, replays=2, replayed_at=1_770_000_100.0, last_error=None
    )
    view = detail_view(replayed, None, [], url)
    assert ("Replays", "2") in view.handler
    assert ("Last replayed", "2026-02-02 02:41:40 UTC") in view.handler
    assert view.times["Last replayed"] == "2026-02-02T02:41:40.000Z"
    assert view.replay_refusal is None
    shown = delivery_detail_json(replayed, None, [])
    assert (shown["replays"], shown["replayed_at"]) == (2, "2026-02-02T02:41:40.000Z")
    assert shown["handler"]["replays"] == 2
    pending = detail_view(delivery(handler_state=HandlerState.PENDING), None, [], url)
    assert pending.replay_refusal is not None and "not finished" in pending.replay_refusal
