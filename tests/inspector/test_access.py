"""Who may open the inspector: closed (404) without configured credentials, HTTP Basic (401)
otherwise; security headers on every inspector answer; working under a base URL's path prefix."""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from addon.inspector._access import Access, judge, parse_basic
from tests.inspector.support import AUTH, PASSWORD, USERNAME, running_jira, send_issue
from tests.support.connect import Jira

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "inspector"
INSPECTOR_PATHS = [
    "/inspector",
    "/inspector/",
    "/inspector/tenants",
    "/inspector/deliveries/1",
    "/inspector/api/deliveries",
    "/inspector/api/deliveries/1",
    "/inspector/api/tenants",
    "/inspector/api/stream",
    "/inspector/no/such/page",
]


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@contextlib.contextmanager
def inspector_server(factory: pytest.TempPathFactory, name: str, **options: Any) -> Iterator[Jira]:
    directory = factory.mktemp(name)
    with running_jira(f"sqlite:///{directory}/addon.db", directory, **options) as jira:
        yield jira


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    with inspector_server(tmp_path_factory, "closed", open_inspector=False) as jira:
        yield jira


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    # These tests try every kind of wrong credentials on every path, far more than a minute's
    # allowance of wrong logins; the throttle has its own server below.
    env = {"INSPECTOR_LOGIN_ATTEMPTS": "10000"}
    with inspector_server(tmp_path_factory, "open", env=env) as jira:
        yield jira


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    env = {"INSPECTOR_LOGIN_ATTEMPTS": "3"}
    with inspector_server(tmp_path_factory, "throttled", env=env) as jira:
        yield jira


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    with inspector_server(tmp_path_factory, "prefixed", base_path="/jira-addon") as jira:
        yield jira


def test_judge_needs_both_parts_exactly() -> None:
    assert judge(basic("u", "p"), None, None) is Access.CLOSED
    assert judge(basic("u", "p"), "u", None) is Access.CLOSED
    assert judge(basic("u", "p"), "u", "p") is Access.ALLOWED
    assert judge(basic("u", "p:with:colons"), "u", "p:with:colons") is Access.ALLOWED
    assert judge(basic("u", "wrong"), "u", "p") is Access.DENIED
    assert judge(basic("x", "p"), "u", "p") is Access.DENIED
    assert judge(basic("U", "p"), "u", "p") is Access.DENIED
    assert judge(basic("u", "p "), "u", "p") is Access.DENIED
    assert judge(None, "u", "p") is Access.DENIED
    assert judge("Bearer abc", "u", "p") is Access.DENIED
    assert judge(basic("ü", "pä"), "ü", "pä") is Access.ALLOWED


def test_parse_basic_refuses_malformed_headers() -> None:
    assert parse_basic(basic("a", "b")) == ("a", "b")
    assert parse_basic("basic " + base64.b64encode(b"a:b").decode()) == ("a", "b")
    assert parse_basic("Basic") is None
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Basic " + base64.b64encode(b"no-colon").decode()) is None
    assert parse_basic("Basic " + base64.b64encode(b"\xff:\xfe").decode()) is None
    assert parse_basic(None) is None


@pytest.mark.parametrize("path", INSPECTOR_PATHS)
def test_closed_inspector_is_404_and_says_why(closed: Jira, path: str) -> None:
    for auth in (None, AUTH):
        response = httpx.get(closed.base_url + path, auth=auth, timeout=10)
        assert response.status_code == 404, path
        body = response.json()
        assert body["error"] == "not_found"
        assert "INSPECTOR_USERNAME" in body["reason"] and "INSPECTOR_PASSWORD" in body["reason"]
        assert response.headers["cache-control"] == "no-cache, no-store"
        assert "www-authenticate" not in response.headers


def test_closed_inspector_is_in_the_start_up_log(closed: Jira) -> None:
    assert re.search(
        r"inspector closed: set INSPECTOR_USERNAME and INSPECTOR_PASSWORD", closed.server.log()
    )


