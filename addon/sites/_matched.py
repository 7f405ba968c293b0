"""Which of a site's registrations a delivery says it matched (`matchedWebhookIds`).

A body naming no registration of that site is stored and flagged, never refused: refusing would
lose it (Jira may deliver for a registration this server replaced a moment ago).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["WebhookMatch", "match_registrations"]


@dataclass(frozen=True, slots=True)
class WebhookMatch:
    matched: tuple[int, ...]
    unknown: tuple[int, ...]

    @property
    def flagged(self) -> bool:
        """True when the body names no registration of the site (or names none at all)."""
        return not self.matched


def match_registrations(body: Mapping[str, Any], registered: Collection[int]) -> WebhookMatch:
    named = body.get("matchedWebhookIds")
    ids = [
        int(item)
        for item in (named if isinstance(named, list) else ())
        if isinstance(item, int | str) and not isinstance(item, bool) and str(item).isdigit()
    ]
    return WebhookMatch(
        tuple(i for i in ids if i in registered), tuple(i for i in ids if i not in registered)
    )
