"""People: the user's own people, the Jira accounts of each site, which person each account is,
and what to do with the events of an account that is no one yet. Blind to which door brought a
delivery: what calls Jira is passed in."""

from addon.people._directory import Directory
from addon.people._errors import BadPerson, ImportFailed, NotAPerson, UnknownAccount, UnknownPerson
from addon.people._forget import FORGOTTEN_TABLES, Forgotten, forget, forget_closed
from addon.people._handling import Handling, UnmappedActors, handling
from addon.people._held import HELD, HeldDeliveries
from addon.people._import import Parsed, RowProblem, parse_people
from addon.people._mapping import AccountState, Decision, automatic
from addon.people._records import (
    Account,
    AccountType,
    EmailSource,
    MappedBy,
    MappingState,
    PeopleOfEvent,
    Person,
    email_key,
)
from addon.people._report import (
    DEFAULT_CYCLE_SECONDS,
    MAX_ACCOUNTS_PER_REQUEST,
    REPORT_PATH,
    REPORT_URL,
    Reported,
    ReportFailed,
    report_accounts,
    report_url,
)
from addon.people._schedule import PeopleSchedule
from addon.people._scrub import scrub_deliveries, scrub_payload
from addon.people._store import Mapping, PeopleStore
from addon.people._sync import (
    EMAIL_BULK_PATH,
    USER_SEARCH_PATH,
    SyncResult,
    account_from_user,
    apply_user_event,
    sync_accounts,
)

__all__ = [
    "DEFAULT_CYCLE_SECONDS",
    "EMAIL_BULK_PATH",
    "FORGOTTEN_TABLES",
    "HELD",
    "MAX_ACCOUNTS_PER_REQUEST",
    "REPORT_PATH",
    "REPORT_URL",
    "USER_SEARCH_PATH",
    "Account",
    "AccountState",
    "AccountType",
    "BadPerson",
    "Decision",
    "Directory",
    "EmailSource",
    "Forgotten",
    "Handling",
    "HeldDeliveries",
    "ImportFailed",
    "MappedBy",
    "Mapping",
    "MappingState",
    "NotAPerson",
    "Parsed",
    "PeopleOfEvent",
    "PeopleSchedule",
    "PeopleStore",
    "Person",
    "ReportFailed",
    "Reported",
    "RowProblem",
    "SyncResult",
    "UnknownAccount",
    "UnknownPerson",
    "UnmappedActors",
    "account_from_user",
    "apply_user_event",
    "automatic",
    "email_key",
    "forget",
    "forget_closed",
    "handling",
    "parse_people",
    "report_accounts",
    "report_url",
    "scrub_deliveries",
    "scrub_payload",
    "sync_accounts",
]
