"""Forge event bodies as Forge sends them to a remote, made from the built-in Connect examples.

Shapes follow Atlassian's "Jira events" page: `eventType`, `timestamp` (epoch milliseconds as a
string), the actor as `atlassianId`, the issue REST-shaped but slimmer (`id`, `key`,
`fields.{summary, issuetype, creator, created, project, reporter, assignee, updated, status}`,
users as `{accountId}`), `associatedUsers`, and `changelog` for an update. Other events keep the
entity of the Connect example (`worklog`, `sprint`, `project`, ...) under the same name.

The envelope is Atlassian's open question ("Sending Atlassian app and lifecycle events to a remote"
nests the event under `payload`; "Remote agents in Jira" sends it at the top level): `envelope`
chooses. A retry is the same body with a `retryContext` beside the event (`retryData`,
`retryCount`, `retryReason`).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import descriptor
from addon.simulator._errors import SimulatorError
from addon.simulator._payloads import EXAMPLE_SITE_URL, build_payload

__all__ = ["ENVELOPES", "forge_body", "forge_event", "lifecycle_event"]

ENVELOPES = ("top", "payload")
RETRY_REASON = "TIMEOUT_ERROR"

_ISSUE_FIELDS = (
    "summary",
    "issuetype",
    "creator",
    "created",
    "project",
    "reporter",
    "assignee",
    "updated",
    "status",
)
_USER_FIELDS = ("creator", "reporter", "assignee")
_CONNECT_ONLY = ("webhookEvent", "user", "timestamp", "issue_event_type_name", "matchedWebhookIds")


def forge_event(
    event: str, *, site_url: str = EXAMPLE_SITE_URL, now: float | None = None
) -> dict[str, Any]:
    """A realistic body for the Forge product event `event` (e.g. avi:jira:updated:issue)."""
    known = descriptor.product_event(event)
    if known is None:
        names = ", ".join(e.name for e in descriptor.product_events()[:6])
        raise SimulatorError(
            f"{event!r} is not a Forge product event the simulator knows (e.g. {names}, ...)"
        )
    connect = known.equivalent or known.covers[0]
    example = build_payload(connect, site_url=site_url).payload
    stamp = int((time.time() if now is None else now) * 1000)
    actor = _account_id(example.get("user"))
    body: dict[str, Any] = {"eventType": event, "timestamp": str(stamp)}
    for name, value in example.items():
        if name not in _CONNECT_ONLY:
            body[name] = copy.deepcopy(value)
    if isinstance(example.get("issue"), dict):
        body["issue"] = _forge_issue(example["issue"])
    if known.resource == "user":
        body["user"] = copy.deepcopy(example.get("user"))
    elif actor is not None:
        body["atlassianId"] = actor
        if known.resource in ("issue", "comment"):
            body["associatedUsers"] = [{"accountId": actor}]
    if event == "avi:jira:updated:issue" and isinstance(example.get("changelog"), dict):
        body["changelog"] = {
            "id": example["changelog"].get("id"),
            "items": copy.deepcopy(example["changelog"].get("items", [])),
        }
    return body


def lifecycle_event(
    event: str, *, installation_id: str, app_id: str, cloud_id: str, account_id: str
) -> dict[str, Any]:
    """`avi:forge:installed:app` or `avi:forge:upgraded:app` as delivered to a remote ("Life cycle
    events"; "Remote agents in Jira" shows the `context` site ARI): ids are bare UUIDs here."""
    installer = "installerAccountId" if event.endswith(":installed:app") else "upgraderAccountId"
    return {
        "eventType": event,
        "id": installation_id.rsplit("/", 1)[-1],
        installer: account_id,
        "app": {"id": app_id.rsplit("/", 1)[-1], "version": "1.0.0", "name": "Event Inbox"},
        "environment": {"id": cloud_id},
        "context": f"ari:cloud:jira::site/{cloud_id}",
    }


def forge_body(event: dict[str, Any], *, envelope: str = "top", retry: int = 0) -> dict[str, Any]:
    """The HTTP body: the event at the top level or under `payload`, with a `retryContext` beside
    it on a retry."""
    if envelope not in ENVELOPES:
        raise SimulatorError(f"--envelope {envelope!r}: expected one of {', '.join(ENVELOPES)}")
    inner = copy.deepcopy(event)
    if retry:
        inner["retryContext"] = {
            "retryData": None,
            "retryCount": retry,
            "retryReason": RETRY_REASON,
        }
    return inner if envelope == "top" else {"payload": inner}


def _forge_issue(issue: dict[str, Any]) -> dict[str, Any]:
    found = issue.get("fields")
    fields: dict[str, Any] = found if isinstance(found, dict) else {}
    slim: dict[str, Any] = {}
    for name in _ISSUE_FIELDS:
        if name not in fields:
            continue
        value = copy.deepcopy(fields[name])
        if name in _USER_FIELDS and isinstance(value, dict):
            value = {"accountId": value.get("accountId")}
        slim[name] = value
    return {"id": issue.get("id"), "key": issue.get("key"), "fields": slim}


def _account_id(user: object) -> str | None:
    if isinstance(user, dict) and isinstance(user.get("accountId"), str):
        return str(user["accountId"])
    return None
