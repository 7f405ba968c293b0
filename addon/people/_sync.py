"""Keeping a site's accounts current: a full sync through Jira's user search, and the user
created/updated/deleted events. Blind to the door: the caller passes what fetches from Jira."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from addon.people._directory import Directory
from addon.people._errors import BadPerson
from addon.people._records import Account, AccountType, EmailSource

__all__ = [
    "EMAIL_BULK_LIMIT",
    "EMAIL_BULK_PATH",
    "PAGE_SIZE",
    "USER_SEARCH_PATH",
    "EmailFetcher",
    "PageFetcher",
    "SyncResult",
    "account_from_user",
    "apply_user_event",
    "sync_accounts",
]

# Jira's "Get all users" (GET /rest/api/3/users/search, startAt/maxResults, "limited to 1000"):
# active, inactive and deleted users with an Atlassian account, privacy controls applied (the email
# hidden unless its owner shows it); needs the Browse users and groups global permission.
# https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-users/#api-rest-api-3-users-search-get
USER_SEARCH_PATH = "/rest/api/3/users/search"
PAGE_SIZE = 100
# "Returns a user's email address regardless of the user's profile visibility settings. For Connect
# apps, this API is only available to apps approved by Atlassian" (GET, accountId repeated):
# https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-users/#api-rest-api-3-user-email-bulk-get
# Its largest batch is not documented; a third-party importer sends 80 at a time.
EMAIL_BULK_PATH = "/rest/api/3/user/email/bulk"
EMAIL_BULK_LIMIT = 80

PageFetcher = Callable[[int, int], Awaitable[Sequence[Mapping[str, Any]]]]
"""`(start_at, max_results)` -> one page of user objects from `USER_SEARCH_PATH`."""
EmailFetcher = Callable[[Sequence[str]], Awaitable[Mapping[str, str]]]
"""Account ids (at most `EMAIL_BULK_LIMIT`) -> their emails, from `EMAIL_BULK_PATH`."""

USER_CREATED = frozenset({"user_created", "avi:jira:created:user"})
USER_UPDATED = frozenset({"user_updated", "avi:jira:updated:user"})
USER_DELETED = frozenset({"user_deleted", "avi:jira:deleted:user"})


@dataclass(frozen=True, slots=True)
class SyncResult:
    seen: int
    removed: int
    refused: int
    """User objects that could not be stored (no accountId, a value past 255 bytes)."""


def account_from_user(site: str, user: Mapping[str, Any]) -> Account | None:
    """An account from a Jira user object; None without an accountId. Its email is kept only when
    Jira showed it (a webhook's user object never carries one)."""
    account_id = user.get("accountId")
    if not isinstance(account_id, str) or not account_id:
        return None
    email = user.get("emailAddress")
    email = email if isinstance(email, str) and email.strip() else None
    name = user.get("displayName")
    return Account(
        site=site,
        account_id=account_id,
        account_type=AccountType.of(user.get("accountType", "unknown")),
        display_name=name if isinstance(name, str) and name else None,
        active=user.get("active") is not False,
        email=email,
        email_source=EmailSource.PROFILE if email else None,
    )


async def sync_accounts(
    directory: Directory,
    site: str,
    fetch_page: PageFetcher,
    fetch_emails: EmailFetcher | None = None,
    *,
    page_size: int = PAGE_SIZE,
) -> SyncResult:
    """Bring a site's accounts up to Jira's list: page through the user search until a short page,
    fill hidden emails from the email API when given, store and map each, and erase the accounts
    Jira no longer lists."""
    seen: dict[str, Account] = {}
    start = 0
    while True:
        page = await fetch_page(start, page_size)
        for user in page:
            account = account_from_user(site, user) if isinstance(user, Mapping) else None
            if account is not None:
                seen[account.account_id] = account
        if len(page) < page_size:
            break
        start += len(page)
    if fetch_emails is not None:
        seen = await _with_emails(seen, fetch_emails)
    refused = 0
    for account in seen.values():
        try:
            await directory.account_changed(account)
        except BadPerson:
            refused += 1
    removed = 0
    for account_id in await directory.store.account_ids(site):
        if account_id not in seen and await directory.store.remove_account(site, account_id):
            removed += 1
    return SyncResult(seen=len(seen), removed=removed, refused=refused)


async def _with_emails(
    accounts: dict[str, Account], fetch_emails: EmailFetcher
) -> dict[str, Account]:
    hidden = [a.account_id for a in accounts.values() if a.is_person and a.email is None]
    for at in range(0, len(hidden), EMAIL_BULK_LIMIT):
        emails = await fetch_emails(hidden[at : at + EMAIL_BULK_LIMIT])
        for account_id, email in emails.items():
            account = accounts.get(account_id)
            if account is not None and isinstance(email, str) and email.strip():
                accounts[account_id] = replace(
                    account, email=email, email_source=EmailSource.EMAIL_API
                )
    return accounts


async def apply_user_event(
    directory: Directory, site: str, event: str, payload: Mapping[str, Any]
) -> str | None:
    """Keep an account current from a user created/updated/deleted event; returns the account id
    it concerned, or None when the event is not one of those or names no account."""
    if event not in USER_CREATED | USER_UPDATED | USER_DELETED:
        return None
    user = payload.get("user")
    if not isinstance(user, Mapping):
        return None
    account = account_from_user(site, user)
    if account is None:
        return None
    if event in USER_DELETED:
        await directory.store.remove_account(site, account.account_id)
        return account.account_id
    known = await directory.store.account(site, account.account_id)
    if "accountType" not in user and known is not None:  # Forge's user is `{accountId}` alone
        account = replace(account, account_type=known.account_type)
    await directory.account_changed(account)
    return account.account_id
