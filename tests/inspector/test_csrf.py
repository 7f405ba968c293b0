"""The CSRF rule without a server: which origins are the add-on's own, the cookie's scope, and the
order of the checks. The same rule over real HTTP and in a browser: test_replay, test_browser."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from starlette.requests import Request
from starlette.types import Message

from addon.inspector._csrf import COOKIE, FIELD, CsrfGuard, CsrfRefused

TOKEN = "t" * 43


def request(headers: Mapping[str, str], *, method: str = "POST", body: bytes = b"") -> Request:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": "/inspector/deliveries/1/replay",
        "raw_path": b"/inspector/deliveries/1/replay",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def form_post(origin: str, *, token: str = TOKEN, cookie: str = TOKEN) -> Request:
    return request(
        {
            "Origin": origin,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"{COOKIE}={cookie}",
        },
        body=f"{FIELD}={token}".encode(),
    )


@pytest.mark.parametrize(
    ("base_url", "origin", "path", "secure"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "/inspector", False),
        (
            "http://localhost:8000/jira-addon/",
            "http://localhost:8000",
            "/jira-addon/inspector",
            False,
        ),
        ("https://Addon.Example.COM:443/x", "https://addon.example.com", "/x/inspector", True),
        ("http://[::1]:8000", "http://[::1]:8000", "/inspector", False),
    ],
)
def test_the_add_on_s_origin_and_cookie_scope(
    base_url: str, origin: str, path: str, secure: bool
) -> None:
    guard = CsrfGuard.for_base_url(base_url)
    assert (guard.origin, guard.cookie_path, guard.secure) == (origin, path, secure)


def test_a_base_url_without_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="not an absolute URL"):
        CsrfGuard.for_base_url("/inspector")


@pytest.mark.parametrize(
    "origin",
    ["https://addon.example.com", "HTTPS://ADDON.example.com", "https://addon.example.com:443"],
)
def test_the_same_origin_written_another_way_is_accepted(origin: str) -> None:
    guard = CsrfGuard.for_base_url("https://addon.example.com")
    assert asyncio.run(guard.check(form_post(origin))) == {FIELD: TOKEN}


@pytest.mark.parametrize(
    "origin",
    [
        "http://addon.example.com",
        "https://addon.example.com:8443",
        "https://addon.example.com.evil.test",
        "https://evil.test/https://addon.example.com",
        "null",
        "",
    ],
)
def test_any_other_origin_is_refused_even_with_the_right_token(origin: str) -> None:
    guard = CsrfGuard.for_base_url("https://addon.example.com")
    with pytest.raises(CsrfRefused) as refused:
        asyncio.run(guard.check(form_post(origin)))
    assert refused.value.status == 403 and "another site" in refused.value.reason


def test_a_long_form_is_refused_before_it_is_read_whole() -> None:
    guard = CsrfGuard.for_base_url("https://addon.example.com")
    long = form_post("https://addon.example.com", token="x" * 10_000)
    with pytest.raises(CsrfRefused, match="larger than"):
        asyncio.run(guard.check(long))


def test_a_fresh_session_gets_a_new_random_token() -> None:
    guard = CsrfGuard.for_base_url("http://127.0.0.1:8000")
    first = guard.session_token(request({}, method="GET"))
    second = guard.session_token(request({}, method="GET"))
    assert first != second and len(first) == 43
    kept = guard.session_token(request({"Cookie": f"{COOKIE}={TOKEN}"}, method="GET"))
    assert kept == TOKEN
    forged = guard.session_token(request({"Cookie": f"{COOKIE}=short"}, method="GET"))
    assert forged != "short"
