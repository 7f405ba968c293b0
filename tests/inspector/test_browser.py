"""The inspector in a real headless Chromium: live rows, detail, rejections, escaping, phone width.

Screenshots of the list and the detail page are saved in test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from addon.simulator import SimulatedSite
from tests.conftest import unavailable
from tests.inspector.support import (
    PASSWORD,
    USERNAME,
    issue_payload,
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

    def open(self, path: str = "/inspector/", *, viewport: ViewportSize | None = None) -> Page:
        context = self.browser.new_context(
            http_credentials={"username": USERNAME, "password": PASSWORD},
            viewport=viewport or {"width": 1280, "height": 900},
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
