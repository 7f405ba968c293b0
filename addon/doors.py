"""The door interface: one way Jira reaches the server (Connect, admin-webhook sources, ...).

A door knows its own kind of request and nothing else. It says which webhook paths are its own,
turns a request on one of them into a verified `Delivery` (or a `Rejection`), builds a Jira
client for one of its origins, and brings its own routes (lifecycle callbacks, pages) and
background jobs. The app factory builds the doors whose settings are present, once, in one
table; everything after `verify` (log, dedup, worker, inspector) is the same for every door.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx
from starlette.routing import BaseRoute

from addon.delivery import Delivery, Origin, Rejection
from addon.incoming import Incoming
from addon.store import Store

__all__ = [
    "AnyDoor",
    "Door",
    "JiraClientFactory",
    "Job",
    "ListsSites",
    "Runtime",
    "SiteFacts",
]

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class JiraClientFactory:
    """How to call one origin's Jira back: its site, and a new signed client at each call."""

    site_url: str
    new: Callable[[], httpx.AsyncClient]
    gateway: str | None = None
    """Atlassian's API gateway (`https://api.atlassian.com`) when the client reaches the site
    through it (OAuth 2.0, Forge); None when it calls the site itself (Connect, an API token)."""

    def __call__(self) -> httpx.AsyncClient:
        return self.new()


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a door is given when the app starts: the store and the outgoing HTTP client."""

    store: Store
    http: httpx.AsyncClient
    doors: Sequence[Any] = ()
    """Every open door (a door may ask the others what they know of a site: its URL by cloudId)."""


@dataclass(frozen=True, slots=True)
class Job:
    """A door's background work: `run` every `every` seconds while the app runs."""

    name: str
    every: float
    run: Callable[[], Awaitable[None]]


class Door(Protocol[M]):
    """One door. `M` is what its `match` finds in a webhook path, handed back to `verify`."""

    kind: str
    """The origin kind its deliveries are recorded under (`"connect"`, `"source"`, `"forge"`)."""
    challenge: str | None
    """The `WWW-Authenticate` value a 401 refusal carries (None: no challenge)."""

    def routes(self) -> Sequence[BaseRoute]:
        """Its own routes besides its webhooks: lifecycle callbacks, pages."""
        ...

    def example_paths(self) -> Sequence[str]:
        """A path each of its webhook URLs matches, to refuse a collision at start-up."""
        ...

    def match(self, path: str, query: str) -> M | None:
        """Whether `path` (relative to the base path) is one of its webhook URLs."""
        ...

    async def start(self, runtime: Runtime) -> None:
        """Open what verifying needs (called once, before the first request)."""
        ...

    async def verify(self, request: Incoming, match: M) -> Delivery | Rejection:
        """The request as a verified delivery, or why it is turned away.

        Raises a `Refusal` of status 5xx when it cannot decide (a store outage): nothing is
        recorded then, and Jira retries.
        """
        ...

    async def jira_client(self, origin: Origin) -> JiraClientFactory | None:
        """A factory of clients for `origin`'s Jira REST API, signed as this door signs; None
        when the origin cannot be called back."""
        ...

    async def site_client(self, site_url: str) -> JiraClientFactory | None:
        """A factory of clients for the site named `site_url` (see `addon.reach.site_name`), for
        work that is not a delivery's (people, sync); None when this door cannot call it."""
        ...

    def jobs(self) -> Sequence[Job]:
        """Its background work, run while the app runs."""
        ...


AnyDoor = Door[Any]


@dataclass(frozen=True, slots=True)
class SiteFacts:
    """One site as a door knows it, for the inspector's Sites page: plain text, never a secret."""

    site_url: str
    kind: str
    key: str
    status: str
    facts: Sequence[tuple[str, str]] = ()
    warnings: Sequence[str] = ()
    cloud_id: str | None = None
    """The site's cloudId when the door knows it: it links the site to a door that knows only that."""


@runtime_checkable
class ListsSites(Protocol):
    """A door that can list the sites it knows (optional; the inspector's Sites page asks)."""

    connect_path: str | None
    """Where an admin connects another site through this door (None: not from the inspector)."""

    async def site_facts(self) -> Sequence[SiteFacts]: ...
