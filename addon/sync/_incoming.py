"""Status coming back: a linked issue's change in Jira, as the events handlers get.

A change is identified by issue id and changelog id, or, where there is no changelog (catch-up),
by issue id, status id and `updated` time; each is reported once, whichever door brought it and
however often Jira retried. The sync's own transitions are not reported (echo suppression).
The status's category comes from the payload (`issue.fields.status.statusCategory`; a changelog
carries only ids and names: notes B5) or else from `GET /rest/api/3/status/{id}`, cached per site.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from addon.sync._jira import ClientFactory, JiraCalls
from addon.sync._maps import local_status_for
from addon.sync._records import Adapter, Link
from addon.sync._store import ECHO_SECONDS, SyncStore

__all__ = [
    "ISSUE_CHANGED",
    "STATUS_CHANGED",
    "FieldChange",
    "IssueChanged",
    "JiraStatus",
    "StatusCategories",
    "StatusChanged",
    "catch_up_key",
    "change_key",
    "incoming_change",
]

STATUS_CHANGED = "sync:status_changed"
ISSUE_CHANGED = "sync:issue_changed"


@dataclass(frozen=True, slots=True)
class JiraStatus:
    id: str
    name: str | None
    category: str


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The issue moved to a status whose category maps to a local status."""

    adapter: str
    item_id: str
    previous: str | None
    status: str
    jira_status: JiraStatus
    event: str = STATUS_CHANGED


@dataclass(frozen=True, slots=True)
class IssueChanged:
    """Other edits in Jira (summary, priority, ...), or a status that maps to nothing."""

    adapter: str
    item_id: str
    changes: tuple[FieldChange, ...]
    event: str = ISSUE_CHANGED


class StatusCategories:
    """Status id to category key per site, from payloads when they carry it, else from Jira."""

    def __init__(self, clients: ClientFactory, *, clock: Callable[[], float]) -> None:
        self._clients = clients
        self._clock = clock
        self._known: dict[tuple[str, str], str] = {}

    def learn(self, site: str, status: Mapping[str, Any]) -> None:
        category = status.get("statusCategory")
        if isinstance(category, Mapping) and category.get("key") and status.get("id"):
            self._known[(site, str(status["id"]))] = str(category["key"])

    async def category(self, site: str, status_id: str) -> str:
        known = self._known.get((site, status_id))
        if known is not None:
            return known
        async with self._clients(site) as client:
            answer = await JiraCalls(client, now=self._clock).call(
                "GET", f"/rest/api/3/status/{status_id}"
            )
        self.learn(site, answer)
        return self._known.get((site, status_id), "undefined")


def change_key(payload: Mapping[str, Any]) -> str:
    """What identifies a change across retries and doors."""
    issue = payload["issue"]
    changelog = payload.get("changelog")
    if isinstance(changelog, Mapping) and changelog.get("id") is not None:
        return f"{issue['id']}/changelog/{changelog['id']}"
    fields = issue.get("fields") or {}
    status = fields.get("status") or {}
    return f"{issue['id']}/status/{status.get('id')}/{fields.get('updated')}"


def catch_up_key(payload: Mapping[str, Any]) -> str | None:
    """For a change with a changelog, the key a catch-up finding the issue in the state this
    payload shows would have given it: a change that a catch-up reported first is not reported
    again when its webhook comes late. None where the payload cannot say (no status, no time)."""
    changelog = payload.get("changelog")
    fields = payload["issue"].get("fields") or {}
    status = fields.get("status")
    if not isinstance(changelog, Mapping) or changelog.get("id") is None:
        return None
    if not isinstance(status, Mapping) or status.get("id") is None or not fields.get("updated"):
        return None
    return change_key({"issue": payload["issue"]})


def _actor(payload: Mapping[str, Any]) -> str | None:
    user = payload.get("user")
    if isinstance(user, Mapping) and user.get("accountId"):
        return str(user["accountId"])
    atlassian_id = payload.get("atlassianId")
    return str(atlassian_id) if atlassian_id else None


