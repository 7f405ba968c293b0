"""Hostile and broken input over the whole request surface, against a real server process (on
SQLite, then PostgreSQL): every request is refused with a 4xx and a JSON reason, never a 5xx,
never a hang, and nothing is stored for it but the bounded rejection record."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addon.simulator import SimulatedSite
from tests.auth.keyserver import KeyServer
from tests.reliability.support import (
    PROBE_HANDLERS,
    UVICORN_REFUSAL,
    Jira,
    RawResponse,
    assert_no_server_errors,
    base_env,
    query,
    raw_request,
    read_runs,
    scalar,
    until,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://addon.hostile.test"
MAX_BODY = 64 * 1024
REJECTED_LIMIT = 50
REJECTED_SLACK = 10
ALLOWED = {400, 401, 404, 405, 413, 414, 431}
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

WEBHOOK_PATHS = [
    "/webhooks/jira/issue-updated",
    "/webhooks/jira/issue-created",
    "/webhooks/jira/comment-created",
    "/webhooks/jira/sprint-started",
    "/webhooks/jira/issuelink-created",
    "/webhooks/jira/user-updated",
]
LIFECYCLE_PATHS = ["/installed", "/uninstalled", "/enabled", "/disabled"]
OTHER_PATHS = [
    "/no/such/path",
    "/webhooks/jira/",
    "/webhooks/jira/issue-updated/more",
    "/webhooks/jira/sources/nope",
    "/inspector/",
    "/static/nope.css",
    "//",
]


@dataclass
class Target:
    server: LiveServer
    jira: Jira
    database_url: str
    site: SimulatedSite
    probe: Path
    replayed: set[str]


@pytest.fixture(scope="module")
def target(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    directory = tmp_path_factory.mktemp("hostile")
    probe = directory / "probe.log"
    with KeyServer() as keys:
        env = base_env(
            module_database_url,
            keys,
            ADDON_BASE_URL=PUBLIC_URL,
            MAX_BODY_BYTES=str(MAX_BODY),
            REJECTED_LOG_LIMIT=str(REJECTED_LIMIT),
            ADDON_HANDLERS=PROBE_HANDLERS,
            PROBE_LOG=str(probe),
        )
        jira = Jira(keys, PUBLIC_URL)
        with LiveServer(env, log_dir=directory) as server:
            site = jira.site()
            assert jira.install(server.url, site).status_code == 204
            yield Target(server, jira, module_database_url, site, probe, set())
        assert_no_server_errors(server.log())


def assert_refused(response: RawResponse) -> None:
    """A 4xx with a JSON reason; or uvicorn's own 400 for what its HTTP parser cannot read."""
    assert response.status in ALLOWED, (response.status, response.body[:500])
    if response.body == UVICORN_REFUSAL:
        assert response.status == 400
        return
    assert response.headers.get("content-type", "").startswith("application/json"), response
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("reason"), str) and body["reason"], body


def assert_nothing_stored(target: Target) -> None:
    """Only rejection records (bounded) and the deliberate replays; the tenant is untouched."""

    def settled() -> int:
        # Rejections are written after the answer: wait until the writer has caught up.
        first = scalar(target.database_url, "SELECT MAX(id) FROM deliveries")
        time.sleep(0.3)
        return int(first == scalar(target.database_url, "SELECT MAX(id) FROM deliveries"))

    until(settled, timeout=10, interval=0)
    rows = query(
        target.database_url,
        "SELECT status, webhook_id FROM deliveries WHERE status <> 'rejected'",
    )
    stray = [row for row in rows if row["webhook_id"] not in target.replayed]
    assert not stray, stray[:10]
    rejected = scalar(
        target.database_url, "SELECT COUNT(*) FROM deliveries WHERE status = 'rejected'"
    )
    assert rejected <= REJECTED_LIMIT + REJECTED_SLACK, rejected
    tenants = query(target.database_url, "SELECT client_key, state FROM tenants")
    assert tenants == [{"client_key": target.site.client_key, "state": "installed"}]
    alive = f"alive-{len(target.replayed)}"  # and the server still takes real deliveries
    target.replayed.add(alive)
    assert target.jira.webhook(target.server.url, target.site, alive).status_code == 204
    assert_no_server_errors(target.server.log())


