"""What the doors keep beside the log: Forge installations, OAuth sites, job leases, API tokens."""

from __future__ import annotations

from addon.store._schema._sql import Migration, both

__all__ = ["DOORS"]

# Forge Remote installations (issue 18): where each installation's site and API are, when it was
# last heard from, and the app's system token (encrypted at rest, like shared secrets).
_V9 = both(
    """CREATE TABLE forge_installations (
        installation_id TEXT PRIMARY KEY,
        cloud_id TEXT,
        site_url TEXT,
        api_base_url TEXT NOT NULL,
        app_version TEXT,
        environment TEXT,
        installed_at {real},
        updated_at {real} NOT NULL,
        last_tick_at {real},
        uninstalled INTEGER NOT NULL DEFAULT 0,
        uninstalled_at {real},
        system_token TEXT,
        system_token_expires_at {real}
    )""",
    "CREATE INDEX forge_installations_by_cloud ON forge_installations (cloud_id)",
)

# Sites connected with OAuth 2.0 (3LO): their tokens (encrypted with the store's box, the cloudId
# as associated data), the lease that lets one instance at a time refresh them, their dynamic
# webhook registrations, the consent flows under way (a state is stored as its SHA-256), and a
# consent covering several sites while the admin picks one (its grant encrypted).
_V10 = both(
    """CREATE TABLE oauth_sites (
        cloud_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        scopes TEXT NOT NULL,
        projects TEXT,
        access_token TEXT NOT NULL,
        access_expires_at {real} NOT NULL,
        refresh_token TEXT,
        refresh_expires_at {real},
        connected_at {real} NOT NULL,
        updated_at {real} NOT NULL,
        last_delivery_at {real},
        status_reason TEXT,
        webhook_errors TEXT,
        refresh_lease_owner TEXT,
        refresh_lease_until {real}
    )""",
    "CREATE INDEX oauth_sites_by_url ON oauth_sites (url)",
    """CREATE TABLE oauth_site_webhooks (
        cloud_id TEXT NOT NULL,
        webhook_id {bigint} NOT NULL,
        events TEXT NOT NULL,
        jql TEXT NOT NULL,
        expires_at {real},
        registered_at {real} NOT NULL,
        PRIMARY KEY (cloud_id, webhook_id)
    )""",
    """CREATE TABLE oauth_states (
        state_hash TEXT PRIMARY KEY,
        created_at {real} NOT NULL,
        expires_at {real} NOT NULL
    )""",
    "CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at)",
    """CREATE TABLE oauth_pending_consents (
        consent_hash TEXT PRIMARY KEY,
        grant_data TEXT NOT NULL,
        resources TEXT NOT NULL,
        expires_at {real} NOT NULL
    )""",
)

# A lease per background job of a door (token refresh, webhook keep-alive), so that a job runs at
# one instance at a time across every instance on the database, as handler work does.
_V11 = both(
    """CREATE TABLE job_leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at {real} NOT NULL
    )""",
)

# The OAuth door's heartbeat (the last time any instance was running, so that a gap is caught up
# at start-up) and an API token per admin-webhook source (email and token, the token encrypted),
# for calling that source's site back with basic auth.
_V15 = both(
    """CREATE TABLE oauth_heartbeat (
        name TEXT PRIMARY KEY,
        beat_at {real} NOT NULL
    )""",
    """CREATE TABLE source_api_tokens (
        source_name TEXT PRIMARY KEY,
        site_url TEXT NOT NULL,
        email TEXT NOT NULL,
        api_token TEXT NOT NULL,
        updated_at {real} NOT NULL
    )""",
)

# Where each OAuth site's next catch-up starts (when its webhooks were last seen alive; a pending
# second pass of a gap and when it is due), kept here so that any instance running the jobs uses it.
_V18 = both(
    "ALTER TABLE oauth_sites ADD COLUMN webhooks_alive_at {real}",
    "ALTER TABLE oauth_sites ADD COLUMN catch_up_since {real}",
    "ALTER TABLE oauth_sites ADD COLUMN catch_up_due_at {real}",
)


DOORS: tuple[Migration, ...] = (
    Migration(9, "Forge Remote installations and their encrypted system tokens", *_V9),
    Migration(
        10, "OAuth 2.0 sites, their webhook registrations, consent states and choices", *_V10
    ),
    Migration(11, "a lease per background job of a door, held by one instance at a time", *_V11),
    Migration(15, "the OAuth door's heartbeat; API tokens of admin-webhook sources", *_V15),
    Migration(18, "where each OAuth site's next catch-up starts, shared by all instances", *_V18),
)
