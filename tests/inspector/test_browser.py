"""The inspector in a real headless Chromium: live rows, detail, rejections, escaping, phone width,
admin-webhook sources, replay (and another site's attempt at it) and local times.

Screenshots of the list and the detail page are saved in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from addon.simulator import SimulatedSite
from addon.sources import SourceMode, Sources
from addon.store import open_store
from tests.conftest import unavailable
from tests.inspector.support import (
    AUTH,
    PASSWORD,
    USERNAME,
    eventually,
    issue_payload,
    listed,
    running_jira,
    send_issue,
    send_wrong_qsh,
)
from tests.support.connect import Jira

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE: ViewportSize = {"width": 375, "height": 812}
XSS_KEY = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        unavailable("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("Playwright", str(exc))
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=20_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    directory = tmp_path_factory.mktemp("browser")
    env = {"ADDON_HANDLERS": "tests.inspector.handlers:handlers", "HANDLER_MAX_ATTEMPTS": "1"}
    with running_jira(f"sqlite:///{directory}/addon.db", directory, env=env) as jira:
        yield jira


@pytest.fixture(scope="module")
def site(server: Jira) -> SimulatedSite:
    """An installed site with some history: accepted, a duplicate, a failed handler, rejections."""
    site = server.install()
    assert send_issue(server, site, "DEMO-1", summary="First issue").status_code == 204
    payload = issue_payload("DEMO-2")  # a retry resends the same body
    for retry in (0, 1):
        response = send_issue(
            server, site, "DEMO-2", identifier="demo-2-once", retry=retry, payload=payload
        )
        assert response.status_code == 204
    assert send_issue(server, site, "FAIL-1", summary="Its handler fails").status_code == 204
    stranger = SimulatedSite.generate("https://stranger.atlassian.net")
    assert send_issue(server, stranger, "DEMO-3").status_code == 401
    return site


class Pages:
    """Browser contexts logged in with HTTP Basic; fails the test on any CSP violation."""

    def __init__(self, browser: Browser, server: Jira) -> None:
        self.browser = browser
        self.base = server.base_url
        self.problems: list[str] = []

    def open(
        self,
        path: str = "/inspector/",
        *,
        viewport: ViewportSize | None = None,
        timezone: str | None = None,
    ) -> Page:
        context = self.browser.new_context(
            http_credentials={"username": USERNAME, "password": PASSWORD},
            viewport=viewport or {"width": 1280, "height": 900},
            timezone_id=timezone,
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.goto(self.base + path)
        return page

    def _console(self, message: Any) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(message.text)

    def expect_refusal(self, status: int) -> None:
        """The browser reports an answer of `status` as a console error: expected here."""
        self.problems[:] = [p for p in self.problems if f"status of {status}" not in p]


@pytest.fixture
def pages(browser: Browser, server: Jira, site: SimulatedSite) -> Iterator[Pages]:
    opened = Pages(browser, server)
    yield opened
    assert opened.problems == []


def wait_live(page: Page) -> None:
    page.wait_for_selector("#live[data-state='live']")


def row_of(page: Page, text: str) -> Any:
    return page.locator("tr.delivery", has_text=text)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def no_horizontal_scroll(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"{page.url} scrolls sideways: {scroll}px in {width}px"


def test_a_posted_delivery_appears_live_and_opens_in_detail(
    pages: Pages, server: Jira, site: SimulatedSite
) -> None:
    page = pages.open()
    wait_live(page)
    page.evaluate("window.__samePage = 'yes'")
    assert send_issue(server, site, "LIVE-7", summary="Sent while watching").status_code == 204
    row = row_of(page, "LIVE-7")
    row.wait_for()
    assert page.evaluate("window.__samePage") == "yes"
    assert row.locator(".chip-accepted").inner_text().lower() == "accepted"
    assert site.base_url in row.inner_text() and site.client_key in row.inner_text()
    assert page.locator("tbody tr.delivery").first.get_attribute("data-id") == row.get_attribute(
        "data-id"
    )
    row_of(page, "FAIL-1").locator(".chip-handler-failed").wait_for()
    assert "no installed tenant" in row_of(page, "DEMO-3").locator(".reason").inner_text()
    screenshot(page, "inspector-list.png")

    row.locator("td.col-time a").click()
    page.wait_for_url(re.compile(r"/inspector/deliveries/\d+$"))
    assert page.locator("h1").inner_text().startswith("Delivery ")
    payload = page.locator("#payload")
    assert "Sent while watching" in payload.inner_text()
    assert page.locator("#canonical .chip-accepted").inner_text().lower() == "matches"
    assert "qsh" in page.locator("#h-token").locator("xpath=..").inner_text()
    page.locator("details.payload summary").click()
    assert not payload.is_visible()
    page.locator("details.payload summary").click()
    assert payload.is_visible()
    screenshot(page, "inspector-detail.png")


def test_a_rejected_delivery_shows_its_reason_and_canonical_request(
    pages: Pages, server: Jira, site: SimulatedSite
) -> None:
    page = pages.open()
    wait_live(page)
    assert send_wrong_qsh(server, site, "REJ-1").status_code == 401
    row = row_of(page, "REJ-1")
    row.wait_for()
    assert "qsh does not match" in row.locator(".reason").inner_text()
    row.locator("td.col-time a").click()
    page.wait_for_url(re.compile(r"/inspector/deliveries/\d+$"))
    assert "qsh does not match" in page.locator("#reason").inner_text()
    canonical = page.locator("#canonical pre.canonical").inner_text()
    assert canonical == (
        "POST&/webhooks/jira/issue-created&issueId=10001&issueKey=REJ-1"
        "&projectId=10000&projectKey=REJ"
    )
    assert page.locator("#canonical .chip-rejected").inner_text().lower() == "does not match"
    screenshot(page, "inspector-detail-rejected.png")


def test_a_script_in_a_payload_is_shown_as_text(
    pages: Pages, server: Jira, site: SimulatedSite
) -> None:
    page = pages.open()
    wait_live(page)
    target = (
        f"/webhooks/jira/issue-created?issueKey={quote(XSS_KEY, safe='')}&issueId=10001"
        "&projectKey=XSS&projectId=10000"
    )
    payload = issue_payload(XSS_KEY, summary=XSS_IMG)
    payload["issue"]["fields"]["project"]["key"] = XSS_IMG
    assert server.webhook(site, target, payload).status_code == 204

    live_row = row_of(page, XSS_KEY)
    live_row.wait_for()
    assert XSS_KEY in live_row.inner_text()
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("main img, main script").count() == 0

    page.reload()
    assert XSS_KEY in row_of(page, XSS_KEY).inner_text()
    row_of(page, XSS_KEY).locator("td.col-time a").click()
    page.wait_for_url(re.compile(r"/inspector/deliveries/\d+$"))
    text = page.locator("#payload").inner_text()
    assert XSS_KEY in text and XSS_IMG.replace('"', '\\"') in text
    assert XSS_KEY in page.locator(".subtitle").inner_text()
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("main img, main script").count() == 0


def test_pages_fit_a_phone(pages: Pages, server: Jira, site: SimulatedSite) -> None:
    page = pages.open(viewport=PHONE)
    wait_live(page)
    assert send_wrong_qsh(server, site, "PHONE-1").status_code == 401
    row_of(page, "PHONE-1").wait_for()
    no_horizontal_scroll(page, PHONE["width"])
    assert (
        page.locator("table.deliveries thead").evaluate(
            "element => element.getBoundingClientRect().height"
        )
        <= 1
    )
    screenshot(page, "inspector-list-phone.png")
    row_of(page, "PHONE-1").locator("td.col-time a").click()
    page.wait_for_url(re.compile(r"/inspector/deliveries/\d+$"))
    no_horizontal_scroll(page, PHONE["width"])
    screenshot(page, "inspector-detail-phone.png")
    page.goto(server.base_url + "/inspector/tenants")
    no_horizontal_scroll(page, PHONE["width"])


def test_the_table_fits_a_small_laptop(pages: Pages, server: Jira, site: SimulatedSite) -> None:
    account = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"
    payload = {"webhookEvent": "user_updated", "user": {"accountId": account}}
    target = f"/webhooks/jira/user-updated?accountId={quote(account, safe='')}"
    assert server.webhook(site, target, payload).status_code == 204
    assert send_wrong_qsh(server, site, "LAPTOP-1234567").status_code == 401
    page = pages.open(viewport={"width": 800, "height": 900})
    row_of(page, "LAPTOP-1234567").wait_for()
    no_horizontal_scroll(page, 800)
    assert page.locator("table.deliveries thead").is_visible()


SOURCE_TOKEN = "dc-token-" + "b7" * 16


@pytest.fixture(scope="module")
def source_url(server: Jira) -> str:
    """An admin-webhook source (header token) in the server's database, and its webhook URL."""

    async def add() -> str:
        store = await open_store(server.database_url, encrypt_existing=False)
        try:
            sources = Sources(store.db, store.box)
            return (await sources.add("jira-dc", SourceMode.HEADER_TOKEN, SOURCE_TOKEN)).key
        finally:
            await store.db.disconnect()

    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this one
        key = thread.submit(asyncio.run, add()).result()
    return f"{server.base_url}/webhooks/jira/sources/{key}"


