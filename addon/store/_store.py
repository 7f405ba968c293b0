"""The store: one object that owns the database connection and every repository on it."""

from __future__ import annotations

from collections.abc import Callable

from addon.store._crypto import SecretBox
from addon.store._db import Db, connect_database
from addon.store._deliveries import DeliveryReads
from addon.store._leases import JobLeases
from addon.store._migrations import migrate
from addon.store._queue import WorkQueue
from addon.store._records import HandlerState
from addon.store._replays import LifecycleTokens
from addon.store._tenants import Tenants
from addon.store._writer import DEFAULT_REJECTED_BYTES, DeliveryWriter

__all__ = ["Store", "open_store"]


class Store:
    """Tenants, the delivery log (writer and reads), the work queue, the lifecycle tokens seen and
    the background jobs' leases, on one database."""

    def __init__(
        self,
        db: Db,
        box: SecretBox,
        *,
        rejected_log_limit: int = 10_000,
        rejected_log_max_bytes: int = DEFAULT_REJECTED_BYTES,
        handler_state: HandlerState = HandlerState.NONE,
        on_committed: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.tenants = Tenants(db, box)
        self.deliveries = DeliveryReads(db)
        self.writer = DeliveryWriter(
            db,
            rejected_log_limit=rejected_log_limit,
            rejected_log_max_bytes=rejected_log_max_bytes,
            handler_state=handler_state,
            on_committed=on_committed,
        )
        self.queue = WorkQueue(db)
        self.lifecycle_tokens = LifecycleTokens(db)
        self.job_leases = JobLeases(db)

    async def start(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
        await self.writer.stop()
        await self.db.disconnect()


async def open_store(
    url: str,
    *,
    keys: tuple[bytes, ...] = (),
    synchronous: str = "NORMAL",
    rejected_log_limit: int = 10_000,
    rejected_log_max_bytes: int = DEFAULT_REJECTED_BYTES,
    handler_state: HandlerState = HandlerState.NONE,
    on_committed: Callable[[], None] | None = None,
    encrypt_existing: bool = True,
) -> Store:
    """Connect, migrate, check every stored secret decrypts, encrypt old plaintext; not started."""
    db = await connect_database(url, synchronous=synchronous)
    try:
        await migrate(db)
        store = Store(
            db,
            SecretBox(keys),
            rejected_log_limit=rejected_log_limit,
            rejected_log_max_bytes=rejected_log_max_bytes,
            handler_state=handler_state,
            on_committed=on_committed,
        )
        await store.tenants.check_secrets()
        if encrypt_existing and store.box.enabled:
            await store.tenants.reencrypt_plaintext()
    except BaseException:
        await db.disconnect()
        raise
    return store