# --- strategies -----------------------------------------------------------------------------


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hs256(signing_input: bytes, secret: str) -> bytes:
    return b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())


HOSTILE_TEXT = st.sampled_from(["\x00", "a\x00b", "\ud800", "\udcff", "x" * 300, "", "é", "\u2028"])
TEXT = st.text(max_size=20) | HOSTILE_TEXT
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
TIMES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    TEXT,
    st.integers(min_value=-600, max_value=600).map(lambda d: int(time.time()) + d),
)
HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256", "RS256", "none", "hs256", "HS512", ""]) | TEXT},
    optional={"typ": st.just("JWT") | TEXT, "kid": TEXT, "crit": JSON_VALUES},
)


def claims(client_key: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"iss": st.just(client_key) | TEXT | JSON_VALUES},
        optional={
            "iat": TIMES,
            "exp": TIMES,
            "nbf": TIMES,
            "qsh": st.just("context-qsh") | st.text(alphabet="0123456789abcdef", max_size=64),
            "aud": JSON_VALUES,
            "sub": JSON_VALUES,
        },
    )


def segments(client_key: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        JSON_VALUES.map(lambda v: b64(json.dumps(v).encode())),
        HEADERS.map(lambda v: b64(json.dumps(v).encode())),
        claims(client_key).map(lambda v: b64(json.dumps(v).encode())),
        st.binary(max_size=48).map(b64),
        st.binary(max_size=48).map(base64.b64encode),  # standard alphabet, padded
        st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.integers(1, 50_000).map(lambda n: b64(b"[" * n + b"]" * n)),
        st.just(b""),
    )


def tokens(site: SimulatedSite) -> st.SearchStrategy[bytes]:
    garbage = st.lists(segments(site.client_key), min_size=1, max_size=4).map(b".".join)

    @st.composite
    def shaped(draw: st.DrawFn) -> bytes:
        """Three proper segments: a header, claims of any content, and a signature that is
        valid for the tenant's secret, made with another secret, or missing."""
        header = draw(st.just({"alg": "HS256", "typ": "JWT"}) | HEADERS)
        signing_input = (
            b64(json.dumps(header).encode())
            + b"."
            + b64(json.dumps(draw(claims(site.client_key))).encode())
        )
        secret = draw(st.sampled_from([site.shared_secret, "another secret", ""]))
        return signing_input + b"." + (hs256(signing_input, secret) if secret else b"")

    return garbage | shaped() | shaped()


def header_bytes(max_size: int = 60) -> st.SearchStrategy[bytes]:
    """What may stand in a header value on the wire (no CR, LF or NUL)."""
    return st.lists(st.integers(0x20, 0xFF).filter(lambda b: b != 0x7F), max_size=max_size).map(
        lambda values: bytes(values).strip()
    )


def authorizations(site: SimulatedSite) -> st.SearchStrategy[bytes | None]:
    token = tokens(site)
    return st.one_of(
        st.none(),
        token.map(lambda t: b"JWT " + t),
        token.map(lambda t: b"JWT " + t),
        st.tuples(
            st.sampled_from([b"jwt ", b"Bearer ", b"Basic ", b"JWT  ", b"JWT x "]), token
        ).map(lambda pair: pair[0] + pair[1]),
        st.sampled_from([b"JWT", b"JWT ", b"Bearer", b"", b"JWT a b c"]),
        header_bytes(),
    )


