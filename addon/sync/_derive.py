"""Status coming back through the log: a delivery from any door that changes a linked issue
becomes derived deliveries (`sync:status_changed`, `sync:issue_changed`) in the same log, so the
worker runs their handlers like any other's, with the same retries.

Exactly once: `SyncStore.first_time` lets one of the deliveries that carry a change (a retry, the
same change through another door) report it, and the derived delivery's identifier (the change's
key) makes recording it twice a duplicate in the log. If recording fails, the change is forgotten
again so that the retry of its delivery reports it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from addon.store import Delivery, DeliveryStatus, NewDelivery, Recorded
from addon.sync._incoming import (
    IssueChanged,
    StatusCategories,
    StatusChanged,
    catch_up_key,
    change_key,
    incoming_change,
)
from addon.sync._records import Link
from addon.sync._store import SyncStore

__all__ = ["APP_ACTING_KINDS", "ORIGIN_KIND", "Derive"]

logger = logging.getLogger("addon.sync")

ORIGIN_KIND = "sync"
"""The origin kind of derived deliveries (their origin is the adapter's name)."""
APP_ACTING_KINDS = frozenset({"connect", "forge"})
"""Doors whose calls to Jira act as the app's own account; on the OAuth door they act as the
connecting user, so the acting-account rule would swallow that user's own edits."""

Record = Callable[[NewDelivery], Awaitable[Recorded]]
OriginClient = Callable[[], httpx.AsyncClient]


def _site_of(payload: Mapping[str, Any]) -> str | None:
    """The site named by the issue's `self` URL (Jira's own site URL in webhook bodies)."""
    url = payload["issue"].get("self")
    if not isinstance(url, str) or "://" not in url:
        return None
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{port}"


def _issue_payload(payload: Any) -> Any:
    """The payload as a webhook body (`{"issue": ...}`): a Forge event still in its invocation's
    envelope is taken out of it; an issue on its own (a catch-up delivery, found by search, with
    no changelog) is put in one."""
    if not isinstance(payload, Mapping) or "issue" in payload:
        return payload
    inner = payload.get("payload")
    if isinstance(inner, Mapping) and "issue" in inner:
        return inner
    if payload.get("id") is not None and isinstance(payload.get("fields"), Mapping):
        return {"issue": payload}
    return payload


def _changed_at(payload: Mapping[str, Any]) -> int | None:
    """When Jira made the change, in epoch milliseconds: the body's `timestamp` (a number in a
    webhook, a string in a Forge event), else the issue's `updated` (a catch-up)."""
    stamp = payload.get("timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        return stamp
    if isinstance(stamp, str) and stamp.isdigit():
        return int(stamp)
    fields = payload["issue"].get("fields")
    updated = fields.get("updated") if isinstance(fields, Mapping) else None
    if not isinstance(updated, str):
        return None
    text = updated.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return None


def _is_issue_change(name: str, payload: Any) -> bool:
    if not isinstance(payload, Mapping) or "created" in name or "deleted" in name:
        return False
    issue = payload.get("issue")
    return isinstance(issue, Mapping) and issue.get("id") is not None


class Derive:
    """Feeds deliveries to the sync's incoming logic and records what handlers should hear."""

    def __init__(
        self,
        store: SyncStore,
        categories: StatusCategories,
        record: Record,
        *,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._categories = categories
        self._record = record
        self._clock = clock
        self._app_accounts: dict[tuple[str, str], str | None] = {}

    async def observe(
        self, delivery: Delivery, *, site_url: str | None, client: OriginClient | None
    ) -> int:
        """Record the derived deliveries `delivery` gives; returns how many."""
        name = delivery.event or ""
        if delivery.origin_kind == ORIGIN_KIND:
            return 0
        payload = _issue_payload(delivery.payload())
        if not _is_issue_change(name, payload):
            return 0
        link = await self._link(payload, site_url)
        if link is None:
            return 0
        adapter = await self._store.adapter(link.adapter)
        if adapter is None:
            return 0
        app_account = None
        own = False
        if delivery.origin_kind in APP_ACTING_KINDS:
            own = payload.get("selfGenerated") is True  # Forge: the app's own request made it
            if client is not None and not own:
                app_account = await self._app_account(delivery, client)
        key = change_key(payload)
        events = await incoming_change(
            self._store,
            payload,
            link=link,
            adapter=adapter,
            categories=self._categories,
            now=self._clock(),
            app_account_id=app_account,
            own=own,
        )
        try:
            for index, event in enumerate(events):
                await self._record(self._derived(delivery, payload, link, key, index, event))
        except BaseException:
            with contextlib.suppress(Exception):
                for seen in (key, catch_up_key(payload)):
                    if seen is not None:
                        await self._store.forget_change(link.site, seen)
            raise
        return len(events)

    async def _link(self, payload: Mapping[str, Any], site_url: str | None) -> Link | None:
        """The link of the payload's issue on the site the delivery came from (the door's, else
        the issue's `self` URL); by the adapters' sites, so that the (site, issue) index serves."""
        sites = {a.site.rstrip("/").lower(): a.site for a in await self._store.adapters()}
        if not sites:
            return None
        issue_id = str(payload["issue"]["id"])
        named = [s.rstrip("/").lower() for s in (site_url, _site_of(payload)) if s]
        for site in named:
            if site in sites:
                return await self._store.link_of_issue(sites[site], issue_id)
        if named:
            return None
        found = [
            link
            for site in sites.values()
            if (link := await self._store.link_of_issue(site, issue_id)) is not None
        ]
        return found[0] if len(found) == 1 else None

    async def _app_account(self, delivery: Delivery, client: OriginClient) -> str | None:
        """The account the app acts as at this origin (`/myself`), or None if Jira won't say."""
        key = (delivery.origin_kind, delivery.origin or "")
        if key not in self._app_accounts:
            try:
                async with client() as jira:
                    answer = await jira.get("/rest/api/3/myself")
                if answer.status_code != 200:
                    return None  # asked again next time: Jira may answer then
                self._app_accounts[key] = str(answer.json().get("accountId") or "") or None
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                logger.info("sync: no app account for %s: %s", key[0], type(exc).__name__)
                return None
        return self._app_accounts[key]

    @staticmethod
    def _derived(
        delivery: Delivery,
        payload: Mapping[str, Any],
        link: Link,
        key: str,
        index: int,
        event: StatusChanged | IssueChanged,
    ) -> NewDelivery:
        body = {
            **asdict(event),
            "issue": {"id": link.issue_id, "key": link.issue_key, "url": link.browse_url},
            "site": link.site,
            "changed_at": _changed_at(payload),
            "from_delivery": delivery.id,
        }
        data = json.dumps(body, sort_keys=True).encode()
        digest = hashlib.sha256(f"{link.site}\0{key}".encode()).hexdigest()[:40]
        keys = tuple(k for k in (link.issue_key, link.item_id) if k)
        return NewDelivery(
            received_at=delivery.received_at,
            origin_kind=ORIGIN_KIND,
            origin=link.adapter,
            status=DeliveryStatus.ACCEPTED,
            event=event.event,
            webhook_id=f"{event.event}/{digest}/{index}",
            context={"sync.adapter": link.adapter, "sync.item_id": link.item_id},
            headers={"content-type": "application/json"},
            body=data,
            body_size=len(data),
            resource="sync",
            action=event.event.split("_")[-1],
            issue_key=link.issue_key,
            search_keys=keys,
            verification={"derived_from": delivery.id, "change": key},
        )
