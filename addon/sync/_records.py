"""The sync's plain records: adapters, links, pushed changes and outbox entries."""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from addon.sync._errors import InvalidAdapter, InvalidItem
from addon.sync._maps import DEFAULT_PRIORITIES, DEFAULT_STATUSES, MAX_NAME, StatusTarget

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_ERROR",
    "MAX_ITEM_ID",
    "MAX_SUMMARY",
    "Adapter",
    "Change",
    "Link",
    "OutboxEntry",
    "OutboxState",
    "check_item_id",
    "new_adapter",
    "sync_label",
]

MAX_ITEM_ID = 200
MAX_SUMMARY = 255
"""Jira's limit for an issue summary."""
MAX_DESCRIPTION = 32_767
"""Jira's limit for a text field."""
MAX_ERROR = 1000


def sync_label(adapter: str, item_id: str) -> str:
    """The label that marks an item's issue at creation: `sync-` and 16 hex digits (labels take
    no spaces, and JQL `labels = sync-…` finds it on every door)."""
    digest = hashlib.sha256(f"{adapter}\0{item_id}".encode()).hexdigest()
    return f"sync-{digest[:16]}"


@dataclass(frozen=True, slots=True)
class Adapter:
    """One set of the user's items kept in step with one Jira project on one site."""

    name: str
    site: str
    project_key: str
    issue_type: str
    statuses: Mapping[str, StatusTarget]
    priorities: Mapping[str, str]
    created_at: float = 0.0


_ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,99}")
"""Jira's default rule for project keys: an uppercase letter, then uppercase letters, digits or
underscores (https://support.atlassian.com/jira-cloud-administration/docs/edit-a-projects-details/)."""


def new_adapter(
    name: str,
    *,
    site: str,
    project_key: str,
    issue_type: str = "Task",
    statuses: Mapping[str, StatusTarget] | None = None,
    priorities: Mapping[str, str] | None = None,
) -> Adapter:
    """An adapter from what a person typed, checked; the site is named by its URL."""
    if not _ADAPTER_NAME.fullmatch(name):
        raise InvalidAdapter(
            f"adapter name {name!r}: 1 to 64 letters, digits, '.', '_' or '-' (it appears in"
            " the URL /sync/NAME/items/ID)"
        )
    parts = urlsplit(site.strip())
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise InvalidAdapter(
            f"--site {site!r}: give the Jira site's URL, e.g. https://acme.atlassian.net"
        )
    if not _PROJECT_KEY.fullmatch(project_key):
        raise InvalidAdapter(
            f"--project {project_key!r}: a Jira project key is an uppercase letter followed by"
            " uppercase letters, digits or underscores, e.g. DEV"
        )
    if not issue_type.strip() or len(issue_type) > MAX_NAME:
        raise InvalidAdapter(f"--issue-type: 1 to {MAX_NAME} characters, e.g. Task")
    return Adapter(
        name=name,
        site=f"https://{parts.netloc}{parts.path.rstrip('/')}",
        project_key=project_key,
        issue_type=issue_type.strip(),
        statuses=dict(statuses if statuses is not None else DEFAULT_STATUSES),
        priorities=dict(priorities if priorities is not None else DEFAULT_PRIORITIES),
    )


@dataclass(frozen=True, slots=True)
class Change:
    """What a push asks for; None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    status: str | None = None
    priority: str | None = None

    def __post_init__(self) -> None:
        for name in ("title", "description", "status", "priority"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidItem(f"{name} must be text")
        if self.title is not None and not 0 < len(self.title) <= MAX_SUMMARY:
            raise InvalidItem(f"title must be 1 to {MAX_SUMMARY} characters (Jira's limit)")
        if self.description is not None and len(self.description) > MAX_DESCRIPTION:
            raise InvalidItem(f"description must be at most {MAX_DESCRIPTION} characters")
        for name in ("status", "priority"):
            value = getattr(self, name)
            if value is not None and len(value) > 100:
                raise InvalidItem(f"{name} must be at most 100 characters")

    def as_dict(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("title", self.title),
                ("description", self.description),
                ("status", self.status),
                ("priority", self.priority),
            )
            if v is not None
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        unknown = set(data) - {"title", "description", "status", "priority"}
        if unknown:
            raise InvalidItem(f"unknown fields: {', '.join(sorted(unknown))}")
        return cls(**data)


def check_item_id(item_id: str) -> str:
    if not isinstance(item_id, str) or not 0 < len(item_id) <= MAX_ITEM_ID:
        raise InvalidItem(f"an item id is 1 to {MAX_ITEM_ID} characters")
    if not item_id.isprintable():
        raise InvalidItem("an item id has no control characters")
    return item_id


@dataclass(frozen=True, slots=True)
class Link:
    """An item and its Jira issue; `issue_id` is None while a create's outcome is unknown."""

    adapter: str
    item_id: str
    site: str
    label: str
    issue_id: str | None = None
    issue_key: str | None = None
    browse_url: str | None = None
    pushed: Mapping[str, str] = field(default_factory=dict)
    local_status: str | None = None
    jira_status_id: str | None = None
    creating_since: float | None = None


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    adapter: str
    item_id: str
    change: Change
    state: OutboxState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    lease_owner: str | None
    lease_until: float | None
    created_at: float