def encoded(value: str, how: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    if how == "quoted":
        return quote(raw, safe="").encode()
    if how == "raw":  # as on the wire, unencoded: anything but whitespace, '#', '&' and NUL
        return bytes(b for b in raw if b > 0x20 and b not in b"#&\x7f")
    return quote(raw, safe="=&?/").encode()  # half-encoded: '=' and '&' left as they are


def queries(site: SimulatedSite) -> st.SearchStrategy[bytes]:
    names = (
        st.sampled_from(
            ["issueKey", "issueId", "projectKey", "projectId", "jwt", "sprintId", "boardId", ""]
        )
        | TEXT
    )
    values = TEXT | tokens(site).map(lambda t: t.decode("latin-1"))
    pair = st.tuples(names, values, st.sampled_from(["quoted", "raw", "half"]), st.booleans())
    parts = st.lists(pair, max_size=6).map(
        lambda items: b"&".join(
            encoded(n, how) + (b"=" + encoded(v, how) if has_value else b"")
            for n, v, how, has_value in items
        )
    )
    long = st.integers(1_000, 70_000).map(lambda n: b"issueKey=A-1&x=" + b"y" * n)
    repeated = st.integers(1, 2_000).map(lambda n: b"&".join([b"jwt=", b"issueKey="] * n))
    return st.one_of(st.just(b""), parts, long, repeated)


def paths() -> st.SearchStrategy[bytes]:
    known = st.sampled_from(WEBHOOK_PATHS + LIFECYCLE_PATHS + OTHER_PATHS).map(str.encode)
    suffix = st.tuples(known, TEXT, st.sampled_from(["quoted", "raw"])).map(
        lambda t: t[0] + encoded(t[1], t[2]).replace(b"?", b"")
    )
    long = st.integers(1_000, 70_000).map(lambda n: b"/webhooks/jira/" + b"p" * n)
    return st.one_of(known, known, suffix, long)


def bodies() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.just(b""),
        st.binary(max_size=512),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(TEXT, JSON_VALUES, max_size=4).map(lambda v: json.dumps(v).encode()),
        st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, 20_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.just(b'{"webhookEvent": "jira:issue_updated", "x": "\xff\xfe\xed\xa0\x80"}'),
        st.integers(MAX_BODY + 1, 3 * MAX_BODY).map(lambda n: b" " * n),
    )


CONTENT_TYPES = (
    st.none()
    | st.sampled_from(
        [
            b"application/json",
            b"application/json; charset=utf-16",
            b"text/plain",
            b"application/x-www-form-urlencoded",
            b"multipart/form-data; boundary=x",
            b"application/jwt",
            b"*/*",
        ]
    )
    | header_bytes(30)
)
METHODS = st.sampled_from([b"POST", b"POST", b"POST", b"GET", b"PUT", b"DELETE", b"PATCH"])


@st.composite
def requests(draw: st.DrawFn, site: SimulatedSite) -> dict[str, Any]:
    path, query_string = draw(paths()), draw(queries(site))
    headers: list[tuple[bytes, bytes]] = []
    for name, strategy in (
        (b"Authorization", authorizations(site)),
        (b"Content-Type", CONTENT_TYPES),
        (b"X-Atlassian-Webhook-Identifier", st.none() | header_bytes(80)),
        (b"X-Atlassian-Webhook-Retry", st.none() | st.sampled_from([b"-1", b"x", b"9" * 40])),
        (b"X-Atlassian-Webhook-Flow", st.none() | header_bytes(20)),
        (b"X-Hostile", st.none() | header_bytes(2_000)),
    ):
        value = draw(strategy)
        if value is not None:
            headers.append((name, value))
    if draw(st.booleans()):  # the same header twice
        headers.append((b"Authorization", b"JWT " + draw(tokens(site))))
    body = draw(bodies())
    chunked = draw(st.booleans()) and len(body) > 0
    return {
        "method": draw(METHODS),
        "target": path + (b"?" + query_string if query_string else b""),
        "headers": headers,
        "body": body,
        "chunked": chunked,
    }


