"""Automatic mapping as a plain decision: one person with the email maps, several conflict."""

from __future__ import annotations

from addon.people import Account, AccountType, MappingState, automatic

SITE = "https://acme.atlassian.net/"


def test_one_person_maps_several_conflict_none_leaves_it_unmapped() -> None:
    account = Account(SITE, "acc-1", AccountType.ATLASSIAN, "Ada", email="ada@example.com")
    assert account.site == "https://acme.atlassian.net"
    assert automatic(account, ["u1", "u1"]).person_id == "u1"
    conflict = automatic(account, ["u2", "u1"])
    assert (conflict.state, conflict.person_id, conflict.candidates) == (
        MappingState.CONFLICT,
        None,
        ("u1", "u2"),
    )
    assert automatic(account, []).state is MappingState.UNMAPPED


def test_accounts_that_are_not_people_never_map() -> None:
    for kind in (AccountType.APP, AccountType.CUSTOMER, AccountType.UNKNOWN):
        account = Account(SITE, "x", kind, "Bot", email="bot@example.com")
        assert automatic(account, ["u1"]).state is MappingState.NOT_A_PERSON
    assert AccountType.of("something-new") is AccountType.UNKNOWN
