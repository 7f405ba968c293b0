"""Verifying Forge Invocation Tokens against a real JWKS server: what is accepted, each refusal."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from addon.auth import (
    AlgorithmNotAllowed,
    InvalidKeyId,
    InvalidSignature,
    JwksCache,
    JwksUnavailable,
    MalformedToken,
    MissingClaim,
    MissingKeyId,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
)
from addon.errors import Refusal
from addon.forge import (
    FIT_ISSUER,
    Invocation,
    IsolatedCloudUnsupported,
    MalformedAuthorization,
    MissingInvocationToken,
    NotAnInvocationToken,
    WrongAudience,
    bearer_token,
    verify_invocation,
)
from tests.support.jwks import JwksServer, SigningKey, closed_port_url, make_signing_key

APP_ID = "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107"
INSTALLATION = "ari:cloud:ecosystem::installation/2f9d3c1e-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"
API_BASE = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}"
LEEWAY = 30
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def forge_key() -> SigningKey:
    return make_signing_key("forge/invocation-token/2026-11")


@pytest.fixture(scope="module")
def intruder_key() -> SigningKey:
    return make_signing_key("forge/invocation-token/2026-11")  # the same kid, another key


@pytest.fixture(scope="module")
def jwks(forge_key: SigningKey) -> Iterator[JwksServer]:
    with JwksServer([forge_key]) as server:
        yield server


def fit_claims(**changes: Any) -> dict[str, Any]:
    """Every claim Forge sends for a trigger invocation ("Forge Remote essentials" example)."""
    claims: dict[str, Any] = {
        "app": {
            "installationId": INSTALLATION,
            "apiBaseUrl": API_BASE,
            "id": APP_ID,
            "appVersion": "2.0.0",
            "environment": {
                "type": "PRODUCTION",
                "id": "ari:cloud:ecosystem::environment/8db33809/0c1f2b5e",
            },
            "module": {"type": "core:endpoint", "key": "forge-events"},
            "installation": {
                "id": INSTALLATION,
                "contexts": [{"name": "jira", "apiBaseUrl": API_BASE, "cloudId": CLOUD_ID}],
            },
        },
        "aud": APP_ID,
        "iss": FIT_ISSUER,
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + 25,
        "jti": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
    }
    claims.update(changes)
    return claims


def verify(jwks: JwksServer, token: str, now: float = NOW) -> Invocation:
    async def scenario() -> Invocation:
        async with JwksCache(jwks.url) as cache:
            return await verify_invocation(token, app_id=APP_ID, keys=cache, leeway=LEEWAY, now=now)

    return asyncio.run(scenario())


def refused(
    jwks: JwksServer, token: str, kind: type[Refusal], *fragments: str, now: float = NOW
) -> Refusal:
    with pytest.raises(kind) as caught:
        verify(jwks, token, now)
    refusal = caught.value
    assert refusal.status == (503 if kind is JwksUnavailable else 401)
    for fragment in fragments:
        assert fragment in refusal.reason, refusal.reason
    return refusal


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


# Accepted


def test_a_forge_token_gives_the_invocation(jwks: JwksServer, forge_key: SigningKey) -> None:
    invocation = verify(jwks, forge_key.sign(fit_claims()))
    assert invocation.installation_id == INSTALLATION
    assert invocation.api_base_url == API_BASE
    assert invocation.cloud_id == CLOUD_ID
    assert invocation.app_id == APP_ID
    assert invocation.app_version == "2.0.0"
    assert invocation.environment_type == "PRODUCTION"
    assert invocation.module_key == "forge-events"
    assert invocation.kid == forge_key.kid
    assert invocation.token_id == "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
    assert invocation.principal is None
    assert invocation.claims["app"]["installationId"] == INSTALLATION


def test_the_cloud_id_comes_from_the_api_base_url_without_contexts(
    jwks: JwksServer, forge_key: SigningKey
) -> None:
    claims = fit_claims()
    del claims["app"]["installation"]
    assert verify(jwks, forge_key.sign(claims)).cloud_id == CLOUD_ID


def test_times_hold_within_the_leeway(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = forge_key.sign(fit_claims())
    assert verify(jwks, token, now=NOW + 25 + LEEWAY - 1).installation_id == INSTALLATION
    early = forge_key.sign(fit_claims(iat=int(NOW) + LEEWAY, nbf=int(NOW) + LEEWAY))
    assert verify(jwks, early).installation_id == INSTALLATION


# Refused: the Authorization header


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_authorization_is_refused(header: str | None) -> None:
    with pytest.raises(MissingInvocationToken, match="Bearer"):
        bearer_token(header)


@pytest.mark.parametrize("header", ["JWT abc.def.ghi", "Basic dXNlcjpwYXNz", "Bearer ", "abc"])
def test_an_authorization_that_is_not_a_bearer_token_is_refused(header: str) -> None:
    with pytest.raises(MalformedAuthorization):
        bearer_token(header)


def test_a_bearer_token_is_taken_whatever_the_scheme_case() -> None:
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"


# Refused: the algorithm, before any key is looked up


def test_alg_none_is_refused(jwks: JwksServer) -> None:
    token = unsigned({"alg": "none", "kid": "forge/invocation-token/2026-11"}, fit_claims())
    refused(jwks, token, AlgorithmNotAllowed, "alg none", "RS256")


def test_hs256_is_refused(jwks: JwksServer) -> None:
    token = jwt.encode(
        fit_claims(),
        "a shared secret of thirty-two bytes!",
        algorithm="HS256",
        headers={"kid": "k"},
    )
    refused(jwks, token, AlgorithmNotAllowed, "alg HS256")


def test_hs256_signed_with_the_public_keys_bytes_is_refused(
    jwks: JwksServer, forge_key: SigningKey
) -> None:
    """The key-confusion attack: an HMAC keyed with the published public key."""
    header = {"alg": "HS256", "typ": "JWT", "kid": forge_key.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(fit_claims()).encode())}"
    for secret in (forge_key.public_pem.encode(), json.dumps(forge_key.jwk).encode()):
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        refused(jwks, f"{signing_input}.{b64(signature)}", AlgorithmNotAllowed, "alg HS256")


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256", "EdDSA"])
def test_every_other_algorithm_is_refused(jwks: JwksServer, alg: str) -> None:
    token = unsigned({"alg": alg, "kid": "forge/invocation-token/2026-11"}, fit_claims(), b"x")
    refused(jwks, token, AlgorithmNotAllowed, f"alg {alg}")


@pytest.mark.parametrize("token", ["", "abc", "a.b", "!!.??.**", "a" * 20000])
def test_a_token_that_is_not_a_jwt_is_refused(jwks: JwksServer, token: str) -> None:
    refused(jwks, token, MalformedToken)


# Refused: the key


def test_a_token_without_kid_is_refused(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = jwt.encode(fit_claims(), forge_key.private_pem, algorithm="RS256")
    refused(jwks, token, MissingKeyId, "no kid")


def test_a_token_whose_kid_is_not_a_string_is_refused(jwks: JwksServer) -> None:
    token = unsigned({"alg": "RS256", "kid": 7}, fit_claims(), b"x")
    refused(jwks, token, MalformedToken, "JWS header")


def test_a_token_whose_kid_is_too_long_is_refused(jwks: JwksServer) -> None:
    token = unsigned({"alg": "RS256", "kid": "k" * 500}, fit_claims(), b"x")
    before = jwks.requests
    refused(jwks, token, InvalidKeyId)
    assert jwks.requests == before  # refused before the key set is asked


def test_a_kid_not_in_the_key_set_is_refused(jwks: JwksServer) -> None:
    stranger = make_signing_key("made-up-kid")
    refused(jwks, stranger.sign(fit_claims()), UnknownKey, "'made-up-kid'", jwks.url)


def test_a_signature_by_another_key_is_refused(jwks: JwksServer, intruder_key: SigningKey) -> None:
    refused(jwks, intruder_key.sign(fit_claims()), InvalidSignature, "not signed by Atlassian")


def test_a_changed_claim_breaks_the_signature(jwks: JwksServer, forge_key: SigningKey) -> None:
    header, _, signature = forge_key.sign(fit_claims()).split(".")
    other = fit_claims(aud=APP_ID)
    other["app"]["installationId"] = "ari:cloud:ecosystem::installation/someone-else"
    token = f"{header}.{b64(json.dumps(other).encode())}.{signature}"
    refused(jwks, token, InvalidSignature)


def test_an_unreachable_key_set_is_a_503_never_an_acceptance(forge_key: SigningKey) -> None:
    async def scenario() -> JwksUnavailable:
        async with JwksCache(closed_port_url()) as cache:
            with pytest.raises(JwksUnavailable) as caught:
                await verify_invocation(
                    forge_key.sign(fit_claims()), app_id=APP_ID, keys=cache, leeway=0, now=NOW
                )
            return caught.value

    refusal = asyncio.run(scenario())
    assert refusal.status == 503
    assert refusal.headers["Retry-After"] == "60"


# Refused: the claims


@pytest.mark.parametrize("issuer", ["forge/other-token", None, ["forge/invocation-token"]])
def test_another_issuer_is_refused(jwks: JwksServer, forge_key: SigningKey, issuer: Any) -> None:
    claims = fit_claims(iss=issuer)
    if issuer is None:
        del claims["iss"]
    refused(jwks, forge_key.sign(claims), NotAnInvocationToken, "forge/invocation-token")


@pytest.mark.parametrize(
    "audience",
    [
        "ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000",
        "8db33809-1f32-48bb-8c52-5877dab48107",  # the bare UUID is not the app id exactly
        APP_ID.upper(),
        [APP_ID],
        APP_ID + " ",
    ],
)
def test_another_audience_is_refused(
    jwks: JwksServer, forge_key: SigningKey, audience: Any
) -> None:
    refused(jwks, forge_key.sign(fit_claims(aud=audience)), WrongAudience, "FORGE_APP_ID")


def test_an_expired_token_is_refused(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = forge_key.sign(fit_claims())
    refused(jwks, token, TokenExpired, "expired", now=NOW + 25 + LEEWAY)


def test_a_token_issued_in_the_future_is_refused(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = forge_key.sign(fit_claims(iat=int(NOW) + LEEWAY + 5, exp=int(NOW) + 100))
    refused(jwks, token, TokenNotYetValid, "issued")


def test_a_token_not_yet_valid_is_refused(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = forge_key.sign(fit_claims(nbf=int(NOW) + LEEWAY + 5, exp=int(NOW) + 100))
    refused(jwks, token, TokenNotYetValid, "nbf")


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_a_token_without_its_times_is_refused(
    jwks: JwksServer, forge_key: SigningKey, claim: str
) -> None:
    claims = fit_claims()
    del claims[claim]
    refused(jwks, forge_key.sign(claims), MissingClaim, claim)


def test_isolated_cloud_is_refused_and_said_so(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = forge_key.sign(fit_claims(icLabel="acme-ic"))
    refused(jwks, token, IsolatedCloudUnsupported, "Isolated Cloud", "not support")


@pytest.mark.parametrize("path", ["installationId", "apiBaseUrl"])
def test_a_token_without_the_installation_or_its_api_is_refused(
    jwks: JwksServer, forge_key: SigningKey, path: str
) -> None:
    claims = copy.deepcopy(fit_claims())
    del claims["app"][path]
    refused(jwks, forge_key.sign(claims), MissingClaim, f"app.{path}")


def test_a_token_without_app_is_refused(jwks: JwksServer, forge_key: SigningKey) -> None:
    claims = fit_claims()
    del claims["app"]
    refused(jwks, forge_key.sign(claims), MissingClaim, "app")


def test_an_api_base_url_that_is_not_https_is_refused(
    jwks: JwksServer, forge_key: SigningKey
) -> None:
    claims = fit_claims()
    claims["app"]["apiBaseUrl"] = "http://api.atlassian.com/ex/jira/x"
    refused(jwks, forge_key.sign(claims), MalformedToken, "https")


def test_refusals_never_echo_the_token(jwks: JwksServer, forge_key: SigningKey) -> None:
    token = forge_key.sign(fit_claims(aud="someone-else"))
    refusal = refused(jwks, token, WrongAudience)
    assert token not in refusal.reason
    assert token.split(".")[2] not in str(refusal.to_dict())


def test_verification_keeps_one_parsed_key(jwks: JwksServer, forge_key: SigningKey) -> None:
    async def scenario() -> int:
        async with JwksCache(jwks.url) as cache:
            for _ in range(20):
                token = forge_key.sign(fit_claims())
                await verify_invocation(token, app_id=APP_ID, keys=cache, leeway=LEEWAY, now=NOW)
            return cache.fetches

    assert asyncio.run(scenario()) == 1