@pytest.mark.parametrize("path", INSPECTOR_PATHS)
def test_wrong_or_missing_credentials_are_401(opened: Jira, path: str) -> None:
    url = opened.base_url + path
    for auth in (
        None,
        (USERNAME, "wrong"),
        ("wrong", PASSWORD),
        (USERNAME.upper(), PASSWORD),
        ("", ""),
    ):
        response = httpx.get(url, auth=auth, timeout=10)
        assert response.status_code == 401, (path, auth)
        assert response.headers["www-authenticate"] == 'Basic realm="inspector"'
        assert response.json()["error"] == "unauthorized"
        assert response.headers["cache-control"] == "no-cache, no-store"
    for header in ("Basic", "Basic ???", "Bearer " + PASSWORD, basic(USERNAME, PASSWORD)[:-2]):
        response = httpx.get(url, headers={"Authorization": header}, timeout=10)
        assert response.status_code == 401, (path, header)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/inspector/", "text/html"),
        ("/inspector/tenants", "text/html"),
        ("/inspector/api/deliveries", "application/json"),
        ("/inspector/api/tenants", "application/json"),
    ],
)
def test_right_credentials_open_it_with_security_headers(
    opened: Jira, path: str, kind: str
) -> None:
    response = httpx.get(opened.base_url + path, auth=AUTH, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    # Pages send no referrer to other sites; to their own origin they must, or a browser sends
    # `Origin: null` with the page's own form posts (see addon/inspector/_csrf.py).
    policy = "same-origin" if kind == "text/html" else "no-referrer"
    assert headers["referrer-policy"] == policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-cache, no-store"


def test_denied_answers_carry_security_headers_too(opened: Jira) -> None:
    response = httpx.get(opened.base_url + "/inspector/", timeout=10)
    assert response.status_code == 401
    assert response.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in response.headers


def test_nothing_changes_state(opened: Jira) -> None:
    """These pages change no state, so no method but GET (and HEAD) is served."""
    for path in ("/inspector/", "/inspector/api/deliveries", "/inspector/deliveries/1"):
        assert httpx.post(opened.base_url + path, timeout=10).status_code == 401
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            response = httpx.request(method, opened.base_url + path, auth=AUTH, timeout=10)
            assert response.status_code == 405, (method, path)


def test_bare_path_redirects_to_the_list(opened: Jira) -> None:
    response = httpx.get(opened.base_url + "/inspector", auth=AUTH, timeout=10)
    assert response.status_code == 307
    assert response.headers["location"] == "/inspector/"


def test_pages_load_only_same_origin_assets_and_no_inline_code(opened: Jira) -> None:
    page = httpx.get(opened.base_url + "/inspector/", auth=AUTH, timeout=10).text
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all('src="/static/' in tag for tag in scripts)
    assert '<link rel="stylesheet" href="/static/inspector.css">' in page
    for asset, kind in (("inspector.js", "javascript"), ("inspector.css", "text/css")):
        response = httpx.get(f"{opened.base_url}/static/{asset}", timeout=10)
        assert response.status_code == 200 and kind in response.headers["content-type"]


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_script_or_style(template: Path) -> None:
    text = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text)
    assert not re.search(r"\sstyle\s*=", text, re.IGNORECASE)
    assert "<style" not in text.lower()
    assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE)
    assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text


def test_under_a_path_prefix(prefixed: Jira) -> None:
    base = prefixed.base_url
    assert base.endswith("/jira-addon")
    redirect = httpx.get(base + "/inspector", auth=AUTH, timeout=10)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/jira-addon/inspector/"
    page = httpx.get(base + "/inspector/", auth=AUTH, timeout=10)
    assert page.status_code == 200
    assert 'href="/jira-addon/static/inspector.css"' in page.text
    assert 'src="/jira-addon/static/inspector.js"' in page.text
    assert 'data-stream-url="/jira-addon/inspector/api/stream?after=' in page.text
    assert 'href="/jira-addon/inspector/tenants"' in page.text
    site = prefixed.install()
    assert send_issue(prefixed, site, "PREFIX-1").status_code == 204
    listed = httpx.get(base + "/inspector/", auth=AUTH, timeout=10).text
    assert re.search(r'data-href="/jira-addon/inspector/deliveries/\d+"', listed)
    tenants = httpx.get(base + "/inspector/tenants", auth=AUTH, timeout=10).text
    assert f'href="/jira-addon/inspector/?client_key={site.client_key}"' in tenants
    assert httpx.get(base + "/inspector/api/deliveries", timeout=10).status_code == 401
    assert httpx.get(prefixed.server.url + "/inspector/", auth=AUTH, timeout=10).status_code == 404


