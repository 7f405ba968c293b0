"""People in the running server: the worker's decision for each delivery (`UNMAPPED_ACTORS`), who
an event concerns, releasing held deliveries when their account is mapped, and the background work
that keeps each site's accounts current and reports them to Atlassian.

`addon.people` holds the plain logic and the tables; this module calls Jira for a site through
whatever door reaches it (`addon.reach`), so it never knows which door brought a delivery.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from addon.doors import JiraClientFactory, Job
from addon.handlers import Event, NoJiraClient
from addon.people import (
    DEFAULT_CYCLE_SECONDS,
    EMAIL_BULK_PATH,
    USER_SEARCH_PATH,
    AccountState,
    AccountType,
    BadPerson,
    Directory,
    EmailSource,
    Handling,
    HeldDeliveries,
    PeopleOfEvent,
    PeopleSchedule,
    PeopleStore,
    Person,
    Reported,
    ReportFailed,
    SyncResult,
    UnmappedActors,
    account_from_user,
    apply_user_event,
    forget_closed,
    report_accounts,
    report_url,
    sync_accounts,
)
from addon.people._sync import USER_CREATED, USER_DELETED, USER_UPDATED
from addon.reach import SiteUnreachable, site_name
from addon.store import Delivery, Store
from addon.worker import Admission
from descriptor import people_of

__all__ = ["USER_EVENTS", "PeopleService"]

logger = logging.getLogger("addon.people")

USER_EVENTS = USER_CREATED | USER_UPDATED | USER_DELETED
USER_PATH = "/rest/api/3/user"
UPKEEP_SECONDS = 600.0
REFRESH_SECONDS = 86_400.0
REPORT_CHECK_SECONDS = 3_600.0
LOOKUP_AGAIN_SECONDS = 300.0
GONE_AFTER_SECONDS = 86_400.0
LOOKUP_MEMORY = 10_000

ClientFor = Callable[[str], Awaitable[JiraClientFactory]]


class JiraRefused(Exception):
    """Jira answered a people call with something other than 200."""


class PeopleService:
    """People, accounts and held deliveries on one store, calling Jira through `client_for`."""

    def __init__(
        self,
        store: Store,
        client_for: ClientFor,
        *,
        policy: UnmappedActors = UnmappedActors.HOLD,
        email_api: bool = False,
        report_client: Callable[[str], Awaitable[httpx.AsyncClient]] | None = None,
        report_url: str | None = None,
        listed_sites: Callable[[], Awaitable[Sequence[str]]] | None = None,
        left_sites: Callable[[], Awaitable[Sequence[str]]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.people = PeopleStore(store.db)
        self.directory = Directory(self.people)
        self.held = HeldDeliveries(store.db)
        self.schedule = PeopleSchedule(store.db)
        self.policy = policy
        self.email_api = email_api
        self._client_for = client_for
        self._report_client = report_client
        self._report_url = report_url
        self._listed_sites = listed_sites
        self._left_sites = left_sites
        self._clock = clock
        self._asked: dict[tuple[str, str], float] = {}
        self._seen_sites: set[str] = set()

    # the worker's gate

    async def admit(self, delivery: Delivery, event: Event) -> Admission:
        """Hold, skip or deliver a delivery the worker picked up, as its actor's account is now;
        a delivered event names its people. Until the directory has a person, every delivery goes
        on (with no people): there is no one to map an account to yet."""
        if event.origin.site_url is None:
            return Admission(event)  # no site to map its accounts against
        site = site_name(event.origin.site_url)
        if len(self._seen_sites) < LOOKUP_MEMORY:
            self._seen_sites.add(site)  # its accounts are imported at the next upkeep
        if event.name in USER_EVENTS and isinstance(event.payload, Mapping):
            await self.user_event(site, event.name, event.payload)
        if not await self._has_people():
            return Admission(event)  # no directory yet: nothing to map to, nothing to wait for
        ids = people_of(event.name, event.payload)
        actor = ids.actor
        if actor is not None and not await self._typed(site, actor):
            await self._lookup_once(site, actor)  # a Forge atlassianId carries no account type
        decision = await self.directory.handling_for(self.policy, site, actor)
        if decision is Handling.HOLD and actor is not None:
            await self.held.hold(delivery.id, site, actor)
            logger.info(
                "delivery %s held until account %s of %s is mapped", delivery.id, actor, site
            )
            return Admission(None)
        if decision is Handling.SKIP and actor is not None:
            await self.held.skip(delivery.id, actor)
            logger.info("delivery %s skipped: account %s is unmapped", delivery.id, actor)
            return Admission(None)
        people = PeopleOfEvent(
            actor=await self._person(site, actor),
            assignee=await self._person(site, ids.assignee),
            reporter=await self._person(site, ids.reporter),
        )
        after = None
        if delivery.held_site is not None and delivery.held_account is not None:
            after = functools.partial(self.release, delivery.held_site, delivery.held_account)
        return Admission(dataclasses.replace(event, people=people), after)

    async def _typed(self, site: str, account_id: str) -> bool:
        """Whether the account is stored with its type (not unknown, as from a Forge event)."""
        account = await self.people.account(site, account_id)
        return account is not None and account.account_type is not AccountType.UNKNOWN

    async def _has_people(self) -> bool:
        return await self.store.db.fetch_one("SELECT 1 AS one FROM people LIMIT 1") is not None

    async def _person(self, site: str, account_id: str | None) -> Person | None:
        if account_id is None:
            return None
        mapping = await self.people.mapping(site, account_id)
        return None if mapping is None else await self.people.person(mapping.person_id)

    # mapping, and releasing what waited for it

    async def release(self, site: str, account_id: str) -> int | None:
        """Release the next delivery held for a mapped account (one at a time, oldest first)."""
        if await self.people.mapping(site, account_id) is None:
            await self.held.clear_finished(site, account_id)
            return None
        released = await self.held.release_next(site, account_id)
        if released is not None:
            logger.info("delivery %s released: account %s is mapped", released, account_id)
        return released

    async def release_mapped(self) -> int:
        """Start releasing for every account with held deliveries that is mapped now."""
        released = 0
        for site, account_id in await self.held.waiting_accounts():
            if await self.release(site, account_id) is not None:
                released += 1
        return released

    async def map(self, site: str, account_id: str, person_id: str) -> AccountState:
        state = await self.directory.map(site_name(site), account_id, person_id)
        await self.release(state.account.site, account_id)
        return state

    async def unmap(self, site: str, account_id: str) -> bool:
        return await self.directory.unmap(site_name(site), account_id)

    async def upsert(self, people: Person | Sequence[Person]) -> int:
        written = await self.directory.upsert(people)
        await self.release_mapped()
        return written

    async def remove(self, person_id: str) -> bool:
        return await self.directory.remove(person_id)

    # accounts from Jira

    async def _get(self, site: str, path: str, params: Any) -> Any:
        factory = await self._client_for(site)
        async with factory() as jira:
            response = await jira.get(path, params=params)
        if response.status_code != 200:
            raise JiraRefused(f"{site}{path} answered {response.status_code}")
        return response.json()

    async def _emails(self, site: str, account_ids: Sequence[str]) -> dict[str, str]:
        answer = await self._get(site, EMAIL_BULK_PATH, [("accountId", a) for a in account_ids])
        items = answer if isinstance(answer, list) else [answer]
        return {
            item["accountId"]: item["email"]
            for item in items
            if isinstance(item, Mapping)
            and isinstance(item.get("accountId"), str)
            and isinstance(item.get("email"), str)
        }

    async def _lookup_once(self, site: str, account_id: str) -> None:
        """Look an unknown actor up, but not again within `LOOKUP_AGAIN_SECONDS` (each of a burst
        of deliveries by an account Jira does not show would ask again)."""
        now = self._clock()
        if now - self._asked.get((site, account_id), -LOOKUP_AGAIN_SECONDS) < LOOKUP_AGAIN_SECONDS:
            return
        if len(self._asked) >= LOOKUP_MEMORY:
            self._asked.clear()
        self._asked[(site, account_id)] = now
        await self.lookup(site, account_id)

    async def lookup(self, site: str, account_id: str) -> AccountState | None:
        """Fetch one account from Jira, store and map it; None when Jira cannot be asked."""
        try:
            user = await self._get(site, USER_PATH, {"accountId": account_id})
            account = account_from_user(site, user) if isinstance(user, Mapping) else None
            if account is None:
                return None
            if self.email_api and account.is_person and account.email is None:
                email = (await self._emails(site, [account_id])).get(account_id)
                if email:
                    account = dataclasses.replace(
                        account, email=email, email_source=EmailSource.EMAIL_API
                    )
            return await self.directory.account_changed(account)
        except (SiteUnreachable, JiraRefused, httpx.HTTPError, ValueError, BadPerson) as exc:
            logger.warning("people: could not look up account %s of %s: %s", account_id, site, exc)
            return None

    async def refresh(self, site: str) -> SyncResult:
        """Bring a site's accounts up to Jira's user search (and the email API when on)."""
        name = site_name(site)

        async def page(start: int, size: int) -> Sequence[Mapping[str, Any]]:
            found = await self._get(name, USER_SEARCH_PATH, {"startAt": start, "maxResults": size})
            return found if isinstance(found, list) else []

        emails = functools.partial(self._emails, name) if self.email_api else None
        result = await sync_accounts(self.directory, name, page, emails)
        await self.release_mapped()
        logger.info(
            "people: %s accounts of %s refreshed, %s removed", result.seen, name, result.removed
        )
        return result

    async def user_event(self, site: str, name: str, payload: Mapping[str, Any]) -> None:
        """Keep an account current from a user created/updated/deleted event."""
        try:
            changed = await apply_user_event(self.directory, site, name, payload)
        except BadPerson as exc:
            logger.warning("people: %s from %s not stored: %s", name, site, exc)
            return
        if changed is not None and name not in USER_DELETED:
            account = await self.people.account(site, changed)
            untyped = account is None or account.account_type is AccountType.UNKNOWN
            if untyped or (account is not None and account.email is None and self.email_api):
                await self.lookup(site, changed)  # Forge's user is `{accountId}` alone
            await self.release(site, changed)

    async def forget_site(self, site: str) -> int:
        removed = await self.people.remove_site(site_name(site))
        if removed:
            logger.info("people: erased %s accounts of %s", removed, site)
        return removed

    # background work

    async def known_sites(self) -> list[str]:
        """Installed Connect tenants' sites, the sites the other doors list (OAuth sites, Forge
        installations: `listed_sites`), the sites deliveries came from (whatever their door), and
        every site with stored accounts."""
        sites = {site_name(t.base_url) for t in await self.store.tenants.all() if t.active}
        if self._listed_sites is not None:
            sites.update(await self._listed_sites())
        sites.update(self._seen_sites)
        sites.update(a.site for a in await self.people.accounts())
        return sorted(sites)

    async def _reachable(self, site: str) -> bool:
        try:
            await self._client_for(site)
        except SiteUnreachable:
            return False
        return True

    async def upkeep(self) -> None:
        """Import the accounts of a site no account is stored for yet; erase those of a site no
        door can reach any more: at once after an uninstall (Connect, Forge) or an OAuth disconnect,
        else once it has stayed out of reach for `GONE_AFTER_SECONDS`, so that a passing fault of a door
        erases no mapping; release what mapped accounts wait for."""
        now = self._clock()
        uninstalled = {
            site_name(t.base_url) for t in await self.store.tenants.all() if not t.active
        }
        if self._left_sites is not None:
            uninstalled.update(await self._left_sites())  # a Forge uninstall, an OAuth disconnect
        for site in await self.known_sites():
            has_accounts = bool(await self.people.account_ids(site))
            if await self._reachable(site):
                await self.schedule.reachable(site)
                if not has_accounts:
                    await self._try(self.refresh(site), site)
                continue
            if not has_accounts:
                await self.schedule.reachable(site)  # nothing to erase, nothing to time
                continue
            since = await self.schedule.unreachable_since(site, now)
            if site in uninstalled or now - since >= GONE_AFTER_SECONDS:
                await self.forget_site(site)
                await self.schedule.reachable(site)
        await self.release_mapped()

    async def refresh_all(self) -> None:
        for site in await self.known_sites():
            if await self._reachable(site):
                await self._try(self.refresh(site), site)

    async def _try(self, call: Awaitable[object], site: str) -> None:
        try:
            await call
        except (JiraRefused, httpx.HTTPError, ValueError) as exc:
            logger.warning("people: could not refresh the accounts of %s: %s", site, exc)

    async def report(self) -> dict[str, Reported]:
        """Report each reachable site's stored account ids to Atlassian; forget the closed ones,
        refresh the updated ones."""
        done: dict[str, Reported] = {}
        sites = sorted({a.site for a in await self.people.accounts()})
        for site in sites:
            if not await self._reachable(site):
                continue
            rows = await self.store.db.fetch_all(
                "SELECT account_id, updated_at FROM accounts WHERE site = ? ORDER BY account_id",
                (site,),
            )
            pairs = [(row["account_id"], float(row["updated_at"])) for row in rows]
            try:
                client, url = await self._reporter(site)
                async with client:
                    reported = await report_accounts(client, pairs, url=url)
            except (ReportFailed, httpx.HTTPError, ValueError, LookupError, NoJiraClient) as exc:
                logger.warning("people: could not report the accounts of %s: %s", site, exc)
                continue
            await forget_closed(self.store.db, reported.closed)
            for account_id in reported.updated:
                await self.lookup(site, account_id)
            done[site] = reported
            logger.info(
                "people: reported %s accounts of %s: %s closed, %s updated",
                len(pairs), site, len(reported.closed), len(reported.updated),
            )  # fmt: skip
        return done

    async def _reporter(self, site: str) -> tuple[httpx.AsyncClient, str]:
        """A client for the site's reporting call and where it goes (`report_url`): on the site
        for a Connect tenant, on Atlassian's gateway for an OAuth site or a Forge installation."""
        if self._report_client is not None:
            return await self._report_client(site), self._report_url or report_url(None)
        factory = await self._client_for(site)
        return factory(), self._report_url or report_url(factory.gateway)

    async def report_when_due(self) -> None:
        """Report on the schedule the last answer's `Cycle-Period` set (seven days by default)."""
        now = self._clock()
        if now < await self.schedule.report_due_at():
            return
        reports = await self.report()
        cycle = min((r.cycle_seconds for r in reports.values()), default=DEFAULT_CYCLE_SECONDS)
        await self.schedule.report_due(now + cycle)

    def jobs(self) -> list[Job]:
        return [
            Job("people-upkeep", UPKEEP_SECONDS, self.upkeep),
            Job("people-refresh", REFRESH_SECONDS, self.refresh_all),
            Job("people-report", REPORT_CHECK_SECONDS, self.report_when_due),
        ]
