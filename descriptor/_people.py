"""Who an event concerns: the account that acted and, for issue events, the issue's assignee and
reporter (account ids; which person each is, is the add-on's business)."""

from __future__ import annotations

from dataclasses import dataclass

from descriptor._catalogue import lookup, value_at
from descriptor._keys import main_keys
from descriptor._product_events import product_event

__all__ = ["EventPeople", "people_of"]


@dataclass(frozen=True, slots=True)
class EventPeople:
    """Account ids; None where the event names no such account (or names it without an accountId,
    as Jira Data Center does)."""

    actor: str | None
    assignee: str | None = None
    reporter: str | None = None


def _is_issue_event(event_name: str) -> bool:
    event = lookup(event_name)
    if event is not None:
        return event.resource == "issue"
    forge = product_event(event_name)
    return forge is not None and forge.resource == "issue"


def people_of(event_name: str, payload: object) -> EventPeople:
    """The actor where the catalogue says each event names it (`user`, `comment.author`,
    `worklog.author`, Forge's `atlassianId`, ...); for issue events also
    `issue.fields.assignee.accountId` and `issue.fields.reporter.accountId`. Never raises."""
    actor = main_keys(event_name, payload)["actor_account_id"]
    if not _is_issue_event(event_name):
        return EventPeople(actor)
    return EventPeople(
        actor,
        value_at(payload, "issue.fields.assignee.accountId"),
        value_at(payload, "issue.fields.reporter.accountId"),
    )
