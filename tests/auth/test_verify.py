"""Verifying signed installs (RS256) and shared-secret tokens (HS256) of Jira's requests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest

from addon.auth import (
    AlgorithmNotAllowed,
    AmbiguousToken,
    AudienceMismatch,
    ContextQshRefused,
    InstallKeyFetcher,
    InvalidKeyId,
    InvalidSignature,
    IssuerMismatch,
    KeyServerUnavailable,
    MalformedToken,
    MissingClaim,
    MissingKeyId,
    MissingToken,
    QshMismatch,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    UnknownTenant,
    VerifiedToken,
    encode_hs256,
    encode_rs256,
    extract_token,
    query_string_hash,
    verify_install,
    verify_symmetric,
)
from addon.errors import Refusal, ServiceUnavailable
from tests.auth.keyserver import KeyServer, RsaKey

NOW = 1_700_000_000
APP = "https://app.example.com"
CLIENT_KEY = "jira:2d3a0a2e-1111-4c4c-9a9a-000000000001"
OTHER_CLIENT_KEY = "jira:2d3a0a2e-2222-4c4c-9a9a-000000000002"
KID = "jira/0123abcd-4567-89ef-0123-456789abcdef"
SECRET = "ATCO-tenant-a-" + "a1b2c3d4" * 8
OTHER_SECRET = "ATCO-tenant-b-" + "e5f6a7b8" * 8
INSTALLED_QSH = query_string_hash("POST", "/installed")


def assert_safe(refusal: Refusal, *secrets: str) -> None:
    """A reason names no token, signature or secret."""
    assert refusal.reason
    for secret in secrets:
        assert secret not in refusal.reason
        for part in secret.split("."):
            if len(part) > 16:
                assert part not in refusal.reason


# Signed installs


class Keys:
    """A `key_for` that serves known PEMs and records which kids were asked for."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.asked: list[str] = []

    async def __call__(self, kid: str) -> str:
        self.asked.append(kid)
        try:
            return self.keys[kid]
        except KeyError:
            raise UnknownKey(f"no key {kid!r}") from None


def install_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": CLIENT_KEY,
        "aud": [APP],
        "iat": NOW,
        "exp": NOW + 180,
        "qsh": INSTALLED_QSH,
        "sub": "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def install(
    token: str,
    key_for: Callable[[str], Awaitable[str]],
    *,
    url: str = "/installed",
    base_url: str = APP,
    addon_base_url: str = APP,
    client_key: str = CLIENT_KEY,
    leeway: int = 0,
) -> VerifiedToken:
    return asyncio.run(
        verify_install(
            token,
            method="POST",
            url=url,
            base_url=base_url,
            addon_base_url=addon_base_url,
            client_key=client_key,
            key_for=key_for,
            leeway=leeway,
            now=NOW,
        )
    )


@pytest.fixture
def keys(atlassian_key: RsaKey) -> Keys:
    return Keys({KID: atlassian_key.public_pem})


@pytest.fixture
def sign(atlassian_key: RsaKey) -> Callable[..., str]:
    def sign(kid: str = KID, **changes: Any) -> str:
        return encode_rs256(install_claims(**changes), atlassian_key.private_pem, kid)

    return sign


def refused_install(
    refusal: type[Refusal], token: str, key_for: Callable[[str], Awaitable[str]], **kwargs: Any
) -> Refusal:
    with pytest.raises(refusal) as caught:
        install(token, key_for, **kwargs)
    assert_safe(caught.value, token)
    return caught.value


def test_signed_install_is_accepted(sign: Callable[..., str], keys: Keys) -> None:
    verified = install(sign(), keys)
    assert verified.claims["iss"] == CLIENT_KEY
    assert verified.client_key == CLIENT_KEY
    assert verified.header["kid"] == KID
    assert verified.canonical_request == "POST&/installed&"
    assert verified.qsh_expected == INSTALLED_QSH
    assert keys.asked == [KID]


@pytest.mark.parametrize(
    ("aud", "addon_base_url"),
    [
        (APP, APP),
        ([APP], APP + "/"),
        ([APP + "/"], APP),
        (["https://other.example.com", APP], APP),
    ],
)
def test_audience_forms_that_name_us(
    sign: Callable[..., str], keys: Keys, aud: Any, addon_base_url: str
) -> None:
    install(sign(aud=aud), keys, addon_base_url=addon_base_url)