def test_too_many_wrong_logins_from_one_address_wait(throttled: Jira) -> None:
    url = throttled.base_url + "/inspector/api/tenants"
    for _ in range(5):  # without credentials: a browser's first request, not a guess
        assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, auth=AUTH, timeout=10).status_code == 200
    for password in ("guess-1", "guess-2", "guess-3"):
        assert httpx.get(url, auth=(USERNAME, password), timeout=10).status_code == 401
    for auth in ((USERNAME, "guess-4"), AUTH):  # the right password too: no oracle
        waiting = httpx.get(url, auth=auth, timeout=10)
        assert waiting.status_code == 429
        assert waiting.json()["error"] == "too_many_attempts"
        assert 55 <= int(waiting.headers["retry-after"]) <= 60
        assert waiting.headers["cache-control"] == "no-cache, no-store"
    log = throttled.server.log()
    assert PASSWORD not in log and "guess-1" not in log


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    """Trusting the proxy at 127.0.0.1 only: other loopback addresses are direct clients."""
    env = {"INSPECTOR_LOGIN_ATTEMPTS": "3", "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with inspector_server(tmp_path_factory, "behind-proxy", env=env) as jira:
        yield jira


@pytest.fixture(scope="module")
def behind_any_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jira]:
    """FORWARDED_ALLOW_IPS=*, as on platforms whose proxies have no fixed address."""
    env = {"INSPECTOR_LOGIN_ATTEMPTS": "3", "FORWARDED_ALLOW_IPS": "*"}
    with inspector_server(tmp_path_factory, "behind-any-proxy", env=env) as jira:
        yield jira


def client_at(address: str) -> httpx.Client:
    """A client connecting from `address` (any of 127.0.0.0/8 is this machine)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def guess(client: httpx.Client, url: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.get(url, auth=(USERNAME, "a guess"), headers=headers).status_code


def test_one_allowance_for_the_bare_path_and_everything_under_it(throttled: Jira) -> None:
    base = throttled.base_url
    with client_at("127.0.0.5") as client:
        urls = [base + "/inspector", base + "/inspector/api/tenants", base + "/inspector"]
        assert [guess(client, url) for url in urls] == [401, 401, 401]
        assert guess(client, base + "/inspector") == 429
        assert guess(client, base + "/inspector/") == 429


def test_a_direct_client_cannot_escape_by_rotating_x_forwarded_for(behind_proxy: Jira) -> None:
    url = behind_proxy.base_url + "/inspector/api/tenants"
    with client_at("127.0.0.2") as guesser:
        answers = [guess(guesser, url, f"198.51.100.{n}") for n in range(1, 7)]
    assert answers == [401, 401, 401, 429, 429, 429]
    log = behind_proxy.server.log()
    assert "3 wrong logins within a minute from 127.0.0.2" in log
    assert "is not in FORWARDED_ALLOW_IPS, so every client behind it shares" in log


@pytest.mark.parametrize("proxies", ["behind_proxy", "behind_any_proxy"])
def test_a_client_behind_a_trusted_proxy_cannot_escape_by_rotating_it(
    proxies: str, request: pytest.FixtureRequest
) -> None:
    """The proxy appends the address it saw; what the client wrote itself stands left of it."""
    jira: Jira = request.getfixturevalue(proxies)
    url = jira.base_url + "/inspector/api/tenants"
    with client_at("127.0.0.1") as proxy:
        answers = [guess(proxy, url, f"198.51.100.{n}, 203.0.113.7") for n in range(1, 9)]
    assert answers == [401, 401, 401, 429, 429, 429, 429, 429]
    [lockout] = [line for line in jira.server.log().splitlines() if "from 203.0.113.7" in line]
    assert "FORWARDED_ALLOW_IPS" not in lockout


def test_a_guesser_does_not_lock_out_the_admin_at_another_address(behind_proxy: Jira) -> None:
    url = behind_proxy.base_url + "/inspector/api/tenants"
    with client_at("127.0.0.3") as guesser, client_at("127.0.0.4") as admin:
        assert [guess(guesser, url) for _ in range(4)] == [401, 401, 401, 429]
        assert admin.get(url, auth=AUTH).status_code == 200
    with client_at("127.0.0.1") as proxy:
        assert [guess(proxy, url, "203.0.113.20") for _ in range(4)] == [401, 401, 401, 429]
        headers = {"X-Forwarded-For": "203.0.113.21"}
        assert proxy.get(url, auth=AUTH, headers=headers).status_code == 200
        assert (
            proxy.get(url, auth=AUTH, headers={"X-Forwarded-For": "203.0.113.20"}).status_code
            == 429
        )
