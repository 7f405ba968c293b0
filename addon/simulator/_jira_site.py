"""The fake Jira's sites for the sync: workflows with statuses in categories, priorities, issues,
and the webhook bodies Jira sends for their changes (see `_jira_work` for the sources)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APP_ACCOUNT",
    "DEFAULT_PRIORITIES",
    "WorkSite",
    "Workflow",
    "as_text",
    "changelog_item",
    "plain_text",
    "webhook_body",
]

CATEGORIES = {
    "undefined": (1, "medium-gray"),
    "new": (2, "blue-gray"),
    "done": (3, "green"),
    "indeterminate": (4, "yellow"),
}
CATEGORY_NAMES = {
    "en": {
        "undefined": "No Category",
        "new": "To Do",
        "indeterminate": "In Progress",
        "done": "Done",
    },
    "de": {
        "undefined": "Keine Kategorie",
        "new": "Zu erledigen",
        "indeterminate": "In Arbeit",
        "done": "Fertig",
    },
}
DEFAULT_PRIORITIES = (
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
)
APP_ACCOUNT = "557058:app-sync-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class Workflow:
    """Statuses `(id, name, category key)`, the initial status, and transitions
    `(id, name, from status id or None for any, to status id)`."""

    statuses: tuple[tuple[str, str, str], ...]
    initial: str
    transitions: tuple[tuple[str, str, str | None, str], ...]

    @classmethod
    def default(cls, language: str = "en") -> Workflow:
        """To Do, In Progress, In Review, Done: reaching Done from To Do takes three steps."""
        names = {
            "en": ("To Do", "In Progress", "In Review", "Done", "Parked"),
            "de": ("Offen", "In Arbeit", "In Prüfung", "Erledigt", "Geparkt"),
        }[language]
        return cls(
            statuses=(
                ("10000", names[0], "new"),
                ("10001", names[1], "indeterminate"),
                ("10002", names[2], "indeterminate"),
                ("10003", names[3], "done"),
                ("10004", names[4], "undefined"),
            ),
            initial="10000",
            transitions=(
                ("11", "Start", "10000", "10001"),
                ("21", "Review", "10001", "10002"),
                ("31", "Finish", "10002", "10003"),
                ("41", "Reopen", None, "10000"),
                ("51", "Park", None, "10004"),
            ),
        )


@dataclass(slots=True)
class WorkSite:
    cloud_id: str
    url: str
    language: str
    workflow: Workflow
    priorities: list[tuple[str, str]]
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    visible_at: dict[str, float] = field(default_factory=dict)
    properties: dict[tuple[str, str], Any] = field(default_factory=dict)
    search_lag: float = 0.0

    def status(self, status_id: str) -> dict[str, Any]:
        for sid, name, category in self.workflow.statuses:
            if sid == status_id:
                number, colour = CATEGORIES[category]
                return {
                    "self": f"{self.url}/rest/api/3/status/{sid}",
                    "id": sid,
                    "name": name,
                    "statusCategory": {
                        "self": f"{self.url}/rest/api/3/statuscategory/{number}",
                        "id": number,
                        "key": category,
                        "colorName": colour,
                        "name": CATEGORY_NAMES[self.language][category],
                    },
                }
        raise KeyError(status_id)

    def find(self, id_or_key: str) -> dict[str, Any] | None:
        issue = self.issues.get(id_or_key)
        if issue is None:
            issue = next((i for i in self.issues.values() if i["key"] == id_or_key), None)
        return issue

    def priority(self, priority_id: str) -> dict[str, Any] | None:
        for pid, name in self.priorities:
            if pid == priority_id:
                return {"self": f"{self.url}/rest/api/3/priority/{pid}", "id": pid, "name": name}
        return None

    def available(self, issue: dict[str, Any]) -> list[tuple[str, str, str]]:
        current = issue["fields"]["status"]["id"]
        return [
            (tid, name, to)
            for tid, name, source, to in self.workflow.transitions
            if (source is None or source == current) and to != current
        ]

    def transition_to(self, issue: dict[str, Any], to: str) -> str | None:
        return next((tid for tid, _, target in self.available(issue) if target == to), None)


def changelog_item(
    name: str,
    before: str | None,
    before_text: str | None,
    after: str | None,
    after_text: str | None,
) -> dict[str, Any]:
    return {
        "field": name,
        "fieldtype": "jira",
        "fieldId": name,
        "from": before,
        "fromString": before_text,
        "to": after,
        "toString": after_text,
    }


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def plain_text(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                texts.append(str(node.get("text", "")))
            for child in node.get("content") or ():
                walk(child)

    walk(document)
    return "".join(texts)


def webhook_body(
    site: WorkSite,
    event: str,
    issue: dict[str, Any],
    account: str,
    *,
    now: float,
    changelog: dict[str, Any] | None,
) -> dict[str, Any]:
    """The body Jira sends for a change of `issue` made by `account`."""
    body: dict[str, Any] = {
        "timestamp": int(now * 1000),
        "webhookEvent": event,
        "issue_event_type_name": "issue_created" if changelog is None else "issue_generic",
        "user": {
            "self": f"{site.url}/rest/api/2/user?accountId={account}",
            "accountId": account,
            "accountType": "app" if account == APP_ACCOUNT else "atlassian",
            "displayName": "Sync app" if account == APP_ACCOUNT else "A person",
            "active": True,
        },
        "issue": json.loads(json.dumps(issue)),
    }
    if changelog is not None:
        body["changelog"] = changelog
    return body
