"""A site's accounts from Jira's paged user search (and the email API when on), and kept current
from user events; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from addon.people import (
    AccountType,
    Directory,
    EmailSource,
    MappingState,
    Person,
    apply_user_event,
    sync_accounts,
)
from addon.store import Store
from tests.people.support import SITE, run


def user(n: int, kind: str = "atlassian", email: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "accountId": f"acc-{n}",
        "accountType": kind,
        "displayName": f"User {n}",
        "active": True,
    }
    if email is not None:
        found["emailAddress"] = email
    return found


class FakeJira:
    """Jira's user search over a list, page by page, and its email API; records the calls."""

    def __init__(self, users: list[dict[str, Any]], emails: Mapping[str, str] = {}) -> None:
        self.users = users
        self.emails = dict(emails)
        self.pages: list[tuple[int, int]] = []
        self.email_calls: list[list[str]] = []

    async def page(self, start_at: int, max_results: int) -> Sequence[Mapping[str, Any]]:
        self.pages.append((start_at, max_results))
        return self.users[start_at : start_at + max_results]

    async def bulk_emails(self, account_ids: Sequence[str]) -> Mapping[str, str]:
        self.email_calls.append(list(account_ids))
        return {a: self.emails[a] for a in account_ids if a in self.emails}


def test_sync_pages_through_every_user_and_maps_by_visible_email(database_url: str) -> None:
    users = [user(n) for n in range(5)] + [user(5, email="Five@Example.com"), user(6, "app")]
    jira = FakeJira(users)

    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert(Person("p5", "five@example.com"))
        result = await sync_accounts(directory, SITE, jira.page, page_size=3)
        assert jira.pages == [(0, 3), (3, 3), (6, 3)]
        assert (result.seen, result.removed, result.refused) == (7, 0, 0)
        states = {s.account.account_id: s for s in await directory.states(SITE)}
        assert states["acc-5"].person_id == "p5"
        assert states["acc-6"].state is MappingState.NOT_A_PERSON
        assert states["acc-6"].account.account_type is AccountType.APP
        assert states["acc-0"].state is MappingState.UNMAPPED

        jira.users = users[1:]
        again = await sync_accounts(directory, SITE, jira.page, page_size=3)
        assert (again.seen, again.removed) == (6, 1)
        assert await directory.store.account(SITE, "acc-0") is None

    run(database_url, scenario)


def test_the_email_api_fills_hidden_emails_of_people_only(database_url: str) -> None:
    users = [user(1), user(2, email="two@example.com"), user(3, "app"), user(4)]
    jira = FakeJira(users, {"acc-1": "one@example.com", "acc-3": "bot@example.com"})

    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert([Person("p1", "ONE@example.com"), Person("p2", "two@example.com")])
        await sync_accounts(directory, SITE, jira.page, jira.bulk_emails)
        assert jira.email_calls == [["acc-1", "acc-4"]]  # hidden emails of atlassian accounts
        one = await directory.state(SITE, "acc-1")
        assert one is not None
        assert (one.person_id, one.account.email_source) == ("p1", EmailSource.EMAIL_API)
        two = await directory.state(SITE, "acc-2")
        assert two is not None
        assert (two.person_id, two.account.email_source) == ("p2", EmailSource.PROFILE)

    run(database_url, scenario)


def test_a_user_that_cannot_be_stored_costs_no_other(database_url: str) -> None:
    jira = FakeJira([user(1), {"accountId": "x" * 300, "accountType": "atlassian"}, {}, user(2)])

    async def scenario(store: Store, directory: Directory) -> None:
        result = await sync_accounts(directory, SITE, jira.page)
        assert (result.seen, result.refused) == (3, 1)
        assert await directory.store.account_ids(SITE) == ["acc-1", "acc-2"]

    run(database_url, scenario)


def test_user_events_keep_accounts_current(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert(Person("p1", "one@example.com"))
        created = {"webhookEvent": "user_created", "user": user(1, email="one@example.com")}
        assert await apply_user_event(directory, SITE, "user_created", created) == "acc-1"
        assert (await directory.state(SITE, "acc-1")).person_id == "p1"  # type: ignore[union-attr]

        renamed = {**user(1), "displayName": "Renamed", "active": False}
        await apply_user_event(directory, SITE, "user_updated", {"user": renamed})
        account = await directory.store.account(SITE, "acc-1")
        assert account is not None
        assert (account.display_name, account.active, account.email) == (
            "Renamed",
            False,
            "one@example.com",
        )
        # Forge's user is {accountId} alone: the type already known is kept
        forge = {"eventType": "avi:jira:updated:user", "user": {"accountId": "acc-1"}}
        await apply_user_event(directory, SITE, "avi:jira:updated:user", forge)
        assert (await directory.state(SITE, "acc-1")).state is MappingState.MAPPED  # type: ignore[union-attr]

        assert await apply_user_event(directory, SITE, "jira:issue_updated", created) is None
        assert await apply_user_event(directory, SITE, "user_deleted", {"user": "nonsense"}) is None
        deleted = {"user": {"accountId": "acc-1"}}
        assert await apply_user_event(directory, SITE, "user_deleted", deleted) == "acc-1"
        assert await directory.store.account(SITE, "acc-1") is None
        assert await directory.store.mappings(SITE) == []

    run(database_url, scenario)