def test_install_under_a_base_path(sign: Callable[..., str], keys: Keys) -> None:
    base = "https://app.example.com/connect"
    token = sign(aud=[base], qsh=query_string_hash("POST", "/uninstalled?user_id=a"))
    verified = install(
        token, keys, url="/connect/uninstalled?user_id=a", base_url=base, addon_base_url=base
    )
    assert verified.canonical_request == "POST&/uninstalled&user_id=a"


def test_unsigned_install_is_refused() -> None:
    with pytest.raises(MissingToken) as caught:
        extract_token(None, None)
    assert caught.value.status == 401 and caught.value.code == "missing_token"


def test_hs256_signed_install_is_refused(keys: Keys) -> None:
    token = encode_hs256(install_claims(), SECRET)
    refusal = refused_install(AlgorithmNotAllowed, token, keys)
    assert "installs must be signed by Atlassian with RS256" in refusal.reason
    assert_safe(refusal, SECRET)
    assert keys.asked == []


def test_alg_none_install_is_refused(keys: Keys) -> None:
    token = jwt.encode(install_claims(), "", algorithm="none", headers={"kid": KID})
    refusal = refused_install(AlgorithmNotAllowed, token, keys)
    assert "RS256" in refusal.reason
    assert keys.asked == []


def test_install_signed_with_another_key_is_refused(other_key: RsaKey, keys: Keys) -> None:
    token = encode_rs256(install_claims(), other_key.private_pem, KID)
    refused_install(InvalidSignature, token, keys)


@pytest.mark.parametrize(
    "aud",
    [
        ["https://app.example.com.attacker.net"],
        "https://app.example.com.attacker.net",
        ["https://app.example.com/evil"],
        ["https://app.example.co"],
        ["http://app.example.com"],
        ["https://attacker.example/?u=https://app.example.com"],
        ["xhttps://app.example.com"],
        [f"{APP} "],
        [],
        "",
        42,
        {"url": APP},
        [[APP]],
    ],
)
def test_install_for_another_audience_is_refused(
    sign: Callable[..., str], keys: Keys, aud: Any
) -> None:
    refusal = refused_install(AudienceMismatch, sign(aud=aud), keys)
    assert refusal.code == "audience_mismatch" and APP in refusal.reason


def test_install_without_audience_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    refusal = refused_install(MissingClaim, sign(aud=None), keys)
    assert "aud" in refusal.reason


def test_install_from_another_issuer_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    refusal = refused_install(IssuerMismatch, sign(iss=OTHER_CLIENT_KEY), keys)
    assert refusal.code == "issuer_mismatch"
    assert OTHER_CLIENT_KEY in refusal.reason and CLIENT_KEY in refusal.reason


def test_install_without_issuer_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    refused_install(MissingClaim, sign(iss=None), keys)


def test_expired_install_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    token = sign(iat=NOW - 400, exp=NOW - 100)
    refused_install(TokenExpired, token, keys, leeway=30)
    install(token, keys, leeway=101)


def test_install_with_the_wrong_qsh_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    token = sign(qsh=query_string_hash("POST", "/uninstalled"))
    refusal = refused_install(QshMismatch, token, keys)
    assert refusal.reason == "qsh does not match: expected canonical request POST&/installed&"
    assert refusal.code == "qsh_mismatch" and refusal.status == 401


def test_install_with_a_context_qsh_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    refused_install(ContextQshRefused, sign(qsh="context-qsh"), keys)


def test_install_without_qsh_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    refused_install(MissingClaim, sign(qsh=None), keys)


def test_install_without_kid_is_refused(atlassian_key: RsaKey, keys: Keys) -> None:
    token = jwt.encode(install_claims(), atlassian_key.private_pem, algorithm="RS256")
    refusal = refused_install(MissingKeyId, token, keys)
    assert refusal.code == "missing_key_id"
    refused_install(
        MissingKeyId, encode_rs256(install_claims(), atlassian_key.private_pem, ""), keys
    )
    assert keys.asked == []