def send_source(url: str, key: str, token: str = SOURCE_TOKEN) -> httpx.Response:
    body = {"webhookEvent": "jira:issue_updated", "issue": {"id": "1", "key": key}}
    return httpx.post(url, content=json.dumps(body), headers={"X-Webhook-Token": token}, timeout=10)


def open_detail(page: Page, text: str) -> None:
    row_of(page, text).wait_for()
    row_of(page, text).locator("td.col-time a").click()
    page.wait_for_url(re.compile(r"/inspector/deliveries/\d+$"))


def test_the_filter_form_offers_the_sources(
    pages: Pages, server: Jira, site: SimulatedSite, source_url: str
) -> None:
    assert send_source(source_url, "DC-11").status_code == 204
    page = pages.open()
    source = page.locator("form.filters select[name='source']")
    assert source.locator("option").all_inner_texts() == ["All sources", "jira-dc"]
    source.select_option("jira-dc")
    page.wait_for_url(re.compile(r"[?&]source=jira-dc"))
    row_of(page, "DC-11").wait_for()
    assert row_of(page, "DEMO-1").count() == 0
    assert page.locator("tr.delivery .col-tenant .site").all_inner_texts() == ["source"] * (
        page.locator("tr.delivery").count()
    )
    page.locator("form.filters select[name='client_key']").select_option(site.client_key)
    page.wait_for_url(re.compile(rf"client_key={re.escape(site.client_key)}"))
    assert "source=jira-dc" not in page.url
    row_of(page, "DEMO-1").wait_for()
    assert row_of(page, "DC-11").count() == 0


