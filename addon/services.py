"""Everything one running add-on needs, built from `Settings` and torn down again."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.templating import Jinja2Templates

from addon.connect import ConnectDoor, RenderedDescriptor, TenantCache
from addon.doors import AnyDoor, Runtime
from addon.handlers import Handlers
from addon.ingest import Ingest
from addon.jobs import JobRunner
from addon.people import UnmappedActors
from addon.people_service import PeopleService
from addon.reach import Reach
from addon.retention import Retention
from addon.settings import Settings
from addon.sources import Sources, secure_source_secrets
from addon.store import HandlerState, Store, open_store
from addon.sync import Sync
from addon.worker import Worker

__all__ = [
    "Services",
    "people_for",
    "start_services",
    "stop_services",
    "sync_for",
    "templates_directory",
    "worker_for",
]

logger = logging.getLogger("addon")

REPO_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "_templates"


def templates_directory() -> Path:
    return REPO_TEMPLATES if REPO_TEMPLATES.is_dir() else PACKAGED_TEMPLATES


def people_for(settings: Settings, store: Store, doors: Sequence[AnyDoor]) -> PeopleService:
    reach = Reach(doors)
    return PeopleService(
        store,
        reach.client_for,
        policy=UnmappedActors(settings.unmapped_actors),
        email_api=settings.jira_email_api,
        listed_sites=reach.listed_sites,
        left_sites=reach.left_sites,
    )


def sync_for(settings: Settings, store: Store, reach: Reach) -> Sync:
    return Sync(
        store.db,
        reach.client_for,
        record=store.writer.record,
        lease=settings.sync_lease_seconds,
        search_lag=settings.sync_search_lag_seconds,
    )


def worker_for(
    settings: Settings,
    store: Store,
    handlers: Handlers,
    doors: Sequence[AnyDoor],
    people: PeopleService | None = None,
    sync: Sync | None = None,
) -> Worker:
    """The worker, deciding for each delivery by its actor (`UNMAPPED_ACTORS`) through `people`."""
    return Worker(
        store,
        handlers,
        max_attempts=settings.handler_max_attempts,
        lease_seconds=settings.handler_lease_seconds,
        concurrency=settings.handler_concurrency,
        doors={door.kind: door for door in doors},
        gate=(people or people_for(settings, store, doors)).admit,
        sync=sync,
    )


@dataclass(slots=True)
class Services:
    settings: Settings
    rendered: RenderedDescriptor
    store: Store
    doors: tuple[AnyDoor, ...]
    ingest: Ingest
    sources: Sources
    handlers: Handlers
    worker: Worker | None
    http: httpx.AsyncClient
    templates: Jinja2Templates
    retention: Retention
    jobs: JobRunner
    reach: Reach
    people: PeopleService
    sync: Sync

    @property
    def descriptor_json(self) -> bytes:
        return self.rendered.json

    @property
    def tenants(self) -> TenantCache:
        """The Connect door's tenants, as the inspector shows them."""
        for door in self.doors:
            if isinstance(door, ConnectDoor):
                return door.tenants
        raise LookupError("the Connect door is not open")


async def start_services(
    settings: Settings,
    rendered: RenderedDescriptor,
    handlers: Handlers,
    doors: Sequence[AnyDoor],
) -> Services:
    """Open the store, start the doors, the delivery writer and (inline) the worker."""
    worker_holder: list[Worker] = []
    store = await open_store(
        settings.database_url,
        keys=settings.encryption_keys,
        synchronous=settings.sqlite_synchronous,
        rejected_log_limit=settings.rejected_log_limit,
        rejected_log_max_bytes=settings.rejected_log_max_bytes,
        handler_state=HandlerState.PENDING if len(handlers) else HandlerState.NONE,
        on_committed=lambda: worker_holder[0].wake() if worker_holder else None,
    )
    try:
        await secure_source_secrets(store.db, store.box, encrypt_plaintext=True)
    except BaseException:
        await store.db.disconnect()
        raise
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
    for door in doors:
        await door.start(Runtime(store=store, http=http, doors=doors))
    reach = Reach(doors)
    people = people_for(settings, store, doors)
    sync = sync_for(settings, store, reach)
    worker = None
    if len(handlers) and settings.worker == "inline":
        worker = worker_for(settings, store, handlers, doors, people=people, sync=sync)
        worker_holder.append(worker)
    services = Services(
        settings=settings,
        rendered=rendered,
        store=store,
        doors=tuple(doors),
        ingest=Ingest(store.writer),
        sources=Sources(store.db, store.box),
        handlers=handlers,
        worker=worker,
        http=http,
        templates=Jinja2Templates(directory=str(templates_directory())),
        retention=Retention(store, days=settings.delivery_retention_days),
        jobs=JobRunner(
            store,
            [*(job for door in doors for job in door.jobs()), *people.jobs(), *sync.jobs()],
        ),
        reach=reach,
        people=people,
        sync=sync,
    )
    await store.start()
    if worker is not None:
        await worker.start()
    await services.retention.start()
    await services.jobs.start()
    return services


async def stop_services(services: Services) -> None:
    await services.jobs.stop()
    await services.retention.stop()
    if services.worker is not None:
        await services.worker.stop()
    with contextlib.suppress(Exception):
        await services.http.aclose()
    await services.store.close()
