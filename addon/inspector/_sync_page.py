"""The inspector's Sync page and its JSON: adapters, links, and the outbox with each entry's state
and last error. Read-only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from addon.services import Services
from addon.sync import Adapter, Link, OutboxEntry

__all__ = ["sync_json", "sync_state"]

OUTBOX_SHOWN = 100


def _time(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _adapter(adapter: Adapter) -> dict[str, Any]:
    return {
        "name": adapter.name,
        "site": adapter.site,
        "project": adapter.project_key,
        "issue_type": adapter.issue_type,
        "statuses": {local: str(target) for local, target in adapter.statuses.items()},
        "priorities": dict(adapter.priorities),
        "created_at": _time(adapter.created_at),
    }


def _link(link: Link) -> dict[str, Any]:
    return {
        "adapter": link.adapter,
        "item_id": link.item_id,
        "site": link.site,
        "issue_id": link.issue_id,
        "issue_key": link.issue_key,
        "browse_url": link.browse_url,
        "local_status": link.local_status,
        "jira_status_id": link.jira_status_id,
        "creating_since": _time(link.creating_since),
    }


def _entry(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "adapter": entry.adapter,
        "item_id": entry.item_id,
        "change": entry.change.as_dict(),
        "state": entry.state.value,
        "attempts": entry.attempts,
        "next_attempt_at": _time(entry.next_attempt_at),
        "last_error": entry.last_error,
        "created_at": _time(entry.created_at),
    }


async def sync_state(request: Request) -> dict[str, Any]:
    services: Services = request.app.state.services
    store = services.sync.store
    return {
        "adapters": [_adapter(a) for a in await store.adapters()],
        "links": [_link(link) for link in await store.links()],
        "outbox": [_entry(e) for e in await store.entries(limit=OUTBOX_SHOWN)],
    }


async def sync_json(request: Request) -> Response:
    return JSONResponse(await sync_state(request))
