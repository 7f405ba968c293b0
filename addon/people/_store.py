"""The people feature's rows: people, accounts per site, mappings, conflicts, and the account a
held delivery waits for. SQL only; what to map is decided in `_mapping`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from addon.people._records import (
    Account,
    AccountType,
    EmailSource,
    MappedBy,
    Person,
    email_key,
    indexed,
)
from addon.store import Db
from addon.store._db import Row

__all__ = ["Mapping", "PeopleStore"]

_PERSON = "person_id, email, name"
_ACCOUNT = "site, account_id, display_name, account_type, active, email, email_source"


@dataclass(frozen=True, slots=True)
class Mapping:
    """Which person an account of a site is, and how that was decided."""

    site: str
    account_id: str
    person_id: str
    how: MappedBy


def _person(row: Row) -> Person:
    return Person(row["person_id"], row["email"], row["name"])


def _account(row: Row) -> Account:
    source = row["email_source"]
    return Account(
        site=row["site"],
        account_id=row["account_id"],
        account_type=AccountType.of(row["account_type"]),
        display_name=row["display_name"],
        active=bool(row["active"]),
        email=row["email"],
        email_source=EmailSource(source) if source else None,
    )


class PeopleStore:
    """Reads and writes the people tables of one database."""

    def __init__(self, db: Db) -> None:
        self._db = db

    # people

    async def upsert_people(self, people: Iterable[Person], *, now: float | None = None) -> int:
        """Insert or update each person by id; returns how many were written."""
        at = time.time() if now is None else now
        rows = [(p.id, p.email, email_key(p.email), p.name, at, at) for p in people]
        async with self._db.connection() as conn, conn.transaction():
            for row in rows:
                await conn.execute(
                    """INSERT INTO people (person_id, email, email_key, name, created_at, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT (person_id) DO UPDATE SET email = excluded.email,
                         email_key = excluded.email_key, name = excluded.name,
                         updated_at = excluded.updated_at""",
                    row,
                )
        return len(rows)

    async def person(self, person_id: str) -> Person | None:
        row = await self._db.fetch_one(
            f"SELECT {_PERSON} FROM people WHERE person_id = ?", (person_id,)
        )
        return _person(row) if row is not None else None

    async def people(self) -> list[Person]:
        rows = await self._db.fetch_all(f"SELECT {_PERSON} FROM people ORDER BY person_id")
        return [_person(row) for row in rows]

    async def people_with_email(self, key: str) -> list[str]:
        """The ids of the people whose trimmed, case-folded email is `key`."""
        rows = await self._db.fetch_all(
            "SELECT person_id FROM people WHERE email_key = ? ORDER BY person_id", (key,)
        )
        return [row["person_id"] for row in rows]

    async def remove_person(self, person_id: str) -> bool:
        """Delete a person and every mapping to them (their accounts become unmapped)."""
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM account_mappings WHERE person_id = ?", (person_id,))
            return await conn.execute("DELETE FROM people WHERE person_id = ?", (person_id,)) > 0

    # accounts

    async def upsert_account(self, account: Account, *, now: float | None = None) -> None:
        """Insert or update an account; an email already known is kept when `account` has none
        (a webhook's user object never carries one)."""
        at = time.time() if now is None else now
        email = indexed("an email", account.email) if account.email else None
        name = account.display_name
        await self._db.execute(
            """INSERT INTO accounts (site, account_id, display_name, account_type, active, email,
                 email_key, email_source, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (site, account_id) DO UPDATE SET
                 display_name = COALESCE(excluded.display_name, accounts.display_name),
                 account_type = excluded.account_type, active = excluded.active,
                 email = COALESCE(excluded.email, accounts.email),
                 email_key = COALESCE(excluded.email_key, accounts.email_key),
                 email_source = COALESCE(excluded.email_source, accounts.email_source),
                 updated_at = excluded.updated_at""",
            (
                indexed("a site URL", account.site),
                indexed("an account id", account.account_id),
                indexed("a display name", name) if name else None,
                account.account_type.value,
                1 if account.active else 0,
                email,
                email_key(email),
                account.email_source.value if email and account.email_source else None,
                at,
            ),
        )

    async def account(self, site: str, account_id: str) -> Account | None:
        row = await self._db.fetch_one(
            f"SELECT {_ACCOUNT} FROM accounts WHERE site = ? AND account_id = ?",
            (site, account_id),
        )
        return _account(row) if row is not None else None

    async def accounts(self, site: str | None = None) -> list[Account]:
        where, params = ("WHERE site = ?", (site,)) if site is not None else ("", ())
        rows = await self._db.fetch_all(
            f"SELECT {_ACCOUNT} FROM accounts {where} ORDER BY site, account_id", params
        )
        return [_account(row) for row in rows]

    async def accounts_of(self, account_id: str) -> list[Account]:
        """An account id's rows on every site."""
        rows = await self._db.fetch_all(
            f"SELECT {_ACCOUNT} FROM accounts WHERE account_id = ? ORDER BY site", (account_id,)
        )
        return [_account(row) for row in rows]

    async def accounts_with_email(self, key: str) -> list[Account]:
        rows = await self._db.fetch_all(
            f"SELECT {_ACCOUNT} FROM accounts WHERE email_key = ? ORDER BY site, account_id",
            (key,),
        )
        return [_account(row) for row in rows]

    async def remove_account(self, site: str, account_id: str) -> bool:
        """Delete an account of a site with its mapping and conflict."""
        async with self._db.connection() as conn, conn.transaction():
            for table in ("account_mappings", "account_conflicts"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE site = ? AND account_id = ?", (site, account_id)
                )
            removed = await conn.execute(
                "DELETE FROM accounts WHERE site = ? AND account_id = ?", (site, account_id)
            )
        return removed > 0

    async def remove_site(self, site: str) -> int:
        """Erase every account of a site (uninstalled or disconnected), with their mappings."""
        async with self._db.connection() as conn, conn.transaction():
            for table in ("account_mappings", "account_conflicts"):
                await conn.execute(f"DELETE FROM {table} WHERE site = ?", (site,))
            return await conn.execute("DELETE FROM accounts WHERE site = ?", (site,))

    async def forget_account(self, account_id: str) -> list[str]:
        """Erase an account on every site, its mappings and conflicts; returns those sites."""
        async with self._db.connection() as conn, conn.transaction():
            rows = await conn.fetch_all(
                "SELECT site FROM accounts WHERE account_id = ? ORDER BY site", (account_id,)
            )
            for table in ("account_mappings", "account_conflicts", "accounts"):
                await conn.execute(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))
        return [row["site"] for row in rows]

    async def reportable(self) -> list[tuple[str, float]]:
        """Every account id stored (on any site) with when it was last updated, for Atlassian's
        personal data reporting API."""
        rows = await self._db.fetch_all(
            "SELECT account_id, MAX(updated_at) AS updated_at FROM accounts"
            " GROUP BY account_id ORDER BY account_id"
        )
        return [(row["account_id"], float(row["updated_at"])) for row in rows]

    async def account_ids(self, site: str) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT account_id FROM accounts WHERE site = ? ORDER BY account_id", (site,)
        )
        return [row["account_id"] for row in rows]

    # mappings and conflicts

    async def mapping(self, site: str, account_id: str) -> Mapping | None:
        row = await self._db.fetch_one(
            "SELECT site, account_id, person_id, how FROM account_mappings"
            " WHERE site = ? AND account_id = ?",
            (site, account_id),
        )
        return _mapping(row) if row is not None else None

    async def mappings(self, site: str | None = None) -> list[Mapping]:
        where, params = ("WHERE site = ?", (site,)) if site is not None else ("", ())
        rows = await self._db.fetch_all(
            "SELECT site, account_id, person_id, how FROM account_mappings "
            f"{where} ORDER BY site, account_id",
            params,
        )
        return [_mapping(row) for row in rows]

    async def set_mapping(
        self, site: str, account_id: str, person_id: str, how: MappedBy, *, now: float | None = None
    ) -> None:
        """Map an account of a site to a person (replacing any mapping), clearing its conflict."""
        at = time.time() if now is None else now
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO account_mappings (site, account_id, person_id, how, mapped_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (site, account_id) DO UPDATE SET person_id = excluded.person_id,
                     how = excluded.how, mapped_at = excluded.mapped_at""",
                (site, account_id, person_id, how.value, at),
            )
            await conn.execute(
                "DELETE FROM account_conflicts WHERE site = ? AND account_id = ?",
                (site, account_id),
            )

    async def delete_mapping(self, site: str, account_id: str) -> bool:
        return (
            await self._db.execute(
                "DELETE FROM account_mappings WHERE site = ? AND account_id = ?",
                (site, account_id),
            )
            > 0
        )

    async def conflict(self, site: str, account_id: str) -> tuple[str, ...] | None:
        """The people an account's email is shared by, when it is in conflict."""
        row = await self._db.fetch_one(
            "SELECT person_ids FROM account_conflicts WHERE site = ? AND account_id = ?",
            (site, account_id),
        )
        return tuple(json.loads(row["person_ids"])) if row is not None else None

    async def conflicts(self, site: str | None = None) -> dict[tuple[str, str], tuple[str, ...]]:
        where, params = ("WHERE site = ?", (site,)) if site is not None else ("", ())
        rows = await self._db.fetch_all(
            f"SELECT site, account_id, person_ids FROM account_conflicts {where}", params
        )
        return {
            (row["site"], row["account_id"]): tuple(json.loads(row["person_ids"])) for row in rows
        }

    async def set_conflict(
        self, site: str, account_id: str, person_ids: Sequence[str], *, now: float | None = None
    ) -> None:
        """Record that an account's email is shared by several people (and drop its automatic
        mapping: a conflict is resolved by hand, never guessed)."""
        at = time.time() if now is None else now
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM account_mappings WHERE site = ? AND account_id = ? AND how = ?",
                (site, account_id, MappedBy.AUTO.value),
            )
            await conn.execute(
                """INSERT INTO account_conflicts (site, account_id, person_ids, found_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (site, account_id) DO UPDATE SET person_ids = excluded.person_ids,
                     found_at = excluded.found_at""",
                (site, account_id, json.dumps(sorted(person_ids)), at),
            )

    async def clear_conflict(self, site: str, account_id: str) -> None:
        await self._db.execute(
            "DELETE FROM account_conflicts WHERE site = ? AND account_id = ?", (site, account_id)
        )


def _mapping(row: Row) -> Mapping:
    return Mapping(row["site"], row["account_id"], row["person_id"], MappedBy(row["how"]))
