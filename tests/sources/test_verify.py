"""Verifying an admin webhook's credential: WebSub signatures, header tokens and Bearer."""

from __future__ import annotations

import hashlib

import pytest

from addon.errors import Unauthorized
from addon.sources._errors import (
    MalformedAuthorization,
    MalformedSignature,
    MissingSignature,
    MissingToken,
    SignatureMismatch,
    TokenMismatch,
    UnsupportedSignatureMethod,
)
from addon.sources._verify import (
    hash_token,
    parse_bearer,
    parse_signature,
    signature_for,
    verify_signature,
    verify_token,
)

# Atlassian's published example for admin webhooks with a secret.
ATLASSIAN_SECRET = "It's a Secret to Everybody"
ATLASSIAN_BODY = b"Hello World!"
ATLASSIAN_SIGNATURE = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"

TOKEN = "k3Yt0ken-for-the-data-center-site-0123456789"


def test_atlassian_published_example() -> None:
    assert signature_for(ATLASSIAN_BODY, ATLASSIAN_SECRET) == ATLASSIAN_SIGNATURE
    verify_signature(ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, ATLASSIAN_SECRET)


def test_signature_method_is_case_insensitive_and_hex_too() -> None:
    verify_signature(ATLASSIAN_BODY, ATLASSIAN_SIGNATURE.upper(), ATLASSIAN_SECRET)
    verify_signature(ATLASSIAN_BODY, f"  {ATLASSIAN_SIGNATURE} ", ATLASSIAN_SECRET)


def test_signature_over_different_bytes_refused() -> None:
    for body in (b"Hello World", b"Hello World!\n", b"hello World!", b""):
        with pytest.raises(SignatureMismatch) as caught:
            verify_signature(body, ATLASSIAN_SIGNATURE, ATLASSIAN_SECRET)
        assert caught.value.status == 401
        assert caught.value.code == "signature_mismatch"


def test_wrong_secret_refused() -> None:
    with pytest.raises(SignatureMismatch) as caught:
        verify_signature(ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, "It's a secret to everybody")
    assert ATLASSIAN_SECRET not in caught.value.reason
    assert ATLASSIAN_SIGNATURE.split("=")[1] not in caught.value.reason


def test_any_of_several_secrets_accepted() -> None:
    verify_signature(
        ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, ["new-secret-0123456789", ATLASSIAN_SECRET]
    )
    with pytest.raises(SignatureMismatch):
        verify_signature(ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, ["a" * 20, "b" * 20])
    with pytest.raises(SignatureMismatch):
        verify_signature(ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, [])


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_signature_refused(header: str | None) -> None:
    with pytest.raises(MissingSignature) as caught:
        verify_signature(ATLASSIAN_BODY, header, ATLASSIAN_SECRET)
    assert caught.value.code == "missing_signature"
    assert "X-Hub-Signature" in caught.value.reason


@pytest.mark.parametrize(
    "header",
    [
        "sha1=" + hashlib.sha1(b"x").hexdigest(),
        "SHA512=" + "ab" * 64,
        "md5=" + "0" * 32,
        "sha384=" + "0" * 96,
    ],
)
def test_unsupported_method_refused_naming_sha256(header: str) -> None:
    with pytest.raises(UnsupportedSignatureMethod) as caught:
        verify_signature(ATLASSIAN_BODY, header, ATLASSIAN_SECRET)
    assert caught.value.code == "unsupported_signature_method"
    assert "sha256" in caught.value.reason
    assert header.split("=")[0] in caught.value.reason


@pytest.mark.parametrize(
    "header",
    [
        "a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9",
        "sha256 a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9",
        "sha256=",
        "sha256=a4771c39",
        "sha256=" + "g" * 64,
        "sha256=" + "a" * 65,
        "=abc",
        "sha 256=" + "0" * 64,
        "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9,sha256=00",
    ],
)
def test_malformed_signature_refused(header: str) -> None:
    with pytest.raises(MalformedSignature) as caught:
        verify_signature(ATLASSIAN_BODY, header, ATLASSIAN_SECRET)
    assert caught.value.code == "malformed_signature"


def test_parse_signature_returns_lower_hex() -> None:
    assert parse_signature("SHA256=" + "AB" * 32) == "ab" * 32


def test_every_refusal_is_a_401() -> None:
    for kind in (
        MissingSignature,
        UnsupportedSignatureMethod,
        MalformedSignature,
        SignatureMismatch,
        MissingToken,
        MalformedAuthorization,
        TokenMismatch,
    ):
        assert issubclass(kind, Unauthorized)
        assert kind("x").status == 401
    codes = {
        k.code for k in (MissingSignature, MalformedSignature, SignatureMismatch, TokenMismatch)
    }
    assert len(codes) == 4


def test_hash_token_is_sha256_of_the_secret() -> None:
    assert hash_token(TOKEN) == "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()
    assert TOKEN not in hash_token(TOKEN)


def test_token_accepted_and_refused() -> None:
    stored = hash_token(TOKEN)
    verify_token(TOKEN, stored)
    verify_token(f" {TOKEN} ", stored)
    verify_token(TOKEN, [hash_token("another-token-0123456789"), stored])
    with pytest.raises(TokenMismatch) as caught:
        verify_token(TOKEN + "x", stored, where="the X-Webhook-Token header")
    assert caught.value.code == "token_mismatch"
    assert TOKEN not in caught.value.reason
    assert "X-Webhook-Token" in caught.value.reason
    with pytest.raises(TokenMismatch):
        verify_token(stored, stored)


@pytest.mark.parametrize("presented", [None, "", "  "])
def test_missing_token_refused(presented: str | None) -> None:
    with pytest.raises(MissingToken) as caught:
        verify_token(presented, hash_token(TOKEN), where="the X-Webhook-Token header")
    assert caught.value.code == "missing_token"
    assert "X-Webhook-Token" in caught.value.reason


def test_bearer_parsing() -> None:
    assert parse_bearer(f"Bearer {TOKEN}") == TOKEN
    assert parse_bearer(f"bearer   {TOKEN} ") == TOKEN
    with pytest.raises(MissingToken):
        parse_bearer(None)
    with pytest.raises(MissingToken):
        parse_bearer(" ")
    for value in (f"JWT {TOKEN}", f"Basic {TOKEN}", TOKEN, "Bearer", "Bearer  "):
        with pytest.raises(MalformedAuthorization) as caught:
            parse_bearer(value)
        assert caught.value.code == "malformed_authorization"
        assert TOKEN[:8] not in caught.value.reason
    with pytest.raises(MalformedAuthorization, match="'JWT'"):
        parse_bearer(f"JWT {TOKEN}")


def test_the_secret_that_matched_is_named_by_its_position() -> None:
    old = "the-previous-secret-0123456789"
    assert verify_signature(ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, [ATLASSIAN_SECRET, old]) == 0
    assert verify_signature(ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, [old, ATLASSIAN_SECRET]) == 1
    assert verify_token(TOKEN, [hash_token(TOKEN), hash_token(old)]) == 0
    assert verify_token(TOKEN, [hash_token(old), hash_token(TOKEN)]) == 1
