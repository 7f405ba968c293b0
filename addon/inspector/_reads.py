"""What each inspector page reads from the store, with indexed (keyset) queries only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from addon.connect import TenantCache
from addon.forge import ForgeInstallation, ForgeInstallations
from addon.inspector._queries import ListQuery, encode_cursor
from addon.store import Delivery, DeliveryFilter, DeliveryStatus, Store, Tenant

__all__ = [
    "DeliveryDetail",
    "DeliveryPage",
    "TenantSummary",
    "duplicates_of",
    "forge_only",
    "load_detail",
    "load_page",
    "load_tenants",
    "tenants_of",
]

MAX_DUPLICATES = 100


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[Delivery]
    tenants: dict[str, Tenant]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: Delivery
    tenant: Tenant | None
    duplicates: list[Delivery]


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant: Tenant
    last: Delivery | None
    installation_ids: tuple[str, ...] = ()
    forge: tuple[ForgeInstallation, ...] = ()
    """Its Forge Remote installations: the same site, through the Forge door."""


async def tenants_of(
    cache: TenantCache, deliveries: Iterable[Delivery], store: Store | None = None
) -> dict[str, Tenant]:
    """The tenants the Connect deliveries come from, by clientKey (one key lookup each), and,
    with `store`, the tenant of each Forge delivery's installation (one site), by installation id."""
    deliveries = list(deliveries)
    keys = {d.origin for d in deliveries if d.origin_kind == "connect" and d.origin}
    found: dict[str, Tenant] = {}
    for key in sorted(keys):
        tenant = await cache.get(key)
        if tenant is not None:
            found[key] = tenant
    if store is not None:
        installations = {d.origin for d in deliveries if d.origin_kind == "forge" and d.origin}
        for installation_id in sorted(installations):
            tenant = await store.tenants.for_installation(installation_id)
            if tenant is not None:
                found[installation_id] = tenant
    return found


async def load_page(store: Store, cache: TenantCache, query: ListQuery) -> DeliveryPage:
    """One page, newest first; `next_cursor` is None on the last page (one extra row tells)."""
    rows = await store.deliveries.page(
        query.where, limit=query.limit + 1, before_id=query.before_id
    )
    shown = rows[: query.limit]
    more = len(rows) > query.limit
    return DeliveryPage(
        deliveries=shown,
        tenants=await tenants_of(cache, shown, store),
        next_cursor=encode_cursor(shown[-1].id) if more else None,
    )


async def duplicates_of(store: Store, delivery: Delivery) -> list[Delivery]:
    """The later copies of an accepted delivery, oldest first (indexed on `duplicate_of`)."""
    if delivery.status is not DeliveryStatus.ACCEPTED:
        return []
    return await store.deliveries.attempts_of(delivery.id, limit=MAX_DUPLICATES)


async def load_detail(store: Store, cache: TenantCache, delivery_id: int) -> DeliveryDetail | None:
    delivery = await store.deliveries.get(delivery_id)
    if delivery is None:
        return None
    tenants = await tenants_of(cache, [delivery], store)
    return DeliveryDetail(
        delivery=delivery,
        tenant=tenants.get(delivery.origin or ""),
        duplicates=await duplicates_of(store, delivery),
    )


async def load_tenants(store: Store) -> list[TenantSummary]:
    """Every tenant with its newest delivery (one indexed lookup on (origin, id) per tenant) and
    every Forge installation id it has had."""
    forge = {i.installation_id: i for i in await ForgeInstallations(store.db, store.box).all()}
    summaries = []
    for tenant in await store.tenants.all():
        newest = await store.deliveries.page(
            DeliveryFilter(origin=tenant.client_key, origin_kind="connect"), limit=1
        )
        installation_ids = await store.tenants.installation_ids(tenant.client_key)
        summaries.append(
            TenantSummary(
                tenant=tenant,
                last=newest[0] if newest else None,
                installation_ids=installation_ids,
                forge=tuple(forge[i] for i in installation_ids if i in forge),
            )
        )
    return summaries


async def forge_only(store: Store, summaries: Iterable[TenantSummary]) -> list[ForgeInstallation]:
    """The Forge installations no Connect tenant shares an installation id with."""
    shared = {i.installation_id for s in summaries for i in s.forge}
    return [
        i
        for i in await ForgeInstallations(store.db, store.box).all()
        if i.installation_id not in shared
    ]
