"""The fake Atlassian's dynamic webhooks of one site (Jira REST API v3 "Webhooks"; ../notes B6):
registration with per-entry errors, the list (`expirationDate` in epoch ms), the refresh (30 more
days, unknown ids ignored), deletion by id; an expired webhook is forgotten."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from addon.simulator._jql import webhook_filter_errors

__all__ = [
    "WEBHOOK_SECONDS",
    "FakeWebhook",
    "delete_webhooks",
    "expire_webhooks",
    "refresh_webhooks",
    "register_webhooks",
    "webhook_values",
]

DAY = 24 * 3600.0
WEBHOOK_SECONDS = 30 * DAY
WEBHOOK_EVENTS = frozenset(
    {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "issue_property_set",
        "issue_property_deleted",
    }
)


@dataclass(slots=True)
class FakeWebhook:
    id: int
    url: str
    events: tuple[str, ...]
    jql: str
    expires_at: float


def register_webhooks(
    hooks: dict[int, FakeWebhook], body: Mapping[str, Any], ids: Iterator[int], *, now: float
) -> list[dict[str, Any]]:
    """Registers the entries of `body` that Jira accepts; each entry's result, in order."""
    results: list[dict[str, Any]] = []
    for entry in body.get("webhooks") or ():
        events = tuple(entry.get("events") or ())
        errors = webhook_filter_errors(str(entry.get("jqlFilter") or ""))
        errors += [f"The event {e} is not supported" for e in events if e not in WEBHOOK_EVENTS]
        if not events:
            errors.append("At least one event is required")
        if errors:
            results.append({"errors": errors})
            continue
        hook = FakeWebhook(
            next(ids), str(body.get("url")), events, str(entry["jqlFilter"]), now + WEBHOOK_SECONDS
        )
        hooks[hook.id] = hook
        results.append({"createdWebhookId": hook.id})
    return results


def webhook_values(hooks: Mapping[int, FakeWebhook]) -> list[dict[str, Any]]:
    """The webhooks as `GET /webhook` lists them."""
    return [
        {
            "id": h.id,
            "events": list(h.events),
            "jqlFilter": h.jql,
            "expirationDate": int(h.expires_at * 1000),
        }
        for h in hooks.values()
    ]


def refresh_webhooks(hooks: Mapping[int, FakeWebhook], ids: Iterable[Any], *, now: float) -> float:
    """Extends the webhooks named (unknown ids ignored); when they now expire."""
    expires = now + WEBHOOK_SECONDS
    for webhook_id in ids:
        hook = hooks.get(int(webhook_id))
        if hook is not None:
            hook.expires_at = expires
    return expires


def delete_webhooks(hooks: dict[int, FakeWebhook], ids: Iterable[Any]) -> None:
    for webhook_id in ids:
        hooks.pop(int(webhook_id), None)


def expire_webhooks(hooks: dict[int, FakeWebhook], *, now: float) -> None:
    for hook in [h for h in hooks.values() if h.expires_at < now]:
        del hooks[hook.id]
