"""Pushing an item to Jira: create once (marked with its label), update what changed, and walk
the workflow's transitions into the mapped status category.

A create whose outcome is unclear (no answer, or 5xx) is never simply repeated: the link records
that a create is under way, and the next attempt searches `labels = sync-…` first, again for up
to `search_lag` seconds (Jira's search index lags behind writes), before creating anew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from addon.sync._errors import InvalidItem, JiraRefused, JiraUnavailable, UnmappedValue
from addon.sync._jira import ClientFactory, JiraCalls, adf
from addon.sync._maps import CATEGORIES, StatusTarget
from addon.sync._records import Adapter, Change, Link, check_item_id
from addon.sync._store import SyncStore

__all__ = ["MAX_TRANSITIONS", "SEARCH_LAG_SECONDS", "Pusher"]

MAX_TRANSITIONS = 8
"""The longest walk through a workflow to reach a status; a longer one is refused."""
SEARCH_LAG_SECONDS = 60.0
SEARCH_AGAIN_SECONDS = 5.0


def _status(issue: Mapping[str, Any]) -> tuple[str, str]:
    status = issue["fields"]["status"]
    return str(status["id"]), str(status["statusCategory"]["key"])


def _reached(status_id: str, category: str, target: StatusTarget) -> bool:
    if target.status_id is not None:
        return status_id == target.status_id
    return category == target.category


class Pusher:
    """Runs one item's change against its adapter's Jira site."""

    def __init__(
        self,
        store: SyncStore,
        clients: ClientFactory,
        *,
        clock: Callable[[], float],
        search_lag: float = SEARCH_LAG_SECONDS,
        search_again: float = SEARCH_AGAIN_SECONDS,
    ) -> None:
        self._store = store
        self._clients = clients
        self._clock = clock
        self._search_lag = search_lag
        self._search_again = search_again
        self._priorities: dict[str, dict[str, str]] = {}

    async def push(self, adapter: Adapter, item_id: str, change: Change) -> Link:
        """Make the issue match the item; returns its link (issue key and browse URL)."""
        check_item_id(item_id)
        self.check_mapped(adapter, change)
        async with self._clients(adapter.site) as client:
            jira = JiraCalls(client, now=self._clock)
            link = await self._store.link(adapter.name, item_id)
            wanted = {**(link.pushed if link is not None else {}), **change.as_dict()}
            if link is None or link.issue_id is None:
                link, already = await self._ensure_issue(jira, adapter, item_id, link, wanted)
            else:
                already = dict(link.pushed)
            await self._update_fields(jira, adapter, link, already, wanted)
            status_id = None
            if "status" in wanted and (change.status is not None or "status" not in already):
                status_id = await self._walk(
                    jira, adapter, link, adapter.statuses[wanted["status"]]
                )
            await self._store.record_pushed(
                link, wanted, jira_status_id=status_id, now=self._clock()
            )
        found = await self._store.link(adapter.name, item_id)
        assert found is not None
        return found

    @staticmethod
    def check_mapped(adapter: Adapter, change: Change) -> None:
        """`UnmappedValue` for a status or priority the adapter has no mapping for."""
        if change.status is not None and change.status not in adapter.statuses:
            known = ", ".join(adapter.statuses)
            raise UnmappedValue(
                f"status {change.status!r} is not in adapter {adapter.name}'s map ({known})"
            )
        if change.priority is not None and change.priority not in adapter.priorities:
            known = ", ".join(adapter.priorities)
            raise UnmappedValue(
                f"priority {change.priority!r} is not in adapter {adapter.name}'s map ({known})"
            )

    async def _ensure_issue(
        self,
        jira: JiraCalls,
        adapter: Adapter,
        item_id: str,
        link: Link | None,
        wanted: Mapping[str, str],
    ) -> tuple[Link, dict[str, str]]:
        """The item's issue, created if need be; and the fields it already has."""
        if link is not None and link.creating_since is not None:
            found = await self._search_label(jira, link.label)
            if found is not None:
                return await self._record(adapter, link, found), {}
            if self._clock() - link.creating_since < self._search_lag:
                raise JiraUnavailable(
                    f"an earlier create's outcome is unclear and {link.label} is not found yet;"
                    " searching again",
                    retry_after=self._search_again,
                )
        if "title" not in wanted:
            raise InvalidItem("the first push of an item needs a title")
        link = await self._store.begin_create(adapter, item_id, now=self._clock())
        fields: dict[str, Any] = {
            "project": {"key": adapter.project_key},
            "issuetype": {"name": adapter.issue_type},
            "summary": wanted["title"],
            "labels": [link.label],
        }
        if "description" in wanted:
            fields["description"] = adf(wanted["description"])
        if "priority" in wanted:
            fields["priority"] = {"id": await self._priority_id(jira, adapter, wanted["priority"])}
        try:
            created = await jira.call("POST", "/rest/api/3/issue", json={"fields": fields})
        except JiraRefused:
            await self._store.abandon_create(link, now=self._clock())
            raise
        except JiraUnavailable as exc:
            if not exc.unclear:  # a 429, or no connection at all: Jira made nothing
                await self._store.abandon_create(link, now=self._clock())
            raise
        already = {k: v for k, v in wanted.items() if k != "status"}
        return await self._record(adapter, link, created), already

    async def _record(self, adapter: Adapter, link: Link, issue: Mapping[str, Any]) -> Link:
        key = str(issue["key"])
        return await self._store.record_issue(
            link,
            issue_id=str(issue["id"]),
            issue_key=key,
            browse_url=f"{adapter.site.rstrip('/')}/browse/{key}",
            now=self._clock(),
        )

    async def _search_label(self, jira: JiraCalls, label: str) -> Mapping[str, Any] | None:
        answer = await jira.call(
            "POST",
            "/rest/api/3/search/jql",
            json={"jql": f'labels = "{label}" ORDER BY created ASC', "fields": ["status"]},
        )
        issues = answer.get("issues") or [] if isinstance(answer, Mapping) else []
        return issues[0] if issues else None

    async def _priority_id(self, jira: JiraCalls, adapter: Adapter, local: str) -> str:
        name = adapter.priorities[local]
        known = self._priorities.get(adapter.site)
        if known is None or name not in known:
            answer = await jira.call("GET", "/rest/api/3/priority")
            known = {str(p["name"]): str(p["id"]) for p in answer or ()}
            self._priorities[adapter.site] = known
        if name in known:
            return known[name]
        folded = {k.casefold(): v for k, v in known.items()}
        if name.casefold() in folded:
            return folded[name.casefold()]
        raise UnmappedValue(
            f"priority {local!r} maps to {name!r}, which site {adapter.site} does not have"
            f" ({', '.join(known) or 'no priorities'}); change the adapter's --priorities"
        )

    async def _update_fields(
        self,
        jira: JiraCalls,
        adapter: Adapter,
        link: Link,
        already: Mapping[str, str],
        wanted: Mapping[str, str],
    ) -> None:
        fields: dict[str, Any] = {}
        if "title" in wanted and wanted["title"] != already.get("title"):
            fields["summary"] = wanted["title"]
        if "description" in wanted and wanted["description"] != already.get("description"):
            fields["description"] = adf(wanted["description"])
        if "priority" in wanted and wanted["priority"] != already.get("priority"):
            fields["priority"] = {"id": await self._priority_id(jira, adapter, wanted["priority"])}
        if fields:
            await jira.call("PUT", f"/rest/api/3/issue/{link.issue_id}", json={"fields": fields})

    async def _walk(
        self, jira: JiraCalls, adapter: Adapter, link: Link, target: StatusTarget
    ) -> str:
        """Transition the issue until its status matches `target`; returns the status id."""
        issue_id = str(link.issue_id)
        issue = await jira.call("GET", f"/rest/api/3/issue/{issue_id}", params={"fields": "status"})
        current, category = _status(issue)
        seen = {current}
        for _ in range(MAX_TRANSITIONS):
            if _reached(current, category, target):
                return current
            answer = await jira.call("GET", f"/rest/api/3/issue/{issue_id}/transitions")
            options = [t for t in answer.get("transitions") or () if str(t["to"]["id"]) not in seen]
            step = _next_step(options, target)
            if step is None:
                break
            to = step["to"]
            to_id, to_category = str(to["id"]), str(to["statusCategory"]["key"])
            mark = await self._store.begin_transition(
                adapter.site, issue_id, current, to_id, now=self._clock()
            )
            try:
                await jira.call(
                    "POST",
                    f"/rest/api/3/issue/{issue_id}/transitions",
                    json={"transition": {"id": str(step["id"])}},
                )
            except JiraUnavailable as exc:
                if not exc.unclear:
                    await self._store.end_transition(mark, done=False, now=self._clock())
                raise
            except Exception:
                await self._store.end_transition(mark, done=False, now=self._clock())
                raise
            await self._store.end_transition(mark, done=True, now=self._clock())
            current, category = to_id, to_category
            seen.add(current)
        if _reached(current, category, target):
            return current
        raise UnmappedValue(
            f"no way through {link.issue_key}'s workflow to {target} within"
            f" {MAX_TRANSITIONS} transitions"
        )


def _next_step(options: list[Mapping[str, Any]], target: StatusTarget) -> Mapping[str, Any] | None:
    """A transition straight to the target if there is one, else the one whose status category
    is nearest the target's (To Do, In Progress, Done lie in that order)."""
    for option in options:
        to = option["to"]
        if _reached(str(to["id"]), str(to["statusCategory"]["key"]), target):
            return option
    order = {key: index for index, key in enumerate(CATEGORIES)}
    goal = order[target.category]

    def distance(option: Mapping[str, Any]) -> int:
        return abs(order.get(str(option["to"]["statusCategory"]["key"]), -10) - goal)

    return min(options, key=distance, default=None)
