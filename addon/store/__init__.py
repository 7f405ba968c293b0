"""Persistence: tenants, the durable delivery log and the handler work queue (SQLite or PostgreSQL)."""

from addon.store._crypto import DecryptionError, SecretBox, generate_key
from addon.store._db import Db, StoreUnavailable, connect_database
from addon.store._deliveries import DeliveryFilter, DeliveryReads
from addon.store._leases import JobLeases
from addon.store._migrations import MIGRATIONS, migrate
from addon.store._queue import NotReplayable, WorkQueue, replay_refusal
from addon.store._records import Delivery, DeliveryStatus, HandlerState, NewDelivery, Recorded
from addon.store._replays import LifecycleTokens, replay_digest, webhook_token_key
from addon.store._storable import (
    MAX_INDEXED_BYTES,
    fits_index,
    is_storable_text,
    json_text,
    parse_stored_json,
    storable_json,
    storable_text,
)
from addon.store._store import Store, open_store
from addon.store._tenants import Superseded, Tenant, Tenants, TenantState
from addon.store._writer import DeliveryWriter

__all__ = [
    "MAX_INDEXED_BYTES",
    "MIGRATIONS",
    "Db",
    "DecryptionError",
    "Delivery",
    "DeliveryFilter",
    "DeliveryReads",
    "DeliveryStatus",
    "DeliveryWriter",
    "HandlerState",
    "JobLeases",
    "LifecycleTokens",
    "NewDelivery",
    "NotReplayable",
    "Recorded",
    "SecretBox",
    "Store",
    "StoreUnavailable",
    "Superseded",
    "Tenant",
    "TenantState",
    "Tenants",
    "WorkQueue",
    "connect_database",
    "fits_index",
    "generate_key",
    "is_storable_text",
    "json_text",
    "migrate",
    "open_store",
    "parse_stored_json",
    "replay_digest",
    "replay_refusal",
    "storable_json",
    "storable_text",
    "webhook_token_key",
]