@pytest.mark.parametrize(
    "kid",
    [
        "..\\x",
        "a b",
        "a?b",
        "a#b",
        "a%2Fb",
        "kid\n",
        "é",
        ".",
        "..",
        "x" * 201,
    ],
)
def test_install_with_a_bad_kid_is_refused_before_any_fetch(
    sign: Callable[..., str], keys: Keys, kid: str
) -> None:
    refusal = refused_install(InvalidKeyId, sign(kid=kid), keys)
    assert refusal.code == "invalid_key_id" and "200" in refusal.reason
    assert keys.asked == []


def test_a_kid_that_is_not_a_string_is_refused(atlassian_key: RsaKey, keys: Keys) -> None:
    _, claims, signature = encode_rs256(install_claims(), atlassian_key.private_pem, KID).split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":5}').rstrip(b"=").decode()
    refused_install(InvalidKeyId, f"{header}.{claims}.{signature}", keys)
    assert keys.asked == []


@pytest.mark.parametrize("kid", ["x" * 200, "a/b/c", "A-Z_a.z-0/9", "../x"])
def test_kids_that_are_fine(atlassian_key: RsaKey, kid: str) -> None:
    key_for = Keys({kid: atlassian_key.public_pem})
    install(encode_rs256(install_claims(), atlassian_key.private_pem, kid), key_for)
    assert key_for.asked == [kid]


def test_unknown_kid_is_refused(sign: Callable[..., str], keys: Keys) -> None:
    refusal = refused_install(UnknownKey, sign(kid="jira/unknown"), keys)
    assert refusal.status == 401


def test_key_server_trouble_is_a_503(sign: Callable[..., str]) -> None:
    async def key_for(kid: str) -> str:
        raise KeyServerUnavailable("the install key server did not answer")

    refusal = refused_install(KeyServerUnavailable, sign(), key_for)
    assert refusal.status == 503 and refusal.code == "key_server_unavailable"


def test_a_key_that_is_not_a_public_key_is_a_503(sign: Callable[..., str]) -> None:
    refused_install(KeyServerUnavailable, sign(), Keys({KID: "<html>hello</html>"}))


def test_malformed_install_token_is_refused(keys: Keys) -> None:
    refused_install(MalformedToken, "not.a.jwt", keys)


def test_install_through_a_real_key_server(sign: Callable[..., str], atlassian_key: RsaKey) -> None:
    async def scenario(url: str) -> VerifiedToken:
        async with InstallKeyFetcher(url, timeout=5) as fetcher:
            return await verify_install(
                sign(),
                method="POST",
                url="/installed",
                base_url=APP,
                addon_base_url=APP,
                client_key=CLIENT_KEY,
                key_for=fetcher.get,
                leeway=0,
                now=NOW,
            )

    with KeyServer(keys={KID: atlassian_key.public_pem}) as server:
        verified = asyncio.run(scenario(server.url))
    assert verified.client_key == CLIENT_KEY
    assert server.requests == ["/jira%2F0123abcd-4567-89ef-0123-456789abcdef"]


# Shared-secret tokens


class Tenants:
    """A `secret_for` over a dict, recording the clientKeys asked for."""

    def __init__(self, secrets: dict[str, str], error: Exception | None = None) -> None:
        self.secrets = secrets
        self.error = error
        self.asked: list[str] = []

    async def __call__(self, client_key: str) -> str | None:
        self.asked.append(client_key)
        if self.error is not None:
            raise self.error
        return self.secrets.get(client_key)


@pytest.fixture
def tenants() -> Tenants:
    return Tenants({CLIENT_KEY: SECRET, OTHER_CLIENT_KEY: OTHER_SECRET})


HOOK = "/hooks/issue-updated?issue=PROJ-1&user_id=admin"


def hook_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": CLIENT_KEY,
        "iat": NOW,
        "exp": NOW + 180,
        "qsh": query_string_hash("POST", HOOK),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def symmetric(
    token: str,
    secret_for: Callable[[str], Awaitable[str | None]],
    *,
    url: str = HOOK,
    base_url: str = APP,
    leeway: int = 0,
) -> VerifiedToken:
    return asyncio.run(
        verify_symmetric(
            token,
            method="POST",
            url=url,
            base_url=base_url,
            secret_for=secret_for,
            leeway=leeway,
            now=NOW,
        )
    )


