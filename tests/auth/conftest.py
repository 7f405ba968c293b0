"""Fixtures of the auth tests: RSA key pairs (generated once per session)."""

from __future__ import annotations

import pytest

from tests.auth.keyserver import RsaKey, make_rsa_key


@pytest.fixture(scope="session")
def atlassian_key() -> RsaKey:
    """The key pair standing in for Atlassian's install signing key."""
    return make_rsa_key()


@pytest.fixture(scope="session")
def other_key() -> RsaKey:
    """A second, unrelated key pair (an attacker's)."""
    return make_rsa_key()