def send(target: Target, request: dict[str, Any]) -> RawResponse:
    body: bytes = request["body"]
    if request["chunked"]:
        pieces = [body[i : i + 16_384] for i in range(0, len(body), 16_384)]
        return raw_request(
            target.server.port, request["method"], request["target"], request["headers"],
            chunks=pieces,
        )  # fmt: skip
    if len(body) > MAX_BODY:  # declared, not sent: the answer comes first
        return raw_request(
            target.server.port, request["method"], request["target"],
            [*request["headers"], (b"Content-Length", b"%d" % len(body))],
            content_length=False,
        )  # fmt: skip
    return raw_request(
        target.server.port, request["method"], request["target"], request["headers"], body
    )


# --- tests ------------------------------------------------------------------------------------


def test_replayed_webhook_is_a_duplicate_and_handled_once(target: Target) -> None:
    jira, site = target.jira, target.site
    request_target, body, headers = jira.webhook_request(site, "REPLAY-1", "replay-1")
    target.replayed.add("replay-1")
    for _ in range(3):  # the very same request, token and all
        response = raw_request(
            target.server.port,
            b"POST",
            request_target.encode(),
            [(k.encode(), v.encode()) for k, v in headers.items()],
            body,
        )
        assert response.status == 204, response
    rows = query(
        target.database_url,
        "SELECT id, status, duplicate_of, handler_state FROM deliveries "
        "WHERE webhook_id = 'replay-1' ORDER BY id",
    )
    assert [row["status"] for row in rows] == ["accepted", "duplicate", "duplicate"]
    original = rows[0]["id"]
    assert all(row["duplicate_of"] == original for row in rows[1:])
    assert all(row["handler_state"] == "none" for row in rows[1:])
    until(
        lambda: (
            scalar(
                target.database_url,
                "SELECT handler_state FROM deliveries WHERE id = ?",
                (original,),
            )
            == "done"
        ),
        timeout=10,
        what="the original handled",
    )
    time.sleep(0.5)  # time enough for a second run, if there were to be one
    runs = [run for run in read_runs(target.probe) if run.webhook_id == "replay-1"]
    assert [(run.delivery_id, run.end is not None) for run in runs] == [(original, True)]


HOSTILE_ISSUERS = ["\ud800", "\udcff", "a\x00b", "x" * 5_000, "é\u2028"]


def test_hostile_issuers_are_refused_and_recorded_beside_real_deliveries(target: Target) -> None:
    """A token's iss that no database takes as text (a lone surrogate, a NUL) is an unknown
    tenant (401), and its rejection record fails neither itself nor the real deliveries that
    share its group commit."""
    now = int(time.time())

    def hostile(n: int, issuer: str) -> RawResponse:
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64(json.dumps({"iss": issuer, "iat": now, "exp": now + 60, "qsh": "0"}).encode())
        token = header + b"." + body + b"." + hs256(header + b"." + body, "guess")
        return raw_request(
            target.server.port,
            b"POST",
            b"/webhooks/jira/issue-updated?issueKey=H-1",
            [
                (b"Authorization", b"JWT " + token),
                (b"X-Atlassian-Webhook-Identifier", b"hostile-%d" % n),
            ],
            b"{}",
        )

    def real(n: int) -> int:
        return target.jira.webhook(target.server.url, target.site, f"beside-{n}").status_code

    issuers = HOSTILE_ISSUERS * 4
    with ThreadPoolExecutor(16) as pool:
        refused = [pool.submit(hostile, n, issuer) for n, issuer in enumerate(issuers)]
        accepted = [pool.submit(real, n) for n in range(20)]
        assert [future.result() for future in accepted] == [204] * 20
        for future in refused:
            response = future.result()
            assert_refused(response)
            assert response.json()["error"] == "unknown_tenant", response
    target.replayed.update(f"beside-{n}" for n in range(20))

    def recorded() -> list[dict[str, Any]]:
        rows = query(
            target.database_url,
            "SELECT origin, error_code FROM deliveries "
            "WHERE status = 'rejected' AND webhook_id LIKE 'hostile-%'",
        )
        return rows if len(rows) == len(issuers) else []

    rows = until(recorded, timeout=10, what="every rejection recorded")
    assert {row["error_code"] for row in rows} == {"unknown_tenant"}
    assert {row["origin"] for row in rows} == {
        "\\ud800",
        "\\udcff",
        "a\\u0000b",
        "x" * 256,
        "é\u2028",
    }
    # An unsigned 'disabled' naming such a tenant is ignored (204, as for any unknown tenant:
    # Jira sends it after 'uninstalled'); 'enabled' needs a token.
    for name, status in ((b"/disabled", 204), (b"/enabled", 401)):
        for issuer in HOSTILE_ISSUERS:
            payload = json.dumps({"key": "test-addon", "clientKey": issuer}).encode()
            response = raw_request(target.server.port, b"POST", name, [], payload)
            assert response.status == status, response
            if status != 204:
                assert_refused(response)
    assert_nothing_stored(target)