def refused_symmetric(
    refusal: type[Refusal],
    token: str,
    secret_for: Callable[[str], Awaitable[str | None]],
    **kwargs: Any,
) -> Refusal:
    with pytest.raises(refusal) as caught:
        symmetric(token, secret_for, **kwargs)
    assert_safe(caught.value, token, SECRET, OTHER_SECRET)
    return caught.value


def test_webhook_token_is_accepted(tenants: Tenants) -> None:
    verified = symmetric(encode_hs256(hook_claims(), SECRET), tenants)
    assert verified.client_key == CLIENT_KEY
    assert verified.canonical_request == ("POST&/hooks/issue-updated&issue=PROJ-1&user_id=admin")
    assert verified.qsh_expected == query_string_hash("POST", HOOK)
    assert tenants.asked == [CLIENT_KEY]


def test_iframe_token_in_the_query_is_accepted(tenants: Tenants) -> None:
    claims = hook_claims(qsh=query_string_hash("GET", "/panel?a=1"))
    token = encode_hs256(claims, SECRET)
    url = f"/connect/panel?a=1&jwt={token}"
    assert extract_token(None, token) == token
    verified = asyncio.run(
        verify_symmetric(
            token,
            method="GET",
            url=url,
            base_url=APP + "/connect",
            secret_for=tenants,
            leeway=0,
            now=NOW,
        )
    )
    assert verified.canonical_request == "GET&/panel&a=1"


def test_unknown_tenant_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(iss="jira:nobody"), SECRET)
    refusal = refused_symmetric(UnknownTenant, token, tenants)
    assert refusal.reason.startswith("no installed tenant with clientKey 'jira:nobody'")
    assert refusal.code == "unknown_tenant" and refusal.status == 401


def test_wrong_secret_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(), "ATCO-not-the-secret-" + "0" * 40)
    refused_symmetric(InvalidSignature, token, tenants)


def test_token_for_another_tenant_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(iss=OTHER_CLIENT_KEY), SECRET)
    refused_symmetric(InvalidSignature, token, tenants)
    assert tenants.asked == [OTHER_CLIENT_KEY]


def test_expired_beyond_the_leeway_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(iat=NOW - 300, exp=NOW - 31), SECRET)
    refusal = refused_symmetric(TokenExpired, token, tenants, leeway=30)
    assert refusal.reason.startswith("the token expired 31 s ago (leeway 30 s)")


def test_expired_within_the_leeway_is_accepted(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(iat=NOW - 300, exp=NOW - 29), SECRET)
    symmetric(token, tenants, leeway=30)


def test_issued_in_the_future_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(iat=NOW + 120, exp=NOW + 300), SECRET)
    refused_symmetric(TokenNotYetValid, token, tenants, leeway=30)
    symmetric(token, tenants, leeway=120)


def test_context_qsh_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(qsh="context-qsh"), SECRET)
    refusal = refused_symmetric(ContextQshRefused, token, tenants)
    assert refusal.code == "context_qsh_refused"


def test_qsh_for_another_path_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(qsh=query_string_hash("POST", "/hooks/other")), SECRET)
    refusal = refused_symmetric(QshMismatch, token, tenants)
    assert refusal.reason == (
        "qsh does not match: expected canonical request"
        " POST&/hooks/issue-updated&issue=PROJ-1&user_id=admin"
    )


def test_qsh_for_another_query_or_method_is_refused(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(), SECRET)
    refused_symmetric(QshMismatch, token, tenants, url="/hooks/issue-updated?issue=PROJ-2")
    with pytest.raises(QshMismatch):
        asyncio.run(
            verify_symmetric(
                token,
                method="PUT",
                url=HOOK,
                base_url=APP,
                secret_for=tenants,
                leeway=0,
                now=NOW,
            )
        )


def test_qsh_that_is_not_a_string_is_refused(tenants: Tenants) -> None:
    refused_symmetric(QshMismatch, encode_hs256(hook_claims(qsh=["x"]), SECRET), tenants)


def test_missing_qsh_is_refused(tenants: Tenants) -> None:
    refused_symmetric(MissingClaim, encode_hs256(hook_claims(qsh=None), SECRET), tenants)


def test_missing_iss_is_refused_without_a_lookup(tenants: Tenants) -> None:
    refusal = refused_symmetric(MissingClaim, encode_hs256(hook_claims(iss=None), SECRET), tenants)
    assert "iss" in refusal.reason
    assert tenants.asked == []


