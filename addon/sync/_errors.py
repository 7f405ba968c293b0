"""The sync's refusals and failures, one class per kind."""

from __future__ import annotations

__all__ = [
    "AdapterExists",
    "InvalidAdapter",
    "InvalidItem",
    "JiraRefused",
    "JiraUnavailable",
    "MapError",
    "SyncError",
    "UnknownAdapter",
    "UnmappedValue",
]


class SyncError(Exception):
    """Any refusal of the sync, with a message a person can act on."""


class MapError(SyncError):
    """A `--statuses` or `--priorities` map that cannot be read."""


class AdapterExists(SyncError):
    """`sync add` of a name already taken."""


class UnknownAdapter(SyncError):
    """No adapter of that name."""


class InvalidAdapter(SyncError):
    """An adapter's name, site, project key or issue type is not acceptable."""


class InvalidItem(SyncError):
    """A pushed item's id or fields are not acceptable (too long, wrong type)."""


class UnmappedValue(SyncError):
    """A local status or priority the adapter has no mapping for, or a Jira name the site lacks."""


class JiraRefused(SyncError):
    """Jira answered 4xx (not 429): retrying the same change cannot help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"Jira answered {status}: {detail}")
        self.status = status


class JiraUnavailable(SyncError):
    """429, 5xx, or no answer: retry after `retry_after` seconds (Jira's, when it sent one).

    `unclear` is true when Jira may have acted all the same (no answer, or 5xx to a write).
    """

    def __init__(self, detail: str, *, retry_after: float | None = None, unclear: bool = False):
        super().__init__(detail)
        self.retry_after = retry_after
        self.unclear = unclear
