"""The refusals of the people feature, each with a reason a person can act on."""

from __future__ import annotations

__all__ = [
    "BadPerson",
    "ImportFailed",
    "NotAPerson",
    "UnknownAccount",
    "UnknownPerson",
]


class BadPerson(ValueError):
    """A person (or an account value) that cannot be stored: missing id, a value too long."""


class UnknownPerson(LookupError):
    """No person has this id."""


class UnknownAccount(LookupError):
    """No account of this site has this id."""


class NotAPerson(ValueError):
    """An `app` or `customer` account, which is never mapped to a person."""


class ImportFailed(ValueError):
    """A file of people that cannot be read at all (not a row: a bad row is reported, not raised)."""