def test_a_source_delivery_shows_what_was_checked(
    pages: Pages, server: Jira, site: SimulatedSite, source_url: str
) -> None:
    page = pages.open()
    wait_live(page)
    assert send_source(source_url, "DC-12").status_code == 204
    open_detail(page, "DC-12")
    check = page.locator("#check")
    text = check.inner_text()
    assert "header-token" in text and "X-Webhook-Token" in text and "current" in text
    assert check.locator(".chip-accepted").inner_text().lower() == "matched"
    assert page.locator("#canonical").count() == 0 and page.locator("#h-token").count() == 0
    assert SOURCE_TOKEN not in page.content()
    screenshot(page, "inspector-detail-source.png")


def test_a_refused_source_delivery_names_its_event_unverified(
    pages: Pages, server: Jira, site: SimulatedSite, source_url: str
) -> None:
    page = pages.open()
    wait_live(page)
    assert send_source(source_url, "DC-13", token="not-the-token-0123456789").status_code == 401
    row = row_of(page, "DC-13")
    row.wait_for()
    assert row.locator(".col-event").inner_text().split() == ["jira:issue_updated", "unverified"]
    open_detail(page, "DC-13")
    subtitle = page.locator(".subtitle")
    assert (
        "jira:issue_updated" in subtitle.inner_text()
        and "unknown event" not in subtitle.inner_text()
    )
    assert subtitle.locator(".unverified").is_visible()
    assert page.locator("#check .chip-rejected").inner_text().lower() == "did not match"
    assert "not this source's secret" in page.locator("#reason").inner_text()
    [shown] = listed(server, source="jira-dc", status="rejected")
    assert (shown["event"], shown["event_verified"]) == ("jira:issue_updated", False)


