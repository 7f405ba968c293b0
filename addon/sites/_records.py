"""The plain values of the OAuth door: a connected site, its tokens and webhooks, Atlassian's answers."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DAY",
    "REFRESH_TOKEN_LIFETIME",
    "REFRESH_TOKEN_WARNING",
    "Project",
    "RegistrationResult",
    "Resource",
    "SearchPage",
    "Site",
    "SiteStatus",
    "SiteWebhook",
    "TokenGrant",
]

DAY = 24 * 3600.0
# Rotating refresh tokens: "All tokens have an absolute expiry time of 365 days ... the absolute
# expiry time persists between token refreshes" (Atlassian, "Updated: 31 January 2022 - Action
# required - Deprecating persistent refresh tokens", community.developer.atlassian.com/t/54172);
# confirmed by Atlassian in community.developer.atlassian.com/t/60806: "Inactivity Expiration (90
# days)" is reset by every refresh, "Absolute Expiration (365 days)" is not. The token job refreshes
# at least hourly (access tokens last an hour), so the end of life shown is the absolute one.
REFRESH_TOKEN_LIFETIME = 365 * DAY
REFRESH_TOKEN_WARNING = 30 * DAY


class SiteStatus(enum.StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs reconnect"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What the token endpoint answered; `refresh_token` is None without `offline_access`."""

    access_token: str = field(repr=False)
    expires_in: float
    refresh_token: str | None = field(repr=False)
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resource:
    """One site a grant covers (`/oauth/token/accessible-resources`)."""

    cloud_id: str
    url: str
    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """One entry of `webhookRegistrationResult`: an id, or Jira's errors for that entry."""

    webhook_id: int | None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteWebhook:
    """A dynamic webhook registered for a site; `expires_at` is None until Jira states it."""

    webhook_id: int
    events: tuple[str, ...]
    jql: str
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class SearchPage:
    issues: tuple[Mapping[str, Any], ...]
    next_page_token: str | None


@dataclass(frozen=True, slots=True)
class Site:
    """A connected site; tokens decrypted. `projects` is None when every project is covered."""

    cloud_id: str
    url: str
    name: str
    status: SiteStatus
    status_reason: str | None
    scopes: tuple[str, ...]
    projects: tuple[str, ...] | None
    access_token: str = field(repr=False)
    access_expires_at: float
    refresh_token: str | None = field(repr=False)
    refresh_expires_at: float | None
    connected_at: float
    updated_at: float
    last_delivery_at: float | None
    webhook_errors: tuple[str, ...] = ()

    def refresh_token_warning(self, now: float) -> bool:
        """True within a month of the refresh token's end of life: only a new consent renews it."""
        if self.refresh_expires_at is None:
            return False
        return self.refresh_expires_at - now < REFRESH_TOKEN_WARNING
