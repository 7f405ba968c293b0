"""The people directory: the user's people, the accounts of each site, and their mappings kept
consistent (automatic by email, manual by hand, manual always winning)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from addon.people._errors import NotAPerson, UnknownAccount, UnknownPerson
from addon.people._handling import Handling, UnmappedActors, handling
from addon.people._mapping import AccountState, automatic
from addon.people._records import Account, MappedBy, MappingState, Person, email_key
from addon.people._store import Mapping, PeopleStore

__all__ = ["Directory"]


class Directory:
    """People and accounts on one store, with automatic mapping applied after every change."""

    def __init__(self, store: PeopleStore) -> None:
        self.store = store

    async def upsert(self, people: Person | Sequence[Person]) -> int:
        """Insert or update people by id, then remap every account their old or new email names."""
        batch = [people] if isinstance(people, Person) else list(people)
        keys: set[str] = set()
        for person in batch:
            before = await self.store.person(person.id)
            keys.update(k for k in (email_key(person.email), _key(before)) if k)
        written = await self.store.upsert_people(batch)
        await self._remap_emails(keys)
        return written

    async def remove(self, person_id: str) -> bool:
        """Delete a person; their accounts become unmapped (or mapped to the one person left with
        that email)."""
        before = await self.store.person(person_id)
        removed = await self.store.remove_person(person_id)
        key = _key(before)
        if key:
            await self._remap_emails({key})
        return removed

    async def account_changed(self, account: Account) -> AccountState:
        """Store an account as Jira describes it now and map it automatically if it can be."""
        await self.store.upsert_account(account)
        return await self.remap(account.site, account.account_id)

    async def remap(self, site: str, account_id: str) -> AccountState:
        """Apply automatic mapping to one account; a manual mapping is left as it is."""
        account = await self.store.account(site, account_id)
        if account is None:
            raise UnknownAccount(f"no account {account_id!r} on {site}")
        mapping = await self.store.mapping(site, account_id)
        if mapping is not None and mapping.how is MappedBy.MANUAL:
            return AccountState(account, MappingState.MAPPED, mapping.person_id, mapping.how)
        key = email_key(account.email)
        same = await self.store.people_with_email(key) if key else []
        decision = automatic(account, same)
        if decision.state is MappingState.MAPPED and decision.person_id is not None:
            await self.store.set_mapping(site, account_id, decision.person_id, MappedBy.AUTO)
            return AccountState(account, decision.state, decision.person_id, MappedBy.AUTO)
        if decision.state is MappingState.CONFLICT:
            await self.store.set_conflict(site, account_id, decision.candidates)
            return AccountState(account, decision.state, candidates=decision.candidates)
        await self.store.delete_mapping(site, account_id)
        await self.store.clear_conflict(site, account_id)
        return AccountState(account, decision.state)

    async def map(self, site: str, account_id: str, person_id: str) -> AccountState:
        """Map an account to a person by hand (resolving any conflict)."""
        account = await self.store.account(site, account_id)
        if account is None:
            raise UnknownAccount(f"no account {account_id!r} on {site}")
        if not account.is_person:
            raise NotAPerson(
                f"account {account_id!r} is an {account.account_type.value!r} account, not a"
                " person's; only 'atlassian' accounts are mapped"
            )
        if await self.store.person(person_id) is None:
            raise UnknownPerson(f"no person with id {person_id!r}")
        await self.store.set_mapping(site, account_id, person_id, MappedBy.MANUAL)
        return AccountState(account, MappingState.MAPPED, person_id, MappedBy.MANUAL)

    async def unmap(self, site: str, account_id: str) -> bool:
        """Remove an account's mapping; automatic mapping considers it again when its email or a
        person's email changes."""
        if await self.store.account(site, account_id) is None:
            raise UnknownAccount(f"no account {account_id!r} on {site}")
        return await self.store.delete_mapping(site, account_id)

    async def state(self, site: str, account_id: str) -> AccountState | None:
        account = await self.store.account(site, account_id)
        if account is None:
            return None
        return _state(
            account,
            await self.store.mapping(site, account_id),
            await self.store.conflict(site, account_id),
        )

    async def handling_for(self, policy: UnmappedActors, site: str, actor: str | None) -> Handling:
        """Deliver, hold or skip a delivery of `site` whose actor is `actor`, as its account is
        known now (taken when the worker picks the delivery up, not at ingest)."""
        if actor is None:
            return handling(policy, None, None, None)
        state = await self.state(site, actor)
        if state is None:
            return handling(policy, actor, None, None)
        return handling(policy, actor, state.account.account_type, state.state)

    async def states(self, site: str | None = None) -> list[AccountState]:
        """Every account (of one site, or all) with its mapping state: unmapped and conflicts
        first, then mapped, then the accounts that are not people."""
        mappings = {(m.site, m.account_id): m for m in await self.store.mappings(site)}
        conflicts = await self.store.conflicts(site)
        states = [
            _state(a, mappings.get((a.site, a.account_id)), conflicts.get((a.site, a.account_id)))
            for a in await self.store.accounts(site)
        ]
        order = {
            MappingState.UNMAPPED: 0,
            MappingState.CONFLICT: 1,
            MappingState.MAPPED: 2,
            MappingState.NOT_A_PERSON: 3,
        }
        return sorted(states, key=lambda s: (order[s.state], s.account.site, s.account.account_id))

    async def _remap_emails(self, keys: Iterable[str]) -> None:
        for key in keys:
            for account in await self.store.accounts_with_email(key):
                await self.remap(account.site, account.account_id)


def _key(person: Person | None) -> str | None:
    return email_key(person.email) if person is not None else None


def _state(
    account: Account, mapping: Mapping | None, conflict: tuple[str, ...] | None
) -> AccountState:
    if not account.is_person:
        return AccountState(account, MappingState.NOT_A_PERSON)
    if mapping is not None:
        return AccountState(account, MappingState.MAPPED, mapping.person_id, mapping.how)
    if conflict:
        return AccountState(account, MappingState.CONFLICT, candidates=conflict)
    return AccountState(account, MappingState.UNMAPPED)
