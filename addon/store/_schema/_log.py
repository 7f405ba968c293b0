"""The delivery log, tenants, sources, replay records: the schema every door writes to."""

from __future__ import annotations

from addon.store._schema._sql import Migration, both

__all__ = ["LOG"]

_V1 = both(
    """CREATE TABLE tenants (
        client_key TEXT PRIMARY KEY,
        shared_secret TEXT,
        base_url TEXT NOT NULL,
        display_url TEXT,
        product_type TEXT,
        description TEXT,
        oauth_client_id TEXT,
        installation_id TEXT,
        payload TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL,
        state_iat {bigint} NOT NULL DEFAULT 0,
        installed_at {real},
        updated_at {real} NOT NULL,
        uninstalled_at {real}
    )""",
    """CREATE TABLE sources (
        source_key TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        mode TEXT NOT NULL,
        header TEXT,
        events TEXT,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_expires_at {real},
        created_at {real} NOT NULL,
        rotated_at {real}
    )""",
    """CREATE TABLE deliveries (
        id {id},
        received_at {real} NOT NULL,
        origin_kind TEXT NOT NULL,
        origin TEXT,
        event TEXT,
        webhook_id TEXT,
        retry INTEGER NOT NULL DEFAULT 0,
        flow TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        error_code TEXT,
        method TEXT,
        path TEXT,
        context TEXT,
        token TEXT,
        canonical_request TEXT,
        qsh_expected TEXT,
        headers TEXT,
        body {blob},
        body_size {bigint},
        resource TEXT,
        action TEXT,
        issue_key TEXT,
        project_key TEXT,
        sprint_id TEXT,
        actor TEXT,
        handler_state TEXT NOT NULL DEFAULT 'none',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at {real},
        lease_owner TEXT,
        lease_until {real},
        last_error TEXT,
        completed_at {real},
        duplicate_of {bigint}
    )""",
    """CREATE UNIQUE INDEX deliveries_one_accepted ON deliveries (origin_kind, origin, webhook_id)
        WHERE status = 'accepted' AND webhook_id IS NOT NULL""",
    "CREATE INDEX deliveries_by_status ON deliveries (status, id)",
    "CREATE INDEX deliveries_by_event ON deliveries (event, id)",
    "CREATE INDEX deliveries_by_origin ON deliveries (origin, id)",
    "CREATE INDEX deliveries_by_received ON deliveries (received_at)",
    """CREATE INDEX deliveries_pending ON deliveries (next_attempt_at)
        WHERE handler_state = 'pending'""",
    """CREATE TABLE delivery_keys (
        search_key {ckey} NOT NULL,
        delivery_id {bigint} NOT NULL,
        PRIMARY KEY (search_key, delivery_id)
    )""",
    "CREATE INDEX delivery_keys_by_delivery ON delivery_keys (delivery_id)",
)

_V2 = both("ALTER TABLE sources ADD COLUMN url_template TEXT")

_V3 = both(
    """CREATE INDEX deliveries_by_duplicate ON deliveries (duplicate_of)
        WHERE duplicate_of IS NOT NULL""",
    "CREATE INDEX deliveries_by_origin_status ON deliveries (origin, status, id)",
)

# Identifier first: the same uniqueness, and an accepted delivery is found by its identifier alone
# (the inspector's search), so the writer no longer stores that identifier in delivery_keys.
# A delivery's keys by delivery, covering: a broad prefix search walks it newest first, reading a
# delivery's few keys side by side without a lookup in the table.
_V4 = both(
    "DROP INDEX deliveries_one_accepted",
    """CREATE UNIQUE INDEX deliveries_one_accepted ON deliveries (webhook_id, origin_kind, origin)
        WHERE status = 'accepted' AND webhook_id IS NOT NULL""",
    "CREATE INDEX delivery_keys_of_delivery ON delivery_keys (delivery_id, search_key)",
    "DROP INDEX delivery_keys_by_delivery",
)

