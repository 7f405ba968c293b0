"""Secrets at rest: AES-256-GCM with the owner's id as associated data, and key rotation."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["PREFIX", "DecryptionError", "SecretBox", "generate_key"]

PREFIX = "enc:v1:"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def generate_key() -> str:
    """A new 32-byte key in the format ADDON_ENCRYPTION_KEY takes (URL-safe base64)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"addon-key-id:" + key).hexdigest()[:8]


class SecretBox:
    """Encrypts with the first key; decrypts with whichever key id the value names.

    Stored form: ``enc:v1:<key id>:<base64 nonce + ciphertext>``. The owner (a tenant's clientKey,
    a source's key) is bound as associated data, so a value copied to another row does not decrypt.
    With no keys, values are stored as given (plaintext), which the README warns against.
    """

    def __init__(self, keys: tuple[bytes, ...] = ()) -> None:
        self._keys = {_key_id(key): AESGCM(key) for key in keys}
        self._primary = _key_id(keys[0]) if keys else None

    @property
    def enabled(self) -> bool:
        return self._primary is not None

    def encrypt(self, plaintext: str, owner: str) -> str:
        if self._primary is None:
            return plaintext
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._primary].encrypt(nonce, plaintext.encode(), owner.encode())
        return f"{PREFIX}{self._primary}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, owner: str) -> str:
        if not is_encrypted(stored):
            return stored
        try:
            key_id, blob = stored[len(PREFIX) :].split(":", 1)
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            raise DecryptionError("the stored secret is not in the encrypted format") from None
        aead = self._keys.get(key_id)
        if aead is None:
            raise DecryptionError(
                f"the stored secret was encrypted with key {key_id}, which ADDON_ENCRYPTION_KEY "
                "does not contain"
            )
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], owner.encode()).decode()
        except InvalidTag:
            raise DecryptionError(
                f"the stored secret does not decrypt with key {key_id} for this owner"
            ) from None

    def needs_rewrite(self, stored: str) -> bool:
        """True if `stored` is plaintext while encryption is on, or under a key other than the first."""
        if self._primary is None:
            return False
        if not is_encrypted(stored):
            return True
        return not stored.startswith(f"{PREFIX}{self._primary}:")


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)
