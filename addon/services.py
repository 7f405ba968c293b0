"""Everything one running add-on needs, built from `Settings` and torn down again."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.templating import Jinja2Templates

from addon.auth import InstallKeyFetcher
from addon.connect_descriptor import RenderedDescriptor
from addon.handlers import Handlers
from addon.ingest import Ingest
from addon.lifecycle import Lifecycle
from addon.retention import Retention
from addon.settings import Settings
from addon.sources import SourceIngest, Sources, secure_source_secrets
from addon.store import HandlerState, Store, open_store
from addon.tenancy import TenantCache
from addon.worker import Worker

__all__ = [
    "Services",
    "start_services",
    "stop_services",
    "templates_directory",
    "worker_for",
]

logger = logging.getLogger("addon")

REPO_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "_templates"


def templates_directory() -> Path:
    return REPO_TEMPLATES if REPO_TEMPLATES.is_dir() else PACKAGED_TEMPLATES


def worker_for(settings: Settings, store: Store, handlers: Handlers) -> Worker:
    return Worker(
        store,
        handlers,
        max_attempts=settings.handler_max_attempts,
        lease_seconds=settings.handler_lease_seconds,
        concurrency=settings.handler_concurrency,
        addon_key=settings.key,
    )


@dataclass(slots=True)
class Services:
    settings: Settings
    rendered: RenderedDescriptor
    store: Store
    tenants: TenantCache
    lifecycle: Lifecycle
    ingest: Ingest
    sources: SourceIngest
    handlers: Handlers
    worker: Worker | None
    http: httpx.AsyncClient
    templates: Jinja2Templates
    retention: Retention

    @property
    def descriptor_json(self) -> bytes:
        return self.rendered.json


async def start_services(
    settings: Settings, rendered: RenderedDescriptor, handlers: Handlers
) -> Services:
    """Open the store, start the delivery writer and (inline) the worker."""
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
    tenants = TenantCache(store, ttl=settings.tenant_cache_seconds)
    keys = InstallKeyFetcher(base_url=settings.install_keys_url, client=http)
    worker = None
    if len(handlers) and settings.worker == "inline":
        worker = worker_for(settings, store, handlers)
        worker_holder.append(worker)
    services = Services(
        settings=settings,
        rendered=rendered,
        store=store,
        tenants=tenants,
        lifecycle=Lifecycle(
            addon_key=settings.key,
            base_url=settings.base_url,
            leeway=settings.jwt_leeway_seconds,
            store=store,
            tenants=tenants,
            keys=keys,
        ),
        ingest=Ingest(
            base_url=settings.base_url,
            leeway=settings.jwt_leeway_seconds,
            store=store,
            tenants=tenants,
            webhooks=rendered.webhooks,
        ),
        sources=SourceIngest(sources=Sources(store.db, store.box), writer=store.writer),
        handlers=handlers,
        worker=worker,
        http=http,
        templates=Jinja2Templates(directory=str(templates_directory())),
        retention=Retention(store, days=settings.delivery_retention_days),
    )
    await store.start()
    if worker is not None:
        await worker.start()
    await services.retention.start()
    return services


async def stop_services(services: Services) -> None:
    await services.retention.stop()
    if services.worker is not None:
        await services.worker.stop()
    with contextlib.suppress(Exception):
        await services.http.aclose()
    await services.store.close()