def test_garbage_over_the_whole_request_surface(target: Target) -> None:
    @FUZZ
    @given(request=requests(target.site))
    def refused(request: dict[str, Any]) -> None:
        assert_refused(send(target, request))

    refused()
    assert_nothing_stored(target)


def test_garbage_tokens_on_the_authenticated_urls(target: Target) -> None:
    """The same, focused on the token: well-formed requests to the webhook and lifecycle URLs
    whose Authorization header (or jwt parameter) is anything."""
    site = target.site
    body = json.dumps({"webhookEvent": "jira:issue_updated", "key": "test-addon"}).encode()

    @FUZZ
    @given(
        path=st.sampled_from(WEBHOOK_PATHS + LIFECYCLE_PATHS),
        authorization=authorizations(site),
        in_query=st.none() | tokens(site),
    )
    def refused(path: str, authorization: bytes | None, in_query: bytes | None) -> None:
        request_target = path.encode() + b"?issueKey=T-1"
        if in_query is not None:
            request_target += b"&jwt=" + quote(in_query, safe="").encode()
        headers = [(b"Content-Type", b"application/json")]
        if authorization is not None:
            headers.append((b"Authorization", authorization))
        assert_refused(raw_request(target.server.port, b"POST", request_target, headers, body))

    refused()
    assert_nothing_stored(target)


def test_signed_webhooks_with_broken_bodies_are_400(target: Target) -> None:
    """Past verification (a valid token for the exact URL), any body that is not a JSON object,
    whatever its content type, size or depth, is refused with 400 and a reason."""
    site = target.site
    extra_params = st.lists(
        st.tuples(st.sampled_from(["foo", "issueKey", "x", ""]), st.sampled_from(["", "1", "a b"])),
        max_size=4,
    )
    not_an_object = bodies().filter(
        lambda body: len(body) <= MAX_BODY and not body.lstrip().startswith(b"{")
    ) | st.sampled_from([b"{", b'{"a": }', b"{\xff}", b'{"a": NaN}'])

    @FUZZ
    @given(
        path=st.sampled_from(WEBHOOK_PATHS),
        extra=extra_params,
        body=not_an_object,
        content_type=CONTENT_TYPES,
    )
    def refused(
        path: str, extra: list[tuple[str, str]], body: bytes, content_type: bytes | None
    ) -> None:
        query_string = "&".join(f"{quote(k)}={quote(v)}" for k, v in [("issueKey", "H-1"), *extra])
        request_target = f"{path}?{query_string}"
        token = site.token(addon_base_url=PUBLIC_URL, target=request_target)
        headers = [(b"Authorization", b"JWT " + token.encode())]
        if content_type is not None:
            headers.append((b"Content-Type", content_type))
        response = raw_request(target.server.port, b"POST", request_target.encode(), headers, body)
        assert_refused(response)
        assert response.status == 400, response
        assert response.json()["error"] == "invalid_json", response

    refused()
    assert_nothing_stored(target)
