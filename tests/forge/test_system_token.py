"""The app's system token from `x-forge-oauth-system`: its expiry, and what is refused."""

from __future__ import annotations

import jwt
import pytest

from addon.forge import MalformedSystemToken, read_system_token

NOW = 1_800_000_000.0


def test_no_header_is_no_token() -> None:
    assert read_system_token(None, now=NOW) is None


def test_a_jwt_token_expires_at_its_exp() -> None:
    value = jwt.encode({"exp": int(NOW) + 3600, "sub": "app"}, "k" * 32, algorithm="HS256")
    token = read_system_token(value, now=NOW)
    assert token is not None
    assert token.value == value
    assert token.expires_at == NOW + 3600


def test_an_opaque_token_expires_after_55_minutes() -> None:
    token = read_system_token("opaque-token-value", now=NOW)
    assert token is not None
    assert token.expires_at == NOW + 55 * 60


def test_a_jwt_without_a_numeric_exp_is_treated_as_opaque() -> None:
    value = jwt.encode({"exp": "tomorrow"}, "k" * 32, algorithm="HS256")
    token = read_system_token(value, now=NOW)
    assert token is not None and token.expires_at == NOW + 55 * 60


def test_a_bearer_prefix_is_dropped() -> None:
    token = read_system_token("Bearer abc.def", now=NOW)
    assert token is not None and token.value == "abc.def"


def test_the_token_never_appears_in_its_repr() -> None:
    token = read_system_token("secret-system-token", now=NOW)
    assert "secret-system-token" not in repr(token)


@pytest.mark.parametrize("header", ["", "  ", "Bearer ", "a b", "x" * 20000, "tök"])
def test_a_header_that_is_no_token_is_refused(header: str) -> None:
    with pytest.raises(MalformedSystemToken) as caught:
        read_system_token(header, now=NOW)
    assert caught.value.status == 400
    assert "x-forge-oauth-system" in caught.value.reason
