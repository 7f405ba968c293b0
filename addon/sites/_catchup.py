"""Catch-up: the issues changed while no webhook was delivering, found by search.

`updated >=` in JQL has minute precision, in the calling user's time zone, and search is
eventually consistent (Jira REST API v3, "Issue search": /rest/api/3/search/jql, `nextPageToken`
paging): so the query starts five minutes early, and what it finds is then filtered on the exact
`updated` time. Each change is identified by issue id and `updated`, so finding it again (the
overlap, a second pass a minute later) records it once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from addon.sites._api import AtlassianApi
from addon.sites._webhooks import project_filter

__all__ = [
    "CATCH_UP_EVENT",
    "CATCH_UP_FIELDS",
    "OVERLAP_SECONDS",
    "CaughtUpIssue",
    "catch_up",
    "catch_up_jql",
    "parse_updated",
]

CATCH_UP_EVENT = "catch-up:issue"
OVERLAP_SECONDS = 300.0
CATCH_UP_FIELDS = (
    "summary",
    "status",
    "issuetype",
    "project",
    "assignee",
    "reporter",
    "created",
    "updated",
)
MAX_PAGES = 1000


@dataclass(frozen=True, slots=True)
class CaughtUpIssue:
    """One issue change found by search; `identifier` is its duplicate-detection key."""

    issue_id: str
    key: str
    updated: str
    updated_at: float
    issue: Mapping[str, Any]

    @property
    def identifier(self) -> str:
        return f"catch-up:{self.issue_id}:{self.updated}"


def parse_updated(value: object) -> float | None:
    """Jira's `updated` (`2026-12-04T17:50:12.345+0000`) as epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def catch_up_jql(project_keys: Sequence[str], since: float, *, zone: tzinfo = UTC) -> str:
    """Issues of these projects updated since `since` less the overlap, oldest first."""
    start = datetime.fromtimestamp(since - OVERLAP_SECONDS, zone).strftime("%Y-%m-%d %H:%M")
    scope = f"{project_filter(project_keys)} AND " if project_keys else ""
    return f'{scope}updated >= "{start}" ORDER BY updated ASC'


async def catch_up(
    api: AtlassianApi,
    access_token: str,
    cloud_id: str,
    project_keys: Sequence[str],
    *,
    since: float,
    zone: tzinfo = UTC,
) -> list[CaughtUpIssue]:
    """Every issue change at or after `since`, each once, following `nextPageToken`."""
    jql = catch_up_jql(project_keys, since, zone=zone)
    found: dict[str, CaughtUpIssue] = {}
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = await api.search(
            access_token, cloud_id, jql, fields=CATCH_UP_FIELDS, next_page_token=token
        )
        for issue in page.issues:
            change = _change(issue)
            if change is not None and change.updated_at >= since:
                found.setdefault(change.identifier, change)
        token = page.next_page_token
        if token is None:
            break
    return sorted(found.values(), key=lambda change: (change.updated_at, change.issue_id))


def _change(issue: Mapping[str, Any]) -> CaughtUpIssue | None:
    fields = issue.get("fields")
    updated = fields.get("updated") if isinstance(fields, Mapping) else None
    updated_at = parse_updated(updated)
    if updated_at is None or not issue.get("id"):
        return None
    return CaughtUpIssue(
        str(issue["id"]), str(issue.get("key") or ""), str(updated), updated_at, issue
    )
