"""Running your code on events: a registry of async handlers and the event object they receive.

    from addon import Handlers, Event

    handlers = Handlers()

    @handlers.on("jira:issue_updated")
    async def issue_updated(event: Event) -> None:
        print(event.view.issue_key, event.payload["changelog"])

Point the server at it with ``ADDON_HANDLERS=myapp.handlers:handlers``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

import descriptor
from addon.delivery import Origin
from addon.ingest import View
from addon.people import PeopleOfEvent

if TYPE_CHECKING:
    from addon.sync import Sync

__all__ = [
    "Event",
    "Handler",
    "Handlers",
    "HandlersError",
    "NoJiraClient",
    "Origin",
    "load_handlers",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted delivery, handed to handlers. `delivery_id` is a stable idempotency key."""

    delivery_id: int
    name: str
    payload: Any
    context: Mapping[str, str]
    webhook_id: str | None
    origin: Origin
    view: View
    received_at: datetime
    attempt: int
    client_factory: Callable[[], httpx.AsyncClient] | None = field(default=None, repr=False)
    people: PeopleOfEvent = field(default_factory=PeopleOfEvent)
    """Who acted (`people.actor`) and, for issue events, the assignee and reporter: each one of
    your people, or None (see `UNMAPPED_ACTORS`)."""
    sync: Sync | None = field(default=None, repr=False)
    """The app's two-way sync: `await event.sync.push(adapter, item_id, title=...)`."""

    def jira_client(self) -> httpx.AsyncClient:
        """A client for the site's REST API that signs every request as this add-on.

            async with event.jira_client() as jira:
                issue = (await jira.get(f"/rest/api/3/issue/{event.view.issue_key}")).json()

        For Connect deliveries from an installed tenant (a Connect JWT) and Forge deliveries from
        an installation with an unexpired system token (Bearer, to its API base URL); otherwise
        `NoJiraClient`.
        """
        if self.client_factory is None:
            raise NoJiraClient(
                f"no signed client for a delivery from {self.origin.kind} {self.origin.key!r}: "
                "only installed Connect tenants and Forge installations can be called back"
            )
        return self.client_factory()


class NoJiraClient(RuntimeError):
    """The event's origin cannot be called back (no shared secret, no system token)."""


Handler = Callable[[Event], Awaitable[None]]


class Handlers:
    """A registry of handlers by event name; `"*"` receives every event."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, *events: str) -> Callable[[Handler], Handler]:
        """Decorator: run the function for each of `events` (or every event, with `"*"`)."""
        if not events:
            raise TypeError("name at least one event, or '*'")

        def register(handler: Handler) -> Handler:
            for event in events:
                self.add(event, handler)
            return handler

        return register

    def add(self, event: str, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"handler for {event!r} is not callable")
        self._handlers.setdefault(event, []).append(handler)

    def for_event(self, name: str) -> list[Handler]:
        """Its handlers, then those of the Connect event it is exactly (a Forge event, see
        `descriptor.product_event`), then those of `"*"`."""
        found = list(self._handlers.get(name, ()))
        forge = descriptor.product_event(name)
        if forge is not None and forge.equivalent is not None:
            found += [h for h in self._handlers.get(forge.equivalent, ()) if h not in found]
        return [*found, *self._handlers.get("*", ())]

    def events(self) -> list[str]:
        return sorted(self._handlers)

    def __len__(self) -> int:
        return sum(len(handlers) for handlers in self._handlers.values())


class HandlersError(ValueError):
    """ADDON_HANDLERS does not name a `Handlers` object that can be imported."""


def load_handlers(spec: str) -> Handlers:
    """Import `package.module:attribute` and check it is a `Handlers`."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlersError(f"ADDON_HANDLERS: cannot import {module_name!r}: {exc}") from None
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise HandlersError(f"ADDON_HANDLERS: {module_name!r} has no {attribute!r}") from None
    if not isinstance(value, Handlers):
        raise HandlersError(f"ADDON_HANDLERS: {spec!r} is a {type(value).__name__}, not Handlers")
    return value