async def incoming_change(
    store: SyncStore,
    payload: Mapping[str, Any],
    *,
    link: Link,
    adapter: Adapter,
    categories: StatusCategories,
    now: float,
    app_account_id: str | None = None,
    own: bool = False,
) -> list[StatusChanged | IssueChanged]:
    """The events a change of `link`'s issue gives handlers; empty for a change already seen, for
    the sync's own transition, and (when `app_account_id` is given) for the app's own edits.

    Give `app_account_id` only for doors where calls act as the app (Connect, Forge): on the
    OAuth door calls act as the connecting user, and the rule would swallow that user's edits.
    `own`: the door says the app made the change (a Forge event's `selfGenerated`).
    """
    site = link.site
    issue = payload["issue"]
    issue_id = str(issue["id"])
    fields = issue.get("fields") or {}
    current = fields.get("status") if isinstance(fields.get("status"), Mapping) else None
    if current is not None:
        categories.learn(site, current)
    changelog = payload.get("changelog")
    items = _changelog_items(changelog)
    status_items = [i for i in items if (i.get("fieldId") or i.get("field")) == "status"]
    others = [
        FieldChange(str(i.get("field")), i.get("fromString"), i.get("toString"))
        for i in items
        if (i.get("fieldId") or i.get("field")) != "status"
    ]
    move: _Move | None = None
    if status_items:
        item = status_items[-1]
        before = str(item["from"]) if item.get("from") is not None else None
        move = _Move(before, str(item.get("to")), item.get("fromString"), item.get("toString"))
    elif (
        not items
        and not isinstance(changelog, Mapping)
        and current is not None
        and str(current.get("id")) != link.jira_status_id
    ):
        move = _Move(link.jira_status_id, str(current.get("id")), None, current.get("name"))
    # Jira is asked (if it must be) before the change is marked as seen: a failure here leaves
    # the change to be processed again when its delivery is retried.
    category = await categories.category(site, move.after) if move is not None else ""
    if not await store.first_time(site, change_key(payload), now=now):
        return []
    if own or (app_account_id is not None and _actor(payload) == app_account_id):
        return []
    # Only a move to the status the link knows already may have been reported by a catch-up.
    alt = catch_up_key(payload)
    if (
        move is None
        or link.jira_status_id != move.after
        or current is None
        or str(current.get("id")) != move.after
    ):
        alt = None
    events: list[StatusChanged | IssueChanged] = []
    if move is not None:
        event = await _status_event(
            store, link, adapter, issue_id, move, category, now=now, catch_up=alt
        )
        if event is not None:
            events.append(event)
    others = await _not_pushed(store, others, link, adapter, now=now)
    if others:
        events.append(IssueChanged(adapter.name, link.item_id, tuple(others)))
    return events


def _same_text(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and " ".join(a.split()) == " ".join(b.split())


async def _not_pushed(
    store: SyncStore, changes: list[FieldChange], link: Link, adapter: Adapter, *, now: float
) -> list[FieldChange]:
    """The field edits that are not the sync's own: an edit whose new value is one the outbox is
    pushing or pushed in the last ECHO_SECONDS for this item is its echo (on every door; on
    the OAuth door the push acts as the connecting user, so the account cannot tell)."""
    if not changes:
        return changes
    pushed = await store.pushed_recently(link.adapter, link.item_id, now=now, within=ECHO_SECONDS)
    if not pushed:
        return changes

    def ours(change: FieldChange) -> bool:
        for done in pushed:
            if change.field == "summary" and _same_text(change.after, done.title):
                return True
            if change.field == "description" and _same_text(change.after, done.description):
                return True
            if change.field == "priority" and done.priority is not None:
                name = adapter.priorities.get(done.priority)
                if name is not None and (change.after or "").casefold() == name.casefold():
                    return True
        return False

    return [change for change in changes if not ours(change)]


def _changelog_items(changelog: Any) -> list[Mapping[str, Any]]:
    """A changelog's items: `{id, items: [...]}` in webhooks and Forge's own example; a bare list
    of items in some Forge events seen in third-party code (notes: the shape is unconfirmed)."""
    if isinstance(changelog, Mapping):
        found = changelog.get("items") or ()
    elif isinstance(changelog, list):
        found = changelog
    else:
        return []
    return [item for item in found if isinstance(item, Mapping)]


@dataclass(frozen=True, slots=True)
class _Move:
    before: str | None
    after: str
    before_name: str | None
    after_name: str | None


async def _status_event(
    store: SyncStore,
    link: Link,
    adapter: Adapter,
    issue_id: str,
    move: _Move,
    category: str,
    *,
    now: float,
    catch_up: str | None = None,
) -> StatusChanged | IssueChanged | None:
    after = move.after
    if await store.take_echo(link.site, issue_id, move.before, after, now=now):
        await store.record_status(link, local_status=None, jira_status_id=after, now=now)
        return None
    if catch_up is not None and not await store.first_time(link.site, catch_up, now=now):
        return None  # a catch-up found the issue in this state and reported it already
    local = local_status_for(adapter.statuses, category, after) if category != "undefined" else None
    if local is None:
        await store.record_status(link, local_status=None, jira_status_id=after, now=now)
        change = FieldChange("status", move.before_name, move.after_name)
        return IssueChanged(adapter.name, link.item_id, (change,))
    await store.record_status(link, local_status=local, jira_status_id=after, now=now)
    status = JiraStatus(after, move.after_name, category)
    return StatusChanged(adapter.name, link.item_id, link.local_status, local, status)
