"""Forgetting an account: its rows on every site, its mapping, and its name and email in stored
payloads (a real Jira Cloud payload), on SQLite and PostgreSQL; no email reaches a log line."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from addon.people import (
    FORGOTTEN_TABLES,
    Account,
    AccountType,
    Directory,
    EmailSource,
    HeldDeliveries,
    Person,
    forget,
    forget_closed,
    scrub_payload,
)
from addon.retention import Retention
from addon.store import DeliveryStatus, HandlerState, NewDelivery, Store
from tests.people.support import OTHER_SITE, SITE, run

DATA = Path(__file__).resolve().parents[1] / "data" / "jira"
REOPENED = DATA / "jira_issue_updated__mattermost-cloud-reopened.json"
ACCOUNT = "5c5f880629be9642ba529340"
NAME = "Test User"
EMAIL = "some-instance-test@gmail.com"


def recorded(webhook_id: str, body: bytes) -> NewDelivery:
    return NewDelivery(
        received_at=time.time(),
        origin_kind="connect",
        origin="tenant-1",
        status=DeliveryStatus.ACCEPTED,
        event="jira:issue_updated",
        webhook_id=webhook_id,
        body=body,
    )


def test_scrub_payload_drops_the_accounts_personal_fields_and_known_values() -> None:
    payload = {
        "user": {"accountId": ACCOUNT, "displayName": NAME, "emailAddress": EMAIL, "active": True},
        "other": {"accountId": "someone-else", "displayName": NAME},
        "changelog": {"items": [{"field": "assignee", "to": ACCOUNT, "toString": NAME}]},
    }
    scrubbed, changed = scrub_payload(payload, ACCOUNT, [NAME, EMAIL])
    assert changed is True
    assert scrubbed["user"] == {"accountId": ACCOUNT, "active": True}
    assert scrubbed["other"] == {"accountId": "someone-else", "displayName": "(forgotten)"}
    assert scrubbed["changelog"]["items"][0]["toString"] == "(forgotten)"
    assert scrub_payload({"user": {"accountId": "x"}}, ACCOUNT) == (
        {"user": {"accountId": "x"}},
        False,
    )


def test_forget_erases_the_account_its_mapping_and_its_stored_name_and_email(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = REOPENED.read_bytes()
    assert NAME.encode() in body and EMAIL.encode() in body

    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert(Person("p1", EMAIL.upper(), "Tess"))
        for site in (SITE, OTHER_SITE):
            account = Account(
                site, ACCOUNT, AccountType.ATLASSIAN, NAME, True, EMAIL, EmailSource.PROFILE
            )
            assert (await directory.account_changed(account)).person_id == "p1"
        await directory.account_changed(Account(SITE, "keep", AccountType.ATLASSIAN, "Kept"))
        named = (await store.writer.record(recorded("w1", body))).id
        unrelated = json.dumps({"user": {"accountId": "keep", "displayName": "Kept"}}).encode()
        other = (await store.writer.record(recorded("w2", unrelated))).id

        done = await forget(store.db, ACCOUNT)
        assert done.sites == (SITE, OTHER_SITE)
        assert done.deliveries == 1
        assert await directory.store.accounts_of(ACCOUNT) == []
        assert await directory.store.mappings() == []
        assert await directory.store.account(SITE, "keep") is not None
        assert await directory.store.person("p1") is not None  # the user's own record stays

        scrubbed = await store.deliveries.get(named)
        assert scrubbed is not None and scrubbed.body is not None
        assert NAME.encode() not in scrubbed.body and EMAIL.encode() not in scrubbed.body
        assert json.loads(scrubbed.body)["user"]["accountId"] == ACCOUNT
        assert json.loads(scrubbed.body)["issue"]["key"] == "TES-41"
        untouched = await store.deliveries.get(other)
        assert untouched is not None and untouched.body == unrelated
        assert (await forget(store.db, ACCOUNT)).deliveries == 0

    run(database_url, scenario)
    assert set(FORGOTTEN_TABLES) == {
        "accounts",
        "account_mappings",
        "account_conflicts",
        "deliveries",
    }
    # The add-on's own loggers (the server's log configuration shows no others below WARNING;
    # a database driver's DEBUG log echoes every parameter).
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("addon", "uvicorn")]
    logged = "\n".join(record.getMessage() for record in ours)
    assert EMAIL not in logged.lower() and NAME not in logged


def test_accounts_are_reported_once_each_and_closed_ones_forgotten(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        for site, updated in ((SITE, 100.0), (OTHER_SITE, 200.0)):
            account = Account(site, "acc-1", AccountType.ATLASSIAN, "One")
            await directory.store.upsert_account(account, now=updated)
        await directory.store.upsert_account(
            Account(SITE, "acc-2", AccountType.ATLASSIAN, "Two"), now=50.0
        )
        assert await directory.store.reportable() == [("acc-1", 200.0), ("acc-2", 50.0)]
        done = await forget_closed(store.db, ["acc-1", "acc-1"])
        assert [f.sites for f in done] == [(SITE, OTHER_SITE)]
        assert await directory.store.reportable() == [("acc-2", 50.0)]

    run(database_url, scenario)


def test_a_closed_account_s_held_deliveries_stop_waiting_and_retention_applies(
    database_url: str,
) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        held = HeldDeliveries(store.db)
        for account_id in ("acc-closed", "acc-live"):
            await directory.account_changed(Account(SITE, account_id, AccountType.ATLASSIAN))
        body = json.dumps({"user": {"accountId": "acc-closed"}}).encode()
        closed = (await store.writer.record(recorded("c1", body))).id
        live = (
            await store.writer.record(recorded("l1", b'{"user": {"accountId": "acc-live"}}'))
        ).id
        assert await held.hold(closed, SITE, "acc-closed")
        assert await held.hold(live, SITE, "acc-live")

        await forget(store.db, "acc-live")  # by hand: it may come back, so it still waits
        assert await held.waiting_for("acc-live") == [live]
        await forget_closed(store.db, ["acc-closed"])
        assert await held.waiting_for("acc-closed") == []
        ended = await store.deliveries.get(closed)
        assert ended is not None and ended.handler_state is HandlerState.NONE
        assert ended.held_account is None and "closed" in (ended.last_error or "")
        pruned = await Retention(store, days=0).prune_once(now=time.time() + 3600)
        assert pruned == 1 and await store.deliveries.get(closed) is None
        assert await store.deliveries.get(live) is not None  # still held: never pruned

    run(database_url, scenario)
