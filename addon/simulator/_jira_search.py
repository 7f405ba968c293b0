"""The fake Jira's issue search for the sync: by `labels = X`, or the catch-up's
`project IN (...) AND updated >= ...` in `updated` order; a new issue is found only after the
site's index lag (`WorkSite.search_lag`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from addon.simulator._jira_site import WorkSite
from addon.simulator._jql import matches_search, project_keys_of

__all__ = ["search_issues"]


def search_issues(
    site: WorkSite, jql: str, fields: Sequence[str], *, now: float
) -> list[dict[str, Any]] | None:
    """The issues `jql` finds now with the `fields` asked for; None if this fake cannot search so."""
    label = re.search(r'labels\s*=\s*"?([\w.-]+)"?', jql)
    if label is None and not project_keys_of(jql):
        return None
    return [
        {
            "id": issue["id"],
            "key": issue["key"],
            "self": issue["self"],
            "fields": {k: v for k, v in issue["fields"].items() if k in fields},
        }
        for issue_id, issue in sorted(site.issues.items(), key=None if label else _by_updated)
        if site.visible_at[issue_id] <= now
        and (
            label.group(1) in issue["fields"]["labels"]
            if label is not None
            else matches_search(jql, issue, updated_at=_updated_at(issue))
        )
    ]


def _updated_at(issue: Mapping[str, Any]) -> float:
    stamp = str(issue["fields"]["updated"]).replace("+0000", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def _by_updated(entry: tuple[str, dict[str, Any]]) -> tuple[float, str]:
    """The order of the catch-up's `ORDER BY updated ASC`."""
    return _updated_at(entry[1]), entry[0]
