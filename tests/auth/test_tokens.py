"""Encoding, decoding and verifying tokens with the algorithm pinned by the caller."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from addon.auth import (
    AlgorithmNotAllowed,
    InvalidSignature,
    MalformedToken,
    MissingClaim,
    TimeClaimOutOfRange,
    TokenExpired,
    TokenLifetimeTooLong,
    TokenNotYetValid,
    decode_unverified,
    encode_hs256,
    encode_rs256,
    verify_hs256,
    verify_rs256,
)
from addon.errors import Refusal
from tests.auth.keyserver import RsaKey, make_rsa_key

NOW = 1_700_000_000
SECRET = "ATCO" + "s3cr3t-" * 56
CLAIMS = {"iss": "jira:1234", "iat": NOW, "exp": NOW + 180, "qsh": "abc"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


def forge(header: Any, claims: Any, signature: bytes = b"sig") -> str:
    return f"{segment(header)}.{segment(claims)}.{b64(signature)}"


def signed(header: Any, claims_json: bytes, secret: str = SECRET) -> str:
    """An HS256 token over exactly `claims_json` (which may be odd JSON)."""
    signing_input = f"{segment(header)}.{b64(claims_json)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def assert_safe(refusal: Refusal, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in refusal.reason
    assert refusal.reason and len(refusal.reason) < 300


def test_hs256_round_trip() -> None:
    token = encode_hs256(CLAIMS, SECRET)
    assert verify_hs256(token, SECRET, leeway=0, now=NOW) == CLAIMS
    assert decode_unverified(token) == ({"alg": "HS256", "typ": "JWT"}, CLAIMS)


def test_rs256_round_trip(atlassian_key: RsaKey) -> None:
    token = encode_rs256(CLAIMS, atlassian_key.private_pem, kid="jira/k1")
    assert verify_rs256(token, atlassian_key.public_pem, leeway=0, now=NOW) == CLAIMS
    header, claims = decode_unverified(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "jira/k1"}
    assert claims == CLAIMS


def test_verifies_a_token_pyjwt_made() -> None:
    token = jwt.encode(CLAIMS, SECRET, algorithm="HS256")
    assert verify_hs256(token, SECRET, leeway=0, now=NOW) == CLAIMS


def test_accepts_bytes() -> None:
    token = encode_hs256(CLAIMS, SECRET).encode()
    assert verify_hs256(token, SECRET, leeway=0, now=NOW) == CLAIMS


def test_audience_is_not_checked_here() -> None:
    token = encode_hs256({**CLAIMS, "aud": ["https://elsewhere.example"]}, SECRET)
    assert verify_hs256(token, SECRET, leeway=0, now=NOW)["aud"] == ["https://elsewhere.example"]


def test_long_prefixed_secret() -> None:
    secret = "ATCO" + "x" * 396
    assert len(secret.encode()) == 400
    token = encode_hs256(CLAIMS, secret)
    assert verify_hs256(token, secret, leeway=0, now=NOW) == CLAIMS
    with pytest.raises(InvalidSignature):
        verify_hs256(token, secret[:-1], leeway=0, now=NOW)


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("", "three"),
        ("abc", "three"),
        ("a.b", "three"),
        ("a.b.c.d", "three"),
        ("..", "JSON"),
        ("!!!.e30.", "base64url"),
        ("e30=.e30.", "base64url"),
        ("e30.e30.a", "base64url"),
        ("e31.e30.", "canonical"),
        ("é.e30.", "outside base64url"),
        (f"{b64(b'not json')}.e30.", "not JSON"),
        (f"{b64(b'[1]')}.e30.", "not a JSON object"),
        (f"e30.{b64(b'42')}.", "not a JSON object"),
        (f"e30.{b64(b'null')}.", "not a JSON object"),
        ("e30." + b64(b'{"exp": NaN}') + ".", "not JSON"),
        ("e30." + b64(bytes([0xFF, 0xFE])) + ".", "not JSON"),
        (f"{b64(b'[' * 100 + b']' * 100)}.e30.", "not a JSON object"),
        (f"{b64(b'[' * 5000)}.e30.", "header"),
        ("e30." + "A" * 9000 + ".", "longer"),
    ],
)
def test_malformed_tokens(token: str, why: str) -> None:
    with pytest.raises(MalformedToken) as caught:
        decode_unverified(token)
    assert why in caught.value.reason
    assert caught.value.status == 401 and caught.value.code == "malformed_token"
    with pytest.raises(MalformedToken):
        verify_hs256(token, SECRET, leeway=0, now=NOW)


def test_decode_unverified_does_not_verify() -> None:
    token = forge({"alg": "HS256"}, {"iss": "x"})
    assert decode_unverified(token) == ({"alg": "HS256"}, {"iss": "x"})


@given(st.text(max_size=300))
def test_decode_unverified_on_any_text_only_refuses_as_malformed(token: str) -> None:
    try:
        header, claims = decode_unverified(token)
    except MalformedToken:
        return
    assert isinstance(header, dict) and isinstance(claims, dict)


@given(st.binary(max_size=300))
def test_decode_unverified_on_any_bytes_only_refuses_as_malformed(token: bytes) -> None:
    try:
        header, claims = decode_unverified(token)
    except MalformedToken:
        return
    assert isinstance(header, dict) and isinstance(claims, dict)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


UTF8_TEXT = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)


@given(
    header=JSONISH | st.just({"alg": "HS256"}),
    claims=JSONISH,
    signature=st.binary(max_size=40),
    secret=UTF8_TEXT,
)
def test_verify_on_structured_garbage_only_refuses(
    header: Any, claims: Any, signature: bytes, secret: str
) -> None:
    token = f"{segment(header)}.{segment(claims)}.{b64(signature)}"
    try:
        verify_hs256(token, secret, leeway=30, now=NOW)
    except Refusal as refusal:
        assert refusal.status == 401


@given(claims=JSONISH | st.dictionaries(st.sampled_from(["exp", "iat", "nbf"]), JSONISH))
def test_verify_on_signed_garbage_claims_only_refuses(claims: Any) -> None:
    token = signed({"alg": "HS256"}, json.dumps(claims).encode())
    try:
        verify_hs256(token, SECRET, leeway=30, now=NOW)
    except Refusal as refusal:
        assert refusal.status == 401


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none"},
        {"alg": "None"},
        {"alg": "RS256"},
        {"alg": "HS384"},
        {"alg": "HS512"},
        {"alg": "hs256"},
        {"alg": ""},
        {"alg": None},
        {"alg": ["HS256"]},
        {},
    ],
)
def test_hs256_verification_pins_the_algorithm(header: dict[str, Any]) -> None:
    with pytest.raises(AlgorithmNotAllowed) as caught:
        verify_hs256(forge(header, CLAIMS, b""), SECRET, leeway=0, now=NOW)
    assert "expected HS256" in caught.value.reason


def test_alg_none_token_is_refused() -> None:
    token = jwt.encode(CLAIMS, "", algorithm="none")
    assert token.endswith(".")
    with pytest.raises(AlgorithmNotAllowed):
        verify_hs256(token, SECRET, leeway=0, now=NOW)


def test_rs256_token_is_refused_by_hs256(atlassian_key: RsaKey) -> None:
    token = encode_rs256(CLAIMS, atlassian_key.private_pem, kid="k")
    with pytest.raises(AlgorithmNotAllowed) as caught:
        verify_hs256(token, SECRET, leeway=0, now=NOW)
    assert caught.value.reason == "the token has alg RS256; expected HS256"


def test_hs256_token_signed_with_the_public_key_is_refused_by_rs256(
    atlassian_key: RsaKey,
) -> None:
    header = {"alg": "HS256", "typ": "JWT"}
    token = signed(header, json.dumps(CLAIMS).encode(), atlassian_key.public_pem)
    with pytest.raises(AlgorithmNotAllowed) as caught:
        verify_rs256(token, atlassian_key.public_pem, leeway=0, now=NOW)
    assert caught.value.reason == "the token has alg HS256; expected RS256"


def test_an_odd_alg_is_not_echoed() -> None:
    odd = "x" * 50 + "<script>"
    with pytest.raises(AlgorithmNotAllowed) as caught:
        verify_hs256(forge({"alg": odd}, CLAIMS), SECRET, leeway=0, now=NOW)
    assert odd not in caught.value.reason


def test_wrong_secret_is_an_invalid_signature() -> None:
    token = encode_hs256(CLAIMS, SECRET)
    with pytest.raises(InvalidSignature) as caught:
        verify_hs256(token, SECRET + "x", leeway=0, now=NOW)
    assert caught.value.status == 401 and caught.value.code == "invalid_signature"
    assert_safe(caught.value, token, SECRET, token.rsplit(".", 1)[1])


def test_empty_secret_is_never_accepted() -> None:
    unsigned = forge({"alg": "HS256"}, CLAIMS, hmac.new(b"", b"", hashlib.sha256).digest())
    with pytest.raises(InvalidSignature):
        verify_hs256(unsigned, "", leeway=0, now=NOW)


def test_tampered_claims_are_an_invalid_signature() -> None:
    header, _, signature = encode_hs256(CLAIMS, SECRET).split(".")
    tampered = f"{header}.{segment({**CLAIMS, 'iss': 'jira:evil'})}.{signature}"
    with pytest.raises(InvalidSignature):
        verify_hs256(tampered, SECRET, leeway=0, now=NOW)


def test_rs256_wrong_key_is_an_invalid_signature(atlassian_key: RsaKey, other_key: RsaKey) -> None:
    token = encode_rs256(CLAIMS, other_key.private_pem, kid="k")
    with pytest.raises(InvalidSignature) as caught:
        verify_rs256(token, atlassian_key.public_pem, leeway=0, now=NOW)
    assert_safe(caught.value, token, token.rsplit(".", 1)[1])


def test_rs256_with_an_unusable_key_is_a_value_error(atlassian_key: RsaKey) -> None:
    token = encode_rs256(CLAIMS, atlassian_key.private_pem, kid="k")
    for key in ("not a key", atlassian_key.private_pem):
        with pytest.raises(ValueError, match="public key"):
            verify_rs256(token, key, leeway=0, now=NOW)


def test_crit_headers_are_refused() -> None:
    token = jwt.encode(CLAIMS, SECRET, algorithm="HS256", headers={"crit": ["exp"]})
    with pytest.raises(MalformedToken, match="crit"):
        verify_hs256(token, SECRET, leeway=0, now=NOW)


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_exp_and_iat_are_required(claim: str) -> None:
    claims = {name: value for name, value in CLAIMS.items() if name != claim}
    with pytest.raises(MissingClaim, match=claim):
        verify_hs256(encode_hs256(claims, SECRET), SECRET, leeway=0, now=NOW)


@pytest.mark.parametrize(
    ("exp", "refusal"),
    [
        ('"1700000180"', MalformedToken),
        ("true", MalformedToken),
        ("[1]", MalformedToken),
        ("1e400", MalformedToken),
        ("NaN", MalformedToken),
        ("Infinity", MalformedToken),
        ("null", MissingClaim),
    ],
)
def test_exp_must_be_a_number(exp: str, refusal: type[Refusal]) -> None:
    claims = f'{{"iss": "jira:1", "iat": {NOW}, "exp": {exp}, "qsh": "q"}}'
    token = signed({"alg": "HS256"}, claims.encode())
    with pytest.raises(refusal):
        verify_hs256(token, SECRET, leeway=0, now=NOW)


@pytest.mark.parametrize(
    ("exp_offset", "leeway", "accepted"),
    [
        (180, 0, True),
        (1, 0, True),
        (0, 0, False),
        (-10, 0, False),
        (-10, 30, True),
        (-29, 30, True),
        (-30, 30, False),
        (-31, 30, False),
    ],
)
def test_expiry_with_leeway(exp_offset: int, leeway: int, accepted: bool) -> None:
    token = encode_hs256({**CLAIMS, "iat": NOW - 200, "exp": NOW + exp_offset}, SECRET)
    if accepted:
        verify_hs256(token, SECRET, leeway=leeway, now=NOW)
        return
    with pytest.raises(TokenExpired) as caught:
        verify_hs256(token, SECRET, leeway=leeway, now=NOW)
    assert caught.value.code == "token_expired"
    assert f"leeway {leeway} s" in caught.value.reason


@pytest.mark.parametrize(
    ("iat_offset", "leeway", "accepted"),
    [(0, 0, True), (1, 0, False), (30, 30, True), (31, 30, False), (-100, 0, True)],
)
def test_iat_in_the_future(iat_offset: int, leeway: int, accepted: bool) -> None:
    token = encode_hs256({**CLAIMS, "iat": NOW + iat_offset, "exp": NOW + 300}, SECRET)
    if accepted:
        verify_hs256(token, SECRET, leeway=leeway, now=NOW)
        return
    with pytest.raises(TokenNotYetValid) as caught:
        verify_hs256(token, SECRET, leeway=leeway, now=NOW)
    assert caught.value.code == "token_not_yet_valid"


def test_nbf_in_the_future() -> None:
    token = encode_hs256({**CLAIMS, "nbf": NOW + 60}, SECRET)
    with pytest.raises(TokenNotYetValid):
        verify_hs256(token, SECRET, leeway=30, now=NOW)
    verify_hs256(token, SECRET, leeway=60, now=NOW)


def test_signature_is_checked_before_the_claims() -> None:
    token = encode_hs256({"iss": "x"}, "another secret of a decent length, 32+")
    with pytest.raises(InvalidSignature):
        verify_hs256(token, SECRET, leeway=0, now=NOW)


def test_real_clock_is_the_default() -> None:
    token = encode_hs256(CLAIMS, SECRET)
    with pytest.raises(TokenExpired):
        verify_hs256(token, SECRET, leeway=0)


@pytest.mark.parametrize(
    "claims",
    [
        {**CLAIMS, "exp": NOW - 100},
        {**CLAIMS, "iat": NOW + 100},
        {**CLAIMS, "nbf": NOW + 100},
        {"iss": "jira:1234", "iat": NOW},
        {"iss": "jira:1234", "exp": NOW + 10},
        {**CLAIMS, "exp": "soon"},
    ],
)
@pytest.mark.parametrize("secret", [SECRET, SECRET + "-other"])
def test_no_reason_contains_the_token_or_the_secret(claims: dict[str, Any], secret: str) -> None:
    token = encode_hs256(claims, SECRET)
    with pytest.raises(Refusal) as caught:
        verify_hs256(token, secret, leeway=0, now=NOW)
    assert_safe(caught.value, token, SECRET, secret, *token.split("."))


HOUR = 3_600
TEN_YEARS = 3_653 * 86_400


@pytest.mark.parametrize(
    ("iat_offset", "exp_offset", "leeway", "accepted"),
    [
        (0, HOUR, 0, True),
        (0, HOUR + 1, 0, False),
        (0, HOUR + 30, 30, True),
        (0, HOUR + 31, 30, False),
        (-600, HOUR - 600, 0, True),
        (-600, HOUR - 599, 0, False),
        (0, 10 * 86_400, 30, False),
    ],
)
def test_exp_at_most_an_hour_after_iat(
    iat_offset: int, exp_offset: int, leeway: int, accepted: bool
) -> None:
    token = encode_hs256({**CLAIMS, "iat": NOW + iat_offset, "exp": NOW + exp_offset}, SECRET)
    if accepted:
        verify_hs256(token, SECRET, leeway=leeway, now=NOW)
        return
    with pytest.raises(TokenLifetimeTooLong) as caught:
        verify_hs256(token, SECRET, leeway=leeway, now=NOW)
    assert caught.value.code == "token_lifetime_too_long"
    assert caught.value.status == 401
    assert f"leeway {leeway} s" in caught.value.reason


def test_exp_at_most_an_hour_after_now() -> None:
    """An iat in the future (within the leeway) does not stretch how long a token lives."""
    token = encode_hs256({**CLAIMS, "iat": NOW + 30, "exp": NOW + 30 + HOUR}, SECRET)
    verify_hs256(token, SECRET, leeway=30, now=NOW)
    stretched = encode_hs256({**CLAIMS, "iat": NOW + 30, "exp": NOW + 60 + HOUR}, SECRET)
    with pytest.raises(TokenLifetimeTooLong, match="from now"):
        verify_hs256(stretched, SECRET, leeway=30, now=NOW)


@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
@pytest.mark.parametrize(
    "value",
    ["1e308", "-1e300", str(NOW + TEN_YEARS + 1), str(NOW - TEN_YEARS - 1), str(2**70), "-1"],
)
def test_time_claims_within_ten_years_of_now(claim: str, value: str) -> None:
    times = {"iat": str(NOW), "exp": str(NOW + 180), "nbf": str(NOW)}
    times[claim] = value
    claims = ", ".join(f'"{name}": {text}' for name, text in times.items())
    token = signed({"alg": "HS256"}, f'{{"iss": "jira:1", "qsh": "q", {claims}}}'.encode())
    with pytest.raises(TimeClaimOutOfRange) as caught:
        verify_hs256(token, SECRET, leeway=30, now=NOW)
    assert caught.value.code == "time_claim_out_of_range"
    assert caught.value.status == 401
    assert claim in caught.value.reason


def test_time_claims_at_the_edge_of_ten_years_are_checked_as_times() -> None:
    old = encode_hs256({**CLAIMS, "iat": NOW - TEN_YEARS, "exp": NOW - TEN_YEARS + 180}, SECRET)
    with pytest.raises(TokenExpired):
        verify_hs256(old, SECRET, leeway=30, now=NOW)
    late = encode_hs256({**CLAIMS, "nbf": NOW + TEN_YEARS}, SECRET)
    with pytest.raises(TokenNotYetValid):
        verify_hs256(late, SECRET, leeway=30, now=NOW)


def test_fractional_times_are_floored() -> None:
    token = encode_hs256({**CLAIMS, "iat": NOW + 0.9, "exp": NOW + HOUR + 0.9}, SECRET)
    assert verify_hs256(token, SECRET, leeway=0, now=NOW)["iat"] == NOW + 0.9
    expired = encode_hs256({**CLAIMS, "iat": NOW - 10.5, "exp": NOW + 0.9}, SECRET)
    with pytest.raises(TokenExpired):
        verify_hs256(expired, SECRET, leeway=0, now=NOW)


def test_time_bounds_apply_to_install_tokens() -> None:
    key = make_rsa_key()
    far = {**CLAIMS, "exp": 1e308}
    with pytest.raises(TimeClaimOutOfRange):
        verify_rs256(encode_rs256(far, key.private_pem, "k"), key.public_pem, leeway=30, now=NOW)
    long = {**CLAIMS, "exp": NOW + 2 * HOUR}
    with pytest.raises(TokenLifetimeTooLong):
        verify_rs256(encode_rs256(long, key.private_pem, "k"), key.public_pem, leeway=30, now=NOW)
