"""The People page and the people JSON API on a real server (SQLite and PostgreSQL): mapping through
the page's own form releases what the account's deliveries waited for, a forged cross-site form is
refused, and the API changes state only with the bearer token, never with Basic credentials."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from addon.people import Account, AccountType, HeldDeliveries, PeopleStore
from addon.store import DeliveryStatus, HandlerState, NewDelivery, open_store
from tests.inspector.support import AUTH, CREDENTIALS
from tests.support.connect import Jira

pytestmark = pytest.mark.timeout(120)

API_TOKEN = "people-api-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
SITE = "https://acme.atlassian.net"
COOKIE = "inspector_session"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]+)"')


def server_env(directory: Path) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "INSPECTOR_API_TOKEN": API_TOKEN,
        "ADDON_HANDLERS": "tests.inspector.handlers:handlers",
        "ADDON_WORKER": "external",
    }


def prepare(jira: Jira, account_id: str) -> int:
    """An account of SITE with a hidden email, and a delivery held for it; the delivery's id."""

    async def go() -> int:
        store = await open_store(
            jira.database_url, encrypt_existing=False, handler_state=HandlerState.PENDING
        )
        await store.start()
        try:
            await PeopleStore(store.db).upsert_account(
                Account(SITE, account_id, AccountType.ATLASSIAN, "Ada Lovelace")
            )
            body = {"webhookEvent": "jira:issue_updated", "user": {"accountId": account_id}}
            recorded = await store.writer.record(
                NewDelivery(
                    received_at=time.time(),
                    origin_kind="connect",
                    origin="tenant-people",
                    status=DeliveryStatus.ACCEPTED,
                    event="jira:issue_updated",
                    webhook_id=f"held-{account_id}",
                    body=json.dumps(body).encode(),
                )
            )
            assert await HeldDeliveries(store.db).hold(recorded.id, SITE, account_id)
            return recorded.id
        finally:
            await store.close()

    return asyncio.run(go())


