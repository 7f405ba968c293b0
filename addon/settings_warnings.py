"""Settings that work but should change: said once, loudly, at start (and where they matter).

Warnings, not refusals: an upgrade must never stop a deployment that ran before it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import descriptor
from addon.settings import Settings

__all__ = ["encryption_warning", "name_warning", "settings_warnings"]


def encryption_warning(settings: Settings) -> str | None:
    """Said when an https deployment (a real one) keeps secrets in plaintext."""
    if settings.encryption_keys or urlsplit(settings.base_url).scheme != "https":
        return None
    return (
        "ADDON_ENCRYPTION_KEY is not set: every tenant's shared secret and every source's secret "
        "is stored in plaintext although ADDON_BASE_URL is https; generate a key with "
        "`addon keys generate` and set it"
    )


def name_warning(settings: Settings) -> str | None:
    """Said when ADDON_NAME breaks Atlassian's naming rule (its security tester checks it)."""
    problem = descriptor.name_problem(settings.name)
    if problem is None:
        return None
    return (
        f"ADDON_NAME {settings.name!r} breaks Atlassian's naming rule ({descriptor.NAMING_RULE}): "
        f"{problem}; e.g. {Settings().name!r}"
    )


def settings_warnings(settings: Settings) -> list[str]:
    """Every warning the settings call for, one line each."""
    return [w for w in (encryption_warning(settings), name_warning(settings)) if w is not None]
