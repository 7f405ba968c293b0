"""UNMAPPED_ACTORS: only a human account that is no one yet is held or skipped."""

from __future__ import annotations

import pytest

from addon.people import AccountType, Handling, MappingState, UnmappedActors, handling

HOLD, SKIP, DELIVER = UnmappedActors.HOLD, UnmappedActors.SKIP, UnmappedActors.DELIVER


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(HOLD, Handling.HOLD), (SKIP, Handling.SKIP), (DELIVER, Handling.DELIVER)],
)
@pytest.mark.parametrize(
    ("account_type", "state"),
    [
        (AccountType.ATLASSIAN, MappingState.UNMAPPED),
        (AccountType.ATLASSIAN, MappingState.CONFLICT),
        (None, None),  # a Forge atlassianId of an account not known yet
    ],
)
def test_an_unmapped_human_actor_follows_the_policy(
    policy: UnmappedActors,
    expected: Handling,
    account_type: AccountType | None,
    state: MappingState | None,
) -> None:
    assert handling(policy, "5b10ac8d82e05b22cc7d4ef5", account_type, state) is expected


@pytest.mark.parametrize("policy", list(UnmappedActors))
@pytest.mark.parametrize(
    ("actor", "account_type", "state"),
    [
        ("5b10ac8d82e05b22cc7d4ef5", AccountType.ATLASSIAN, MappingState.MAPPED),
        (None, None, None),
        ("557058:app", AccountType.APP, MappingState.NOT_A_PERSON),
        ("qm:customer", AccountType.CUSTOMER, None),
        ("unknown-type", None, MappingState.NOT_A_PERSON),
    ],
)
def test_mapped_actors_no_actor_and_non_people_are_always_delivered(
    policy: UnmappedActors,
    actor: str | None,
    account_type: AccountType | None,
    state: MappingState | None,
) -> None:
    assert handling(policy, actor, account_type, state) is Handling.DELIVER