def test_a_failed_handler_error_starts_at_a_line_and_ends_with_the_exception(
    pages: Pages, server: Jira, site: SimulatedSite
) -> None:
    page = pages.open()
    wait_live(page)
    assert send_issue(server, site, "DEEP-1").status_code == 204
    row_of(page, "DEEP-1").locator(".chip-handler-failed").wait_for()
    open_detail(page, "DEEP-1")
    lines = page.locator("pre.error-text").inner_text().splitlines()
    exception = "ConnectionError: the test handler lost its stream for DEEP-1"
    assert lines[0] == exception and lines[1] == ""
    assert lines[2].startswith("… ") and lines[2].endswith("left out")
    assert lines[3].startswith("  File ")
    assert lines[-1] == exception


def replay_state(server: Jira, key: str) -> dict[str, Any]:
    [shown] = listed(server, q=key)
    return shown


def test_replay_runs_the_handlers_again_and_shows_it(
    pages: Pages, server: Jira, site: SimulatedSite
) -> None:
    assert send_issue(server, site, "FAIL-2", summary="Replayed").status_code == 204
    eventually(lambda: replay_state(server, "FAIL-2")["handler_state"] == "failed")
    page = pages.open()
    open_detail(page, "FAIL-2")
    assert page.locator("#handler dd").first.inner_text().lower() == "failed"
    page.locator("#replay").click()
    page.wait_for_url(re.compile(r"/inspector/deliveries/\d+$"))
    eventually(lambda: replay_state(server, "FAIL-2")["handler_state"] == "failed")
    page.reload()
    handler = page.locator("#handler").inner_text()
    assert re.search(r"Replays\s+1\b", handler) and "Last replayed" in handler
    shown = replay_state(server, "FAIL-2")
    assert (shown["replays"], shown["attempts"]) == (1, 1)
    assert shown["replayed_at"] is not None
    screenshot(page, "inspector-detail-replayed.png")


def test_another_site_cannot_replay_with_the_inspector_s_credentials(
    pages: Pages, server: Jira, site: SimulatedSite
) -> None:
    assert send_issue(server, site, "FAIL-3").status_code == 204
    eventually(lambda: replay_state(server, "FAIL-3")["handler_state"] == "failed")
    page = pages.open()
    open_detail(page, "FAIL-3")
    replay_url = server.base_url + page.locator("form.replay").get_attribute("action")
    token = page.locator("form.replay input[name='csrf_token']").get_attribute("value")
    attack = (
        "<!doctype html><title>Win a prize</title>"
        f'<form id="f" method="post" action="{replay_url}">'
        f'<input type="hidden" name="csrf_token" value="{token}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    page.route(
        "http://evil.test/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=attack),
    )
    with page.expect_response(
        lambda response: response.url == replay_url and response.status != 401
    ) as answer:
        page.goto("http://evil.test/prize")
    assert answer.value.status == 403
    assert "http://evil.test" in page.locator(".callout-bad").inner_text()
    pages.expect_refusal(403)
    shown = replay_state(server, "FAIL-3")
    assert (shown["replays"], shown["replayed_at"], shown["handler_state"]) == (0, None, "failed")
    same_site = httpx.get(server.base_url + f"/inspector/api/deliveries/{shown['id']}", auth=AUTH)
    assert same_site.json()["handler"]["replays"] == 0


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/St_Johns"])
def test_times_show_in_local_time_with_utc_on_hover(
    pages: Pages, server: Jira, site: SimulatedSite, zone: str
) -> None:
    page = pages.open(timezone=zone)
    first = page.locator("tr.delivery time").first
    first.wait_for()
    when = datetime.fromisoformat(first.get_attribute("datetime").replace("Z", "+00:00"))
    local = when.astimezone(ZoneInfo(zone))
    assert first.inner_text() == local.strftime("%Y-%m-%d %H:%M:%S")
    offset = local.strftime("%z")
    title = first.get_attribute("title")
    assert title == (
        f"{when.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC "
        f"(shown in local time, UTC{offset[0]}{offset[1:3]}:{offset[3:]})"
    )
    shown = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/inspector/deliveries/\d+$"))
    received = page.locator(".subtitle time")
    assert received.inner_text() == shown and received.get_attribute("title") == title
