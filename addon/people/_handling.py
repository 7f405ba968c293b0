"""What to do with a delivery whose actor may be no known person: `UNMAPPED_ACTORS`."""

from __future__ import annotations

import enum

from addon.people._records import AccountType, MappingState

__all__ = ["Handling", "UnmappedActors", "handling"]


class UnmappedActors(enum.StrEnum):
    """The `UNMAPPED_ACTORS` setting."""

    HOLD = "hold"
    SKIP = "skip"
    DELIVER = "deliver"


class Handling(enum.StrEnum):
    """What the worker does with a delivery."""

    DELIVER = "deliver"
    HOLD = "hold"
    SKIP = "skip"


def handling(
    policy: UnmappedActors,
    actor: str | None,
    account_type: AccountType | None,
    state: MappingState | None,
) -> Handling:
    """Deliver, hold or skip a delivery, from its actor's account id, type and mapping state.

    Only a human account that is not mapped (unmapped, in conflict, or not yet known: a Forge
    `atlassianId` carries no type, so an account never seen is taken for a person) is held or
    skipped; a delivery without an actor, or by an `app` or `customer` account, always goes on.
    """
    if actor is None or state is MappingState.MAPPED:
        return Handling.DELIVER
    if account_type is not None and account_type is not AccountType.ATLASSIAN:
        return Handling.DELIVER
    if state is MappingState.NOT_A_PERSON:
        return Handling.DELIVER
    if policy is UnmappedActors.HOLD:
        return Handling.HOLD
    if policy is UnmappedActors.SKIP:
        return Handling.SKIP
    return Handling.DELIVER
