"""Deciding which person an account is: plain values in, a plain decision out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from addon.people._records import Account, MappedBy, MappingState

__all__ = ["AccountState", "Decision", "automatic"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What automatic mapping makes of an account: map it to a person, record a conflict between
    several, or leave it unmapped."""

    state: MappingState
    person_id: str | None = None
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account with its mapping state: mapped to whom (and how), unmapped, in conflict between
    `candidates`, or not a person at all."""

    account: Account
    state: MappingState
    person_id: str | None = None
    how: MappedBy | None = None
    candidates: tuple[str, ...] = ()


def automatic(account: Account, same_email: Sequence[str]) -> Decision:
    """Map by email alone (`same_email`: the people whose trimmed, case-folded email is the
    account's), never by display name: one such person maps, several are a conflict to resolve by
    hand, none leaves the account unmapped. `app` and `customer` accounts are never people."""
    if not account.is_person:
        return Decision(MappingState.NOT_A_PERSON)
    people = tuple(sorted(set(same_email)))
    if len(people) == 1:
        return Decision(MappingState.MAPPED, people[0])
    if len(people) > 1:
        return Decision(MappingState.CONFLICT, candidates=people)
    return Decision(MappingState.UNMAPPED)
