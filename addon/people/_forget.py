"""Forgetting an account: every row that names it, and its name and email in stored payloads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from addon.people._held import HeldDeliveries
from addon.people._scrub import scrub_deliveries
from addon.people._store import PeopleStore
from addon.store import Db

__all__ = ["FORGOTTEN_TABLES", "Forgotten", "forget", "forget_closed"]

FORGOTTEN_TABLES = ("accounts", "account_mappings", "account_conflicts", "deliveries")


@dataclass(frozen=True, slots=True)
class Forgotten:
    sites: tuple[str, ...]
    """The sites the account was stored for."""
    deliveries: int
    """Stored payloads rewritten without its name and email."""


async def forget(db: Db, account_id: str) -> Forgotten:
    """Erase an account on every site (with its mappings and conflicts) and scrub its name and
    email from every stored payload; a delivery held for it stays held (its body scrubbed)."""
    store = PeopleStore(db)
    personal: set[str] = set()
    for account in await store.accounts_of(account_id):
        personal.update(v for v in (account.display_name, account.email) if v)
    sites = await store.forget_account(account_id)
    rewritten = await scrub_deliveries(db, account_id, personal)
    return Forgotten(tuple(sites), rewritten)


async def forget_closed(db: Db, closed: Sequence[str]) -> list[Forgotten]:
    """Forget every account the reporting API said is closed, and end what was held for it: a
    closed account is never mapped, so its deliveries would otherwise wait (and be kept) forever.
    (`forget` alone keeps them held: a live account comes back with the next refresh.)"""
    done = []
    for account_id in dict.fromkeys(closed):
        done.append(await forget(db, account_id))
        await HeldDeliveries(db).abandon(account_id)
    return done