def test_iss_that_is_not_a_string_is_refused(tenants: Tenants) -> None:
    def segment(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{segment({'alg': 'HS256'})}.{segment(hook_claims(iss=7))}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    refused_symmetric(MalformedToken, token, tenants)
    assert tenants.asked == []


def test_rs256_token_is_refused_without_a_lookup(tenants: Tenants, atlassian_key: RsaKey) -> None:
    token = encode_rs256(hook_claims(), atlassian_key.private_pem, KID)
    refused_symmetric(AlgorithmNotAllowed, token, tenants)
    assert tenants.asked == []


def test_alg_none_is_refused_without_a_lookup(tenants: Tenants) -> None:
    token = jwt.encode(hook_claims(), "", algorithm="none")
    refused_symmetric(AlgorithmNotAllowed, token, tenants)
    assert tenants.asked == []


def test_malformed_token_is_refused_without_a_lookup(tenants: Tenants) -> None:
    refused_symmetric(MalformedToken, "eyJhbGciOiJIUzI1NiJ9.%%%.x", tenants)
    assert tenants.asked == []


def test_signature_is_checked_before_the_claims(tenants: Tenants) -> None:
    token = encode_hs256(hook_claims(exp=NOW - 1000, qsh="context-qsh"), OTHER_SECRET)
    refused_symmetric(InvalidSignature, token, tenants)


def test_database_trouble_is_a_503_not_a_401() -> None:
    secret_for = Tenants({}, error=ServiceUnavailable("the database is unreachable"))
    with pytest.raises(ServiceUnavailable) as caught:
        symmetric(encode_hs256(hook_claims(), SECRET), secret_for)
    assert caught.value.status == 503


# Finding the token


@pytest.mark.parametrize(
    "authorization",
    ["JWT tok.en.x", "jwt tok.en.x", "Jwt   tok.en.x", "JWT\ttok.en.x", "  JWT tok.en.x \r\n"],
)
def test_token_from_the_authorization_header(authorization: str) -> None:
    assert extract_token(authorization, None) == "tok.en.x"


def test_token_from_the_query() -> None:
    assert extract_token(None, "tok.en.x") == "tok.en.x"
    assert extract_token("", "tok.en.x") == "tok.en.x"


def test_the_same_token_in_header_and_query() -> None:
    assert extract_token("JWT tok.en.x", "tok.en.x") == "tok.en.x"


def test_different_tokens_in_header_and_query_are_ambiguous() -> None:
    with pytest.raises(AmbiguousToken) as caught:
        extract_token("JWT header.tok.en", "query.tok.en")
    assert caught.value.code == "ambiguous_token"
    assert_safe(caught.value, "header.tok.en", "query.tok.en")


@pytest.mark.parametrize(("authorization", "query_jwt"), [(None, None), ("", ""), ("  ", None)])
def test_no_token_at_all(authorization: str | None, query_jwt: str | None) -> None:
    with pytest.raises(MissingToken):
        extract_token(authorization, query_jwt)


@pytest.mark.parametrize(
    ("authorization", "named"),
    [
        ("Basic dXNlcjpzZWNyZXQtcGFzc3dvcmQ=", "'Basic'"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "'Bearer'"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "another scheme"),
        ("JWTtoken", "another scheme"),
    ],
)
def test_another_scheme_is_not_a_token(authorization: str, named: str) -> None:
    with pytest.raises(MissingToken) as caught:
        extract_token(authorization, None)
    assert "the scheme must be JWT" in caught.value.reason
    assert named in caught.value.reason
    assert_safe(caught.value, authorization.split()[-1])


def test_another_scheme_with_a_jwt_query_parameter() -> None:
    assert extract_token("Basic dXNlcjpwdw==", "tok.en.x") == "tok.en.x"


def test_jwt_scheme_without_a_token() -> None:
    with pytest.raises(MissingToken):
        extract_token("JWT", None)
    with pytest.raises(MissingToken):
        extract_token("JWT   ", None)


def test_jwt_scheme_with_extra_words() -> None:
    with pytest.raises(MalformedToken):
        extract_token("JWT tok.en.x extra", None)
