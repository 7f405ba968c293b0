"""Two-way sync: push the user's items to Jira issues and bring their status back, once each,
without echoes.

Blind to the door: `Sync` reaches a site's Jira through a client factory by site URL (the app
gives `Reach.client_for`). The app factory builds one `Sync` (`app.state.services.sync`,
`event.sync` in handlers, `addon.sync_of(app)`); its outbox runs as leased jobs, and the worker
feeds it every accepted delivery so that status comes back as `sync:status_changed`.
"""

from addon.sync._derive import APP_ACTING_KINDS, ORIGIN_KIND, Derive
from addon.sync._errors import (
    AdapterExists,
    InvalidAdapter,
    InvalidItem,
    JiraRefused,
    JiraUnavailable,
    MapError,
    SyncError,
    UnknownAdapter,
    UnmappedValue,
)
from addon.sync._incoming import (
    ISSUE_CHANGED,
    STATUS_CHANGED,
    FieldChange,
    IssueChanged,
    JiraStatus,
    StatusCategories,
    StatusChanged,
    change_key,
    incoming_change,
)
from addon.sync._jira import ClientFactory, JiraCalls, adf, retry_after
from addon.sync._maps import (
    CATEGORIES,
    DEFAULT_PRIORITIES,
    DEFAULT_STATUSES,
    StatusTarget,
    local_status_for,
    parse_priorities,
    parse_statuses,
)
from addon.sync._outbox import LEASE_SECONDS, MAX_ATTEMPTS, OutboxRunner, backoff
from addon.sync._push import MAX_TRANSITIONS, SEARCH_LAG_SECONDS, Pusher
from addon.sync._records import (
    Adapter,
    Change,
    Link,
    OutboxEntry,
    OutboxState,
    check_item_id,
    new_adapter,
    sync_label,
)
from addon.sync._store import ECHO_SECONDS, SyncStore
from addon.sync._sync import OUTBOX_EVERY, Pushed, SiteClients, Sync, sync_of

__all__ = [
    "APP_ACTING_KINDS",
    "CATEGORIES",
    "DEFAULT_PRIORITIES",
    "DEFAULT_STATUSES",
    "ECHO_SECONDS",
    "ISSUE_CHANGED",
    "LEASE_SECONDS",
    "MAX_ATTEMPTS",
    "MAX_TRANSITIONS",
    "ORIGIN_KIND",
    "OUTBOX_EVERY",
    "SEARCH_LAG_SECONDS",
    "STATUS_CHANGED",
    "Adapter",
    "AdapterExists",
    "Change",
    "ClientFactory",
    "Derive",
    "FieldChange",
    "InvalidAdapter",
    "InvalidItem",
    "IssueChanged",
    "JiraCalls",
    "JiraRefused",
    "JiraStatus",
    "JiraUnavailable",
    "Link",
    "MapError",
    "OutboxEntry",
    "OutboxRunner",
    "OutboxState",
    "Pushed",
    "Pusher",
    "SiteClients",
    "StatusCategories",
    "StatusChanged",
    "StatusTarget",
    "Sync",
    "SyncError",
    "SyncStore",
    "UnknownAdapter",
    "UnmappedValue",
    "adf",
    "backoff",
    "change_key",
    "check_item_id",
    "incoming_change",
    "local_status_for",
    "new_adapter",
    "parse_priorities",
    "parse_statuses",
    "retry_after",
    "sync_label",
    "sync_of",
]
