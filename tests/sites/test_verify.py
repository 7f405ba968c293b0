"""A site delivery's bearer token: HS256 with the client secret, or a refusal that says why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from addon.errors import Refusal
from addon.simulator import delivery_token
from addon.sites import (
    ConnectToken,
    DeliveryRefused,
    ExpiredToken,
    FutureToken,
    MalformedToken,
    MissingToken,
    WrongAlgorithm,
    WrongSignature,
    verify_delivery_token,
)

SECRET = "client-secret-" + "x" * 60
NOW = 1_800_000_000.0


def verify(authorization: str | None) -> Mapping[str, Any]:
    return verify_delivery_token(authorization, secret=SECRET, now=NOW, leeway=30)


def bearer(claims: Mapping[str, Any], key: Any = SECRET, algorithm: str = "HS256") -> str:
    return "Bearer " + jwt.encode(dict(claims), key, algorithm=algorithm)


def test_the_simulators_token_is_accepted() -> None:
    claims = verify("Bearer " + delivery_token(SECRET, now=NOW))
    assert claims["iat"] == NOW and claims["exp"] > NOW
    assert verify(bearer({})) == {}  # Atlassian documents no claims: none is required


@pytest.mark.parametrize(
    ("authorization", "refusal"),
    [
        (None, MissingToken),
        ("Basic dXNlcjpwYXNz", MissingToken),
        ("Bearer ", MissingToken),
        ("Bearer not-a-jwt", MalformedToken),
        (bearer({"iat": NOW}, key="another-secret-" + "y" * 30), WrongSignature),
        (bearer({"exp": NOW - 31}), ExpiredToken),
        (bearer({"iat": NOW + 31}), FutureToken),
        (bearer({"exp": "soon"}), MalformedToken),
        (bearer({"iss": "client-key", "qsh": "abc", "iat": NOW}), ConnectToken),
        (bearer({"iat": NOW}, algorithm="HS512"), WrongAlgorithm),
        ("Bearer " + jwt.encode({"iat": NOW}, None, algorithm="none"), WrongAlgorithm),
    ],
)
def test_each_refusal_has_its_class(authorization: str | None, refusal: type[Refusal]) -> None:
    with pytest.raises(refusal) as refused:
        verify(authorization)
    assert isinstance(refused.value, DeliveryRefused)
    assert refused.value.status == 401 and refused.value.reason
    assert SECRET not in refused.value.reason


def test_within_the_leeway_is_accepted() -> None:
    assert verify(bearer({"exp": NOW - 29, "iat": NOW + 29}))


def test_an_rs256_token_is_refused_before_any_key_is_tried() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(WrongAlgorithm):
        verify(bearer({"iat": NOW}, key=key, algorithm="RS256"))
