"""The fake Atlassian's JQL: the subset dynamic webhooks accept, and the little search needs.

Webhook filters (Jira REST API v3, WebhookDetails.jqlFilter): "Only a subset of JQL can be used.
The supported elements are: Fields: issueKey, project, issuetype, status, assignee, reporter,
issue.property, and cf[id] ... Operators: =, !=, IN, and NOT IN."
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

__all__ = ["matches_search", "webhook_filter_errors"]

_FIELD = r"(?:issueKey|project|issuetype|status|assignee|reporter|issue\.property\[[^\]]+\]\S*|cf\[\d+\])"
_VALUE = r'(?:"[^"]*"|[\w.@-]+)'
_LIST = rf"\(\s*{_VALUE}(?:\s*,\s*{_VALUE})*\s*\)"
_CLAUSE = re.compile(
    r"^\s*(?P<field>[^\s=!<>~(]+)\s*"
    r"(?P<op>!=|=|NOT\s+IN\b|IN\b|IS\s+NOT\b|IS\b|[<>]=?|!~|~|\w+)\s*"
    rf"(?P<value>{_LIST}|{_VALUE})?\s*",
    re.IGNORECASE,
)
_JOIN = re.compile(r"^\s*(AND|OR)\b\s*", re.IGNORECASE)


def webhook_filter_errors(jql: str) -> list[str]:
    """Jira's refusals of a webhook's `jqlFilter`, in its words; empty if accepted."""
    rest = jql.strip()
    if not rest:
        return ["The JQL filter is required"]
    while rest:
        match = _CLAUSE.match(rest)
        if match is None or match.group("value") is None:
            return [f"The JQL query '{jql}' is invalid"]
        field, op = match.group("field"), " ".join(match.group("op").upper().split())
        if not re.fullmatch(_FIELD, field, re.IGNORECASE):
            return [f"The clause {field} is unsupported"]
        if op not in ("=", "!=", "IN", "NOT IN"):
            return [f"The operator {op} is unsupported"]
        rest = rest[match.end() :]
        if rest:
            join = _JOIN.match(rest)
            if join is None:
                return [f"The JQL query '{jql}' is invalid"]
            rest = rest[join.end() :]
    return []


_PROJECTS = re.compile(r"project\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
_UPDATED = re.compile(r'updated\s*>=\s*"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"', re.IGNORECASE)


def matches_search(
    jql: str, issue: Mapping[str, Any], *, updated_at: float, zone: tzinfo = UTC
) -> bool:
    """The searches the server makes: `project IN (...)` and `updated >= "yyyy-MM-dd HH:mm"`
    (minute precision, read in the calling user's time zone `zone`, as Jira reads it)."""
    projects = _PROJECTS.search(jql)
    if projects is not None:
        keys = {part.strip().strip('"') for part in projects.group(1).split(",")}
        if issue["fields"]["project"]["key"] not in keys:
            return False
    updated = _UPDATED.search(jql)
    if updated is not None:
        since = datetime.strptime(updated.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=zone)
        if updated_at < since.timestamp():
            return False
    return True


def project_keys_of(jql: str) -> Sequence[str]:
    projects = _PROJECTS.search(jql)
    if projects is None:
        return ()
    return tuple(part.strip().strip('"') for part in projects.group(1).split(","))
