"""Retention: deliveries older than DELIVERY_RETENTION_DAYS are pruned, newer ones kept."""

from __future__ import annotations

import asyncio
import time

from addon.retention import DAY, Retention
from addon.store import DeliveryFilter, DeliveryStatus, NewDelivery, open_store


def test_prune_once_removes_only_old_deliveries(database_url: str) -> None:
    async def scenario() -> None:
        store = await open_store(database_url)
        await store.start()
        try:
            now = time.time()
            for age_days, webhook_id in ((31, "old"), (29, "recent"), (0, "new")):
                await store.writer.record(
                    NewDelivery(
                        received_at=now - age_days * DAY,
                        origin_kind="connect",
                        origin="tenant-1",
                        status=DeliveryStatus.ACCEPTED,
                        webhook_id=webhook_id,
                        search_keys=(webhook_id,),
                    )
                )
            retention = Retention(store, days=30, interval=3600)
            await retention.start()
            assert await retention.prune_once(now=now) == 1
            await retention.stop()
            left = await store.deliveries.page(DeliveryFilter(), limit=10)
            assert sorted(d.webhook_id or "" for d in left) == ["new", "recent"]
        finally:
            await store.close()

    asyncio.run(scenario())
