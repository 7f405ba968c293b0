"""The plain records of the people feature: people, accounts, mapping states, and the bounds on
the values that are indexed."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from addon.people._errors import BadPerson
from addon.store import fits_index, storable_text

__all__ = [
    "Account",
    "AccountType",
    "EmailSource",
    "MappedBy",
    "MappingState",
    "PeopleOfEvent",
    "Person",
    "email_key",
    "indexed",
]


class AccountType(enum.StrEnum):
    """Jira's `accountType`: only `atlassian` accounts are people."""

    ATLASSIAN = "atlassian"
    APP = "app"
    CUSTOMER = "customer"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: object) -> AccountType:
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN


class EmailSource(enum.StrEnum):
    """Where an account's email came from."""

    PROFILE = "profile"
    """The user object, because its owner made the email visible."""
    EMAIL_API = "email_api"
    """Jira's email API (`JIRA_EMAIL_API=on`)."""


class MappedBy(enum.StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


class MappingState(enum.StrEnum):
    MAPPED = "mapped"
    UNMAPPED = "unmapped"
    CONFLICT = "conflict"
    NOT_A_PERSON = "not_a_person"
    """An `app` or `customer` account: listed apart, never mapped."""


def indexed(what: str, value: str) -> str:
    """`value` made storable, or `BadPerson` if it is too long for an index (255 bytes)."""
    text = storable_text(value)
    if not fits_index(text):
        raise BadPerson(f"{what} is longer than 255 bytes; shorten it")
    return text


def email_key(email: str | None) -> str | None:
    """What emails are compared by: trimmed and case-folded; None when empty."""
    if email is None:
        return None
    key = email.strip().casefold()
    return key or None


@dataclass(frozen=True, slots=True)
class Person:
    """One of the user's own people, by the user's own id."""

    id: str
    email: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise BadPerson("a person needs a non-empty id")
        object.__setattr__(self, "id", indexed("the id", self.id.strip()))
        email = self.email.strip() if isinstance(self.email, str) else None
        if email and "@" not in email:
            raise BadPerson("the email has no '@'")
        object.__setattr__(self, "email", indexed("the email", email) if email else None)
        name = self.name.strip() if isinstance(self.name, str) else None
        object.__setattr__(self, "name", indexed("the name", name) if name else None)


@dataclass(frozen=True, slots=True)
class Account:
    """A Jira account of one site (named by its URL)."""

    site: str
    account_id: str
    account_type: AccountType
    display_name: str | None = None
    active: bool = True
    email: str | None = None
    email_source: EmailSource | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "site", self.site.rstrip("/"))

    @property
    def is_person(self) -> bool:
        return self.account_type is AccountType.ATLASSIAN


@dataclass(frozen=True, slots=True)
class PeopleOfEvent:
    """Who an event concerns, as the user's own people: None where the event names no account,
    or an account that is no mapped person."""

    actor: Person | None = None
    assignee: Person | None = None
    """Issue events only."""
    reporter: Person | None = None
    """Issue events only."""