def people_api(jira: Jira, method: str, path: str = "", **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{jira.base_url}/inspector/api/people{path}", timeout=10, **kw)


def account(jira: Jira, account_id: str) -> dict[str, Any]:
    shown = httpx.get(
        f"{jira.base_url}/inspector/api/accounts", params={"site": SITE + "/"}, auth=AUTH
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["site"] == SITE
    found: dict[str, Any] = next(
        a for a in shown.json()["accounts"] if a["account_id"] == account_id
    )
    return found


def handler_state(jira: Jira, delivery_id: int) -> dict[str, Any]:
    shown = httpx.get(f"{jira.base_url}/inspector/api/deliveries/{delivery_id}", auth=AUTH)
    assert shown.status_code == 200, shown.text
    detail: dict[str, Any] = shown.json()
    return detail


def test_the_api_changes_people_only_with_the_bearer_token(jira: Jira) -> None:
    person = {"id": "p-api", "email": "API.Person@Example.com", "name": "Api"}
    basic = people_api(jira, "POST", json=person, auth=AUTH)
    assert basic.status_code == 401 and "Bearer" in basic.json()["reason"]
    wrong = people_api(jira, "POST", json=person, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert people_api(jira, "POST", json=person, headers=BEARER).json() == {"written": 1}
    listed = people_api(jira, "GET", auth=AUTH).json()["people"]
    assert person in listed
    assert people_api(jira, "GET", headers=BEARER).status_code == 200

    bad = people_api(jira, "POST", json=[{"id": "x", "email": "no-at"}], headers=BEARER)
    assert bad.status_code == 400 and "'@'" in bad.json()["reason"]
    garbled = people_api(jira, "POST", content=b"{", headers=BEARER)
    assert garbled.status_code == 400 and "not JSON" in garbled.json()["reason"]

    assert people_api(jira, "DELETE", "/p-api", auth=AUTH).status_code == 401
    assert people_api(jira, "DELETE", "/p-api", headers=BEARER).status_code == 204
    assert people_api(jira, "DELETE", "/p-api", headers=BEARER).status_code == 404
    assert person not in people_api(jira, "GET", auth=AUTH).json()["people"]


def test_mapping_through_the_page_releases_held_deliveries_and_forgery_is_refused(
    jira: Jira,
) -> None:
    held = prepare(jira, "acc-page")
    ada = {"id": "p-ada", "email": "ada@example.com", "name": "Ada"}
    assert people_api(jira, "POST", json=[ada], headers=BEARER).status_code == 200
    assert account(jira, "acc-page")["state"] == "unmapped"
    before = handler_state(jira, held)
    assert before["handler_state"] == "held"
    assert before["held_for"] == {"site": SITE, "account_id": "acc-page"}
    shown = httpx.get(f"{jira.base_url}/inspector/deliveries/{held}", auth=AUTH)
    assert f"waits for account acc-page of {SITE} to be mapped" in shown.text
    assert "is held until account acc-page" in shown.text  # why it cannot be replayed

    page = httpx.get(f"{jira.base_url}/inspector/people", auth=AUTH)
    assert page.status_code == 200
    unmapped = page.text.split('id="h-mapped"')[0]
    assert 'data-account-id="acc-page"' in unmapped and 'value="p-ada"' in unmapped
    found = TOKEN_FIELD.search(page.text)
    assert found is not None
    token, cookie = found.group(1), page.cookies[COOKIE]
    form = {"csrf_token": token, "site": SITE, "account_id": "acc-page", "person_id": "p-ada"}

    forged = httpx.post(
        f"{jira.base_url}/inspector/people/map",
        data=form,
        auth=AUTH,
        cookies={COOKIE: cookie},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403 and "evil.example" in forged.text
    no_token = httpx.post(
        f"{jira.base_url}/inspector/people/map",
        data={**form, "csrf_token": ""},
        auth=AUTH,
        cookies={COOKIE: cookie},
        headers={"Origin": jira.base_url},
    )
    assert no_token.status_code == 403
    assert account(jira, "acc-page")["state"] == "unmapped"
    assert handler_state(jira, held)["handler_state"] == "held"

    mapped = httpx.post(
        f"{jira.base_url}/inspector/people/map",
        data=form,
        auth=AUTH,
        cookies={COOKIE: cookie},
        headers={"Origin": jira.base_url},
    )
    assert mapped.status_code == 303, mapped.text
    shown = account(jira, "acc-page")
    assert (shown["state"], shown["person_id"], shown["mapped_by"]) == ("mapped", "p-ada", "manual")
    assert handler_state(jira, held)["handler_state"] == "pending"  # released to the workers

    page = httpx.get(f"{jira.base_url}/inspector/people", auth=AUTH, cookies={COOKIE: cookie})
    assert 'data-account-id="acc-page"' in page.text.split('id="h-mapped"')[1]
    unmapped_now = httpx.post(
        f"{jira.base_url}/inspector/people/unmap",
        data={"csrf_token": token, "site": SITE, "account_id": "acc-page"},
        auth=AUTH,
        cookies={COOKIE: cookie},
        headers={"Origin": jira.base_url},
    )
    assert unmapped_now.status_code == 303
    assert account(jira, "acc-page")["state"] == "unmapped"


def test_app_and_customer_accounts_are_listed_apart_and_never_mapped(jira: Jira) -> None:
    async def go() -> None:
        store = await open_store(jira.database_url, encrypt_existing=False)
        try:
            for account_id, kind in (
                ("acc-bot", AccountType.APP),
                ("acc-cust", AccountType.CUSTOMER),
            ):
                await PeopleStore(store.db).upsert_account(
                    Account(SITE, account_id, kind, f"Name {account_id}", email="same@example.com")
                )
        finally:
            await store.close()

    asyncio.run(go())
    prepare(jira, "acc-human")  # a human account: the page then has a form (and its token)
    same = {"id": "p-same", "email": "Same@Example.com"}  # the same email: still no mapping
    assert people_api(jira, "POST", json=same, headers=BEARER).status_code == 200
    for account_id, kind in (("acc-bot", "app"), ("acc-cust", "customer")):
        shown = account(jira, account_id)
        assert (shown["state"], shown["person_id"]) == ("not_a_person", None)
        assert shown["account_type"] == kind

    page = httpx.get(f"{jira.base_url}/inspector/people", auth=AUTH)
    assert page.status_code == 200
    before_apart, apart = page.text.split('id="h-apart"')
    for account_id in ("acc-bot", "acc-cust"):
        assert account_id in apart and f'data-account-id="{account_id}"' not in before_apart
    found = TOKEN_FIELD.search(page.text)
    assert found is not None
    refused = httpx.post(
        f"{jira.base_url}/inspector/people/map",
        data={"csrf_token": found.group(1), "site": SITE, "account_id": "acc-bot",
              "person_id": "p-same"},
        auth=AUTH,
        cookies={COOKIE: page.cookies[COOKIE]},
        headers={"Origin": jira.base_url},
    )  # fmt: skip
    assert refused.status_code == 400 and "not a person" in refused.text
    assert account(jira, "acc-bot")["state"] == "not_a_person"


def test_a_forged_unmap_is_refused(jira: Jira) -> None:
    prepare(jira, "acc-keep")
    keep = {"id": "p-keep", "email": "keep@example.com"}
    assert people_api(jira, "POST", json=[keep], headers=BEARER).status_code == 200
    page = httpx.get(f"{jira.base_url}/inspector/people", auth=AUTH)
    found = TOKEN_FIELD.search(page.text)
    assert found is not None
    token, cookie = found.group(1), page.cookies[COOKIE]
    mapped = httpx.post(
        f"{jira.base_url}/inspector/people/map",
        data={"csrf_token": token, "site": SITE, "account_id": "acc-keep", "person_id": "p-keep"},
        auth=AUTH,
        cookies={COOKIE: cookie},
        headers={"Origin": jira.base_url},
    )
    assert mapped.status_code == 303
    form = {"csrf_token": token, "site": SITE, "account_id": "acc-keep"}
    for data, origin in ((form, "https://evil.example"), ({**form, "csrf_token": "x"}, None)):
        headers = {"Origin": origin or jira.base_url}
        forged = httpx.post(
            f"{jira.base_url}/inspector/people/unmap",
            data=data,
            auth=AUTH,
            cookies={COOKIE: cookie},
            headers=headers,
        )
        assert forged.status_code == 403, forged.text
    assert account(jira, "acc-keep")["state"] == "mapped"