# What each rejection stores (to bound the rejection log by bytes, newest kept), walked newest first
# through an index of its own; rows from before are sized once here. And a row /healthz writes, to
# tell a database that answers but cannot write (disk full, read-only) from a healthy one.
_V5 = both(
    "ALTER TABLE deliveries ADD COLUMN stored_bytes {bigint}",
    """UPDATE deliveries SET stored_bytes = COALESCE(LENGTH(body), 0)
        + COALESCE(LENGTH(headers), 0) + COALESCE(LENGTH(path), 0)
        + COALESCE(LENGTH(token), 0) + COALESCE(LENGTH(canonical_request), 0)
        WHERE status = 'rejected'""",
    """CREATE INDEX deliveries_rejected_size ON deliveries (id, stored_bytes)
        WHERE status = 'rejected'""",
    "CREATE TABLE health (id INTEGER PRIMARY KEY, checked_at {real} NOT NULL)",
)

# Replay records (see _replays). A webhook token's key (its exp, then a digest) is kept with its
# delivery and pruned with it; the first delivery to carry a token is in the unique index, later
# ones are marked token_reused, so a probe finds at most one row however often a captured token is
# replayed. Lifecycle tokens are kept apart, with the digest of their first body, until they expire.
_V6 = both(
    "ALTER TABLE deliveries ADD COLUMN token_digest {blob}",
    "ALTER TABLE deliveries ADD COLUMN token_reused INTEGER NOT NULL DEFAULT 0",
    """CREATE UNIQUE INDEX deliveries_first_of_token ON deliveries (token_digest)
        WHERE token_digest IS NOT NULL AND token_reused = 0""",
    """CREATE TABLE lifecycle_tokens (
        token_digest {blob} PRIMARY KEY,
        body_digest {blob} NOT NULL,
        expires_at {real} NOT NULL
    )""",
    "CREATE INDEX lifecycle_tokens_by_expiry ON lifecycle_tokens (expires_at)",
)

# A delivery keeps what its door verified (the inspector shows it; never a secret), and how often
# and when its handlers were run again on request.
_V7 = both(
    "ALTER TABLE deliveries ADD COLUMN verification TEXT",
    "ALTER TABLE deliveries ADD COLUMN replays INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE deliveries ADD COLUMN replayed_at {real}",
)

# Every installation id a tenant has had (a Forge reinstall can bring a new one), so that a Forge
# installation can be matched to its Connect tenant by any of them (ACE keeps the same mapping).
_V8 = both(
    """CREATE TABLE tenant_installations (
        installation_id TEXT NOT NULL,
        client_key TEXT NOT NULL,
        first_seen_at {real} NOT NULL,
        last_seen_at {real} NOT NULL,
        PRIMARY KEY (installation_id, client_key)
    )""",
    "CREATE INDEX tenant_installations_by_tenant ON tenant_installations (client_key)",
    """INSERT INTO tenant_installations (installation_id, client_key, first_seen_at, last_seen_at)
        SELECT installation_id, client_key, COALESCE(installed_at, updated_at), updated_at
        FROM tenants WHERE installation_id IS NOT NULL""",
)


LOG: tuple[Migration, ...] = (
    Migration(1, "tenants, sources, the delivery log and its search keys", *_V1),
    Migration(2, "an optional ${...} URL template per admin-webhook source", *_V2),
    Migration(3, "indexes for a delivery's duplicates and a tenant's deliveries by status", *_V3),
    Migration(
        4, "search by webhook identifier through the duplicate guard; covering key index", *_V4
    ),
    Migration(5, "the bytes each rejection stores; a row the health check writes", *_V5),
    Migration(6, "replay records: webhook token digests, lifecycle tokens until they expire", *_V6),
    Migration(7, "what a delivery's door verified; how often and when it was replayed", *_V7),
    Migration(8, "every installation id a tenant has had (Connect on Forge)", *_V8),
)
