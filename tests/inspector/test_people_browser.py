"""The People page in a real headless Chromium: map an unmapped account to a person by choosing
them, unmap it again, and another site's forged form refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import pytest

from addon.people import Account, AccountType, PeopleStore, Person
from addon.store import open_store
from tests.inspector import test_browser as browser_tests
from tests.inspector.support import AUTH, PASSWORD, USERNAME, running_jira
from tests.support.connect import Jira

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

chromium = browser_tests.browser
"""The inspector browser tests' `browser` fixture (Chromium), shared."""

SITE = "https://acme.atlassian.net"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    directory = tmp_path_factory.mktemp("people-browser")
    url = f"sqlite:///{directory}/addon.db"

    async def prepare() -> None:
        store = await open_store(url)
        try:
            people = PeopleStore(store.db)
            await people.upsert_people([Person("p-ada", "ada@example.com", "Ada Lovelace")])
            for account_id in ("acc-1", "acc-2"):
                await people.upsert_account(
                    Account(SITE, account_id, AccountType.ATLASSIAN, f"Account {account_id}")
                )
        finally:
            await store.db.disconnect()

    with ThreadPoolExecutor(1) as pool:  # Playwright's loop may be running in this thread
        pool.submit(asyncio.run, prepare()).result()
    with running_jira(url, directory) as jira:
        yield jira


def open_people(browser: Browser, server: Jira) -> Page:
    context = browser.new_context(http_credentials={"username": USERNAME, "password": PASSWORD})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(server.base_url + "/inspector/people")
    return page


def state_of(server: Jira, account_id: str) -> tuple[str, str | None]:
    shown = httpx.get(f"{server.base_url}/inspector/api/accounts", params={"site": SITE}, auth=AUTH)
    account = next(a for a in shown.json()["accounts"] if a["account_id"] == account_id)
    return account["state"], account["person_id"]


def test_an_account_is_mapped_and_unmapped_on_the_page(chromium: Browser, server: Jira) -> None:
    page = open_people(chromium, server)
    row = page.locator("table.unmapped tr[data-account-id='acc-1']")
    row.locator("select[name='person_id']").select_option("p-ada")
    row.locator("button[type='submit']").click()
    page.wait_for_selector("table.mapped tr[data-account-id='acc-1']")
    assert state_of(server, "acc-1") == ("mapped", "p-ada")
    assert page.locator("table.unmapped tr[data-account-id='acc-1']").count() == 0

    page.locator("table.mapped tr[data-account-id='acc-1'] button").click()
    page.wait_for_selector("table.unmapped tr[data-account-id='acc-1']")
    assert state_of(server, "acc-1") == ("unmapped", None)


def test_another_site_cannot_map_with_the_inspector_s_credentials(
    chromium: Browser, server: Jira
) -> None:
    page = open_people(chromium, server)
    form = page.locator("table.unmapped tr[data-account-id='acc-2'] form.map")
    action = server.base_url + (form.get_attribute("action") or "")
    token = form.locator("input[name='csrf_token']").get_attribute("value")
    attack = (
        "<!doctype html><title>Win a prize</title>"
        f'<form id="f" method="post" action="{action}">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        f'<input type="hidden" name="site" value="{SITE}">'
        '<input type="hidden" name="account_id" value="acc-2">'
        '<input type="hidden" name="person_id" value="p-ada"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    page.route(
        "http://evil.test/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=attack),
    )
    with page.expect_response(
        lambda response: response.url == action and response.status != 401
    ) as answer:
        page.goto("http://evil.test/prize")
    assert answer.value.status == 403
    assert state_of(server, "acc-2") == ("unmapped", None)
