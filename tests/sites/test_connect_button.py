"""The Sites page's Connect button starts a consent under /inspector, where the browser already sends
the inspector's credentials: no second prompt. Checked over HTTP, then clicked in a headless
Chromium through the whole loop (the fake Atlassian's consent page, the callback, connected)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from addon.app import create_app
from tests.conftest import unavailable
from tests.sites.flow import AUTH, cookie, flow_settings, query_of, serving
from tests.sites.support import BASE_URL, CLIENT_ID, running_fake

CHROMIUM = Path("/usr/bin/chromium")
CONNECT = "/inspector/sites/connect"


def test_the_inspectors_connect_route_starts_a_consent_as_oauth_connect_does(
    sqlite_url: str,
) -> None:
    with running_fake() as (fake, fake_url):

        async def scenario() -> None:
            async with serving(flow_settings(sqlite_url, fake_url), fake) as flow:
                page = await flow.http.get(flow.url + "/inspector/sites", auth=AUTH)
                assert f'action="{CONNECT}"' in page.text
                assert (await flow.http.get(flow.url + CONNECT)).status_code == 401
                bad = await flow.http.get(
                    flow.url + CONNECT, params={"projects": "D EV"}, auth=AUTH
                )
                assert bad.status_code == 400 and "project keys" in bad.text
                started = await flow.http.get(
                    flow.url + CONNECT, params={"projects": "dev"}, auth=AUTH
                )
                # A page that goes on to Atlassian (a redirect would break the page's form-action).
                assert started.status_code == 200
                found = re.search(r'<a id="continue" href="([^"]+)"', started.text)
                assert found is not None
                location = html.unescape(found.group(1))
                assert f'http-equiv="refresh" content="0; url={found.group(1)}"' in started.text
                assert location.startswith(fake_url + "/authorize?")
                query = query_of(location)
                assert query["client_id"] == [CLIENT_ID]
                assert query["redirect_uri"] == [f"{BASE_URL}/oauth/callback"]
                state = cookie(started, "addon_oauth_state")
                assert state is not None and state.value == query["state"][0]
                assert state["path"] == "/oauth/callback" and state["httponly"]
                assert state["secure"] and state["samesite"].lower() == "lax"
                projects = cookie(started, "addon_oauth_projects")
                assert projects is not None and projects.value == "DEV"
                assert projects["path"] == "/oauth"
                # Its cookies complete the consent at the callback, for the projects chosen.
                approved = await flow.http.get(location)
                answer = await flow.http.get(
                    flow.local(approved.headers["location"]),
                    headers={
                        "Cookie": f"addon_oauth_state={state.value};"
                        f" addon_oauth_projects={projects.value}"
                    },
                )
                assert answer.status_code == 200 and "is connected" in answer.text
                [site] = await flow.door.work.sites.all()
                assert site.projects == ("DEV",)
                # /oauth/connect, as the issue names it, still works.
                again = await flow.http.get(flow.url + "/oauth/connect", auth=AUTH)
                assert again.status_code == 303

        asyncio.run(scenario())


@contextlib.contextmanager
def app_at_its_own_url(database_url: str, fake_url: str) -> Iterator[str]:
    """The app on a loopback port that is also its ADDON_BASE_URL, so that a browser follows
    Atlassian's redirect back to the callback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(flow_settings(database_url, fake_url, base_url=url))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, ws="none")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_clicking_connect_in_chromium_asks_for_no_credentials_again(sqlite_url: str) -> None:
    if not CHROMIUM.is_file():
        unavailable("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("Playwright", str(exc))
    with (
        running_fake() as (fake, fake_url),
        app_at_its_own_url(sqlite_url, fake_url) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            headless=True,
            timeout=20_000,
        )
        try:
            context = browser.new_context(
                http_credentials={"username": AUTH[0], "password": AUTH[1]}
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            answers: list[tuple[str, int]] = []
            page.on("response", lambda r: answers.append((urlsplit(r.url).path, r.status)))
            blocked: list[str] = []  # what the Content Security Policy refused (the old redirect)
            page.on(
                "console", lambda m: blocked.append(m.text) if "Security Policy" in m.text else 0
            )
            page.goto(url + "/inspector/sites")
            assert ("/inspector/sites", 200) in answers
            before = len(answers)

            page.get_by_role("button", name="Connect a site (oauth)").click()
            page.wait_for_url(url + "/oauth/callback?*")
            page.get_by_text("is connected").wait_for()

            after = answers[before:]
            paths = [path for path, _ in after]
            assert paths[:3] == [CONNECT, "/authorize", "/oauth/callback"], after
            assert (CONNECT, 200) in after and ("/authorize", 302) in after
            assert all(status != 401 for _, status in after), after  # never asked again
            assert blocked == []
            [site] = fake.sites.values()
            assert site.url in page.content()

            # /oauth/connect, followed as a link (no form), still goes the whole way.
            more = len(answers)
            page.goto(url + "/oauth/connect")
            page.get_by_text("is connected").wait_for()
            assert [path for path, _ in answers[more:]][:3] == [
                "/oauth/connect",
                "/authorize",
                "/oauth/callback",
            ]
        finally:
            browser.close()
