"""Two-way sync: push the user's items to Jira issues and bring their status back, once each,
without echoes.

Blind to the door: the caller gives a `ClientFactory` that opens an `httpx.AsyncClient` for a
site (its base URL the site's REST root, its auth the door's). Not wired yet: `sync.push` in
`addon`, `event.sync`, `POST /sync/{adapter}/items/{item_id}`, the worker running the outbox,
status changes from the pipeline, the inspector's Sync page.
"""

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

__all__ = [
    "CATEGORIES",
    "DEFAULT_PRIORITIES",
    "DEFAULT_STATUSES",
    "ECHO_SECONDS",
    "ISSUE_CHANGED",
    "LEASE_SECONDS",
    "MAX_ATTEMPTS",
    "MAX_TRANSITIONS",
    "SEARCH_LAG_SECONDS",
    "STATUS_CHANGED",
    "Adapter",
    "AdapterExists",
    "Change",
    "ClientFactory",
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
    "Pusher",
    "StatusCategories",
    "StatusChanged",
    "StatusTarget",
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
]
