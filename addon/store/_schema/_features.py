"""What the features built on deliveries keep: people, and the two-way sync."""

from __future__ import annotations

from addon.store._schema._sql import Migration, both

__all__ = ["FEATURES"]

# People (issue 20): the user's own people, the Jira accounts of each site (email only when Jira
# showed it or the email API gave it), which person each account is (at most one per site), the
# accounts whose email two people share, and the account a held delivery waits for. Emails are
# indexed by their trimmed, case-folded form; every indexed value is at most 255 bytes.
_V12 = both(
    """CREATE TABLE people (
        person_id TEXT PRIMARY KEY,
        email TEXT,
        email_key TEXT,
        name TEXT,
        created_at {real} NOT NULL,
        updated_at {real} NOT NULL
    )""",
    "CREATE INDEX people_by_email ON people (email_key) WHERE email_key IS NOT NULL",
    """CREATE TABLE accounts (
        site TEXT NOT NULL,
        account_id TEXT NOT NULL,
        display_name TEXT,
        account_type TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        email TEXT,
        email_key TEXT,
        email_source TEXT,
        updated_at {real} NOT NULL,
        PRIMARY KEY (site, account_id)
    )""",
    "CREATE INDEX accounts_by_account ON accounts (account_id)",
    "CREATE INDEX accounts_by_email ON accounts (email_key) WHERE email_key IS NOT NULL",
    """CREATE TABLE account_mappings (
        site TEXT NOT NULL,
        account_id TEXT NOT NULL,
        person_id TEXT NOT NULL,
        how TEXT NOT NULL,
        mapped_at {real} NOT NULL,
        PRIMARY KEY (site, account_id)
    )""",
    "CREATE INDEX account_mappings_by_person ON account_mappings (person_id)",
    """CREATE TABLE account_conflicts (
        site TEXT NOT NULL,
        account_id TEXT NOT NULL,
        person_ids TEXT NOT NULL,
        found_at {real} NOT NULL,
        PRIMARY KEY (site, account_id)
    )""",
    "ALTER TABLE deliveries ADD COLUMN held_site TEXT",
    "ALTER TABLE deliveries ADD COLUMN held_account TEXT",
    """CREATE INDEX deliveries_held ON deliveries (held_account, id)
        WHERE held_account IS NOT NULL""",
)

_V13 = both(
    """CREATE TABLE sync_adapters (
        name TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        project_key TEXT NOT NULL,
        issue_type TEXT NOT NULL,
        statuses TEXT NOT NULL,
        priorities TEXT NOT NULL,
        created_at {real} NOT NULL
    )""",
    """CREATE TABLE sync_links (
        adapter TEXT NOT NULL,
        item_id TEXT NOT NULL,
        site TEXT NOT NULL,
        label TEXT NOT NULL,
        issue_id TEXT,
        issue_key TEXT,
        browse_url TEXT,
        pushed TEXT NOT NULL DEFAULT '{}',
        local_status TEXT,
        jira_status_id TEXT,
        creating_since {real},
        created_at {real} NOT NULL,
        updated_at {real} NOT NULL,
        PRIMARY KEY (adapter, item_id)
    )""",
    "CREATE INDEX sync_links_by_issue ON sync_links (site, issue_id)",
    """CREATE TABLE sync_outbox (
        id {id},
        adapter TEXT NOT NULL,
        item_id TEXT NOT NULL,
        change TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at {real} NOT NULL,
        last_error TEXT,
        lease_owner TEXT,
        lease_until {real},
        created_at {real} NOT NULL,
        updated_at {real} NOT NULL
    )""",
    "CREATE INDEX sync_outbox_due ON sync_outbox (state, next_attempt_at)",
    "CREATE INDEX sync_outbox_by_item ON sync_outbox (adapter, item_id, id)",
    """CREATE TABLE sync_transitions (
        id {id},
        site TEXT NOT NULL,
        issue_id TEXT NOT NULL,
        from_status TEXT NOT NULL,
        to_status TEXT NOT NULL,
        state TEXT NOT NULL,
        at {real} NOT NULL
    )""",
    "CREATE INDEX sync_transitions_by_issue ON sync_transitions (site, issue_id, to_status)",
    """CREATE TABLE sync_processed (
        site TEXT NOT NULL,
        change_key TEXT NOT NULL,
        processed_at {real} NOT NULL,
        PRIMARY KEY (site, change_key)
    )""",
)


# People's clocks, shared by every instance (the job that reads them moves with its lease): when
# the personal data report is next due, and since when no door has reached a site whose accounts
# are stored (erased after a day of that).
_V16 = both(
    """CREATE TABLE people_schedule (
        name TEXT PRIMARY KEY,
        due_at {real} NOT NULL
    )""",
    """CREATE TABLE people_unreachable (
        site TEXT PRIMARY KEY,
        since {real} NOT NULL
    )""",
)

FEATURES: tuple[Migration, ...] = (
    Migration(
        12, "people, the Jira accounts of each site, mappings, conflicts, held deliveries", *_V12
    ),
    Migration(
        13, "two-way sync: adapters, links, the outbox, its transitions, changes seen", *_V13
    ),
    Migration(16, "people: when the report is due, since when a site is out of reach", *_V16),
)
