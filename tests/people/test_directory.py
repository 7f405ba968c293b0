"""People and accounts: upsert by id, automatic mapping by email only, conflicts, manual mapping,
`app` and `customer` accounts left out, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from addon.people import (
    Account,
    AccountType,
    BadPerson,
    Directory,
    EmailSource,
    MappedBy,
    MappingState,
    NotAPerson,
    Person,
    UnknownAccount,
    UnknownPerson,
)
from addon.store import Store
from tests.people.support import OTHER_SITE, SITE, run


def human(account_id: str, email: str | None = None, site: str = SITE, **extra: object) -> Account:
    return Account(
        site=site,
        account_id=account_id,
        account_type=AccountType.ATLASSIAN,
        display_name=extra.pop("name", f"User {account_id}"),  # type: ignore[arg-type]
        email=email,
        email_source=EmailSource.PROFILE if email else None,
        **extra,  # type: ignore[arg-type]
    )


def test_people_are_upserted_by_id_one_or_a_list(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        assert await directory.upsert(Person("u1", "ada@example.com", "Ada")) == 1
        assert (
            await directory.upsert([Person("u1", "ada@new.example", "Ada L."), Person("u2")]) == 2
        )
        assert await directory.store.people() == [
            Person("u1", "ada@new.example", "Ada L."),
            Person("u2"),
        ]
        assert await directory.remove("u2") is True
        assert await directory.remove("u2") is False
        assert [p.id for p in await directory.store.people()] == ["u1"]

    run(database_url, scenario)


def test_values_past_255_bytes_are_refused_with_a_reason() -> None:
    with pytest.raises(BadPerson, match="the name is longer than 255 bytes"):
        Person("u1", None, "é" * 128)
    assert Person("u1", None, "é" * 127).name == "é" * 127


def test_an_account_maps_by_trimmed_case_folded_email_never_by_name(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert(
            [Person("u1", " Ada@Example.COM ", "Ada"), Person("u2", None, "Bob")]
        )
        mapped = await directory.account_changed(human("acc-ada", "ada@example.com"))
        assert (mapped.state, mapped.person_id, mapped.how) == (
            MappingState.MAPPED,
            "u1",
            MappedBy.AUTO,
        )
        by_name = await directory.account_changed(human("acc-bob", None, name="Bob"))
        assert by_name.state is MappingState.UNMAPPED
        assert by_name.person_id is None

    run(database_url, scenario)


def test_a_person_added_later_maps_the_accounts_waiting_for_them(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        await directory.account_changed(human("acc-1", "cy@example.com"))
        await directory.account_changed(human("acc-1", "cy@example.com", site=OTHER_SITE))
        assert (await directory.state(SITE, "acc-1")).state is MappingState.UNMAPPED  # type: ignore[union-attr]
        await directory.upsert(Person("u3", "CY@example.com"))
        for site in (SITE, OTHER_SITE):
            state = await directory.state(site, "acc-1")
            assert state is not None
            assert (state.state, state.person_id) == (MappingState.MAPPED, "u3")
        await directory.upsert(Person("u3", "other@example.com"))
        assert (await directory.state(SITE, "acc-1")).state is MappingState.UNMAPPED  # type: ignore[union-attr]

    run(database_url, scenario)


def test_an_email_two_people_share_is_a_conflict_not_a_guess(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert(Person("u1", "team@example.com"))
        await directory.account_changed(human("acc-1", "team@example.com"))
        assert (await directory.state(SITE, "acc-1")).person_id == "u1"  # type: ignore[union-attr]
        await directory.upsert(Person("u2", "Team@example.com"))
        state = await directory.state(SITE, "acc-1")
        assert state is not None
        assert (state.state, state.person_id, state.candidates) == (
            MappingState.CONFLICT,
            None,
            ("u1", "u2"),
        )
        resolved = await directory.map(SITE, "acc-1", "u2")
        assert (resolved.state, resolved.person_id, resolved.how) == (
            MappingState.MAPPED,
            "u2",
            MappedBy.MANUAL,
        )
        assert await directory.store.conflict(SITE, "acc-1") is None
        await directory.upsert(Person("u3", "team@example.com"))  # a manual choice stands
        assert (await directory.state(SITE, "acc-1")).person_id == "u2"  # type: ignore[union-attr]

    run(database_url, scenario)


def test_app_and_customer_accounts_are_listed_apart_and_never_mapped(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert(Person("u1", "bot@example.com"))
        for account_id, kind in (("app-1", AccountType.APP), ("cust-1", AccountType.CUSTOMER)):
            account = Account(SITE, account_id, kind, "Bot", email="bot@example.com")
            state = await directory.account_changed(account)
            assert state.state is MappingState.NOT_A_PERSON
            with pytest.raises(NotAPerson, match="only 'atlassian' accounts are mapped"):
                await directory.map(SITE, account_id, "u1")
        await directory.account_changed(human("acc-1"))
        await directory.account_changed(human("acc-2", "bot@example.com"))
        states = await directory.states(SITE)
        assert [(s.account.account_id, s.state) for s in states] == [
            ("acc-1", MappingState.UNMAPPED),
            ("acc-2", MappingState.MAPPED),
            ("app-1", MappingState.NOT_A_PERSON),
            ("cust-1", MappingState.NOT_A_PERSON),
        ]
        mappings = await directory.store.mappings()
        assert [(m.account_id, m.person_id) for m in mappings] == [("acc-2", "u1")]

    run(database_url, scenario)


def test_manual_map_and_unmap_one_account_per_site(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        await directory.upsert([Person("u1"), Person("u2")])
        await directory.account_changed(human("acc-1"))
        await directory.account_changed(human("acc-1", site=OTHER_SITE))
        await directory.map(SITE, "acc-1", "u1")
        await directory.map(SITE, "acc-1", "u2")  # replaces: at most one person per site
        await directory.map(OTHER_SITE, "acc-1", "u2")
        assert [(m.site, m.person_id) for m in await directory.store.mappings()] == [
            (SITE, "u2"),
            (OTHER_SITE, "u2"),
        ]
        with pytest.raises(UnknownPerson):
            await directory.map(SITE, "acc-1", "nobody")
        with pytest.raises(UnknownAccount):
            await directory.map(SITE, "acc-404", "u1")
        assert await directory.unmap(SITE, "acc-1") is True
        assert (await directory.state(SITE, "acc-1")).state is MappingState.UNMAPPED  # type: ignore[union-attr]
        assert await directory.remove("u2") is True
        assert (await directory.state(OTHER_SITE, "acc-1")).state is MappingState.UNMAPPED  # type: ignore[union-attr]

    run(database_url, scenario)


def test_an_email_already_known_survives_an_update_without_one(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        await directory.account_changed(human("acc-1", "ada@example.com", name="Ada"))
        await directory.account_changed(human("acc-1", None, name="Ada L.", active=False))
        account = await directory.store.account(SITE, "acc-1")
        assert account is not None
        assert (account.email, account.email_source, account.display_name, account.active) == (
            "ada@example.com",
            EmailSource.PROFILE,
            "Ada L.",
            False,
        )

    run(database_url, scenario)


def test_an_account_value_past_255_bytes_is_refused(database_url: str) -> None:
    async def scenario(store: Store, directory: Directory) -> None:
        with pytest.raises(BadPerson, match="an account id is longer than 255 bytes"):
            await directory.account_changed(human("x" * 256))
        assert await directory.store.accounts() == []

    run(database_url, scenario)
