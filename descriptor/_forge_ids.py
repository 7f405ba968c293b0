"""Forge's ids of an app and of an installation (ARIs), from the ARI or its bare UUID."""

from __future__ import annotations

import uuid

__all__ = [
    "APP_ARI_PREFIX",
    "INSTALLATION_ARI_PREFIX",
    "forge_app_id",
    "forge_installation_id",
]

APP_ARI_PREFIX = "ari:cloud:ecosystem::app/"
INSTALLATION_ARI_PREFIX = "ari:cloud:ecosystem::installation/"


def forge_app_id(value: str) -> str:
    """The app's ARI from what `forge register` gives: the ARI itself, or its bare UUID.

    Raises ValueError saying what the value should look like.
    """
    return _ari(APP_ARI_PREFIX, value, "a Forge app id", "as `forge register` prints it")


def forge_installation_id(value: str) -> str:
    """A Forge installation's ARI, from the ARI (as in a Connect-on-Forge `installed` payload,
    "Retrieving the Connect clientKey in Forge") or its bare UUID (as in Forge lifecycle events).

    Raises ValueError saying what the value should look like.
    """
    return _ari(INSTALLATION_ARI_PREFIX, value, "a Forge installation id", "")


def _ari(prefix: str, value: str, what: str, where: str) -> str:
    text = value.strip()
    bare = text.removeprefix(prefix)
    try:
        parsed = uuid.UUID(bare)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != bare.lower():
        shown = value if len(value) <= 100 else value[:100] + "..."
        raise ValueError(
            f"{shown!r} is not {what}: expected {prefix}<uuid> or the bare <uuid>"
            + (f", {where}" if where else "")
        )
    return prefix + str(parsed)
