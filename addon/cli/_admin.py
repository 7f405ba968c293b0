"""`addon keys` (encryption at rest) and `addon tenants` (list, purge)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from addon.cli._common import CliError, load, run_with_store
from addon.cli._table import table
from addon.forge import ForgeInstallations
from addon.sites import SiteStore
from addon.sources import ApiTokens, Sources
from addon.store import Store, generate_key

__all__ = ["register"]


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="encryption keys for secrets at rest")
    keys_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    generate = keys_commands.add_parser("generate", help="print a new ADDON_ENCRYPTION_KEY value")
    generate.set_defaults(run=run_generate)
    rotate = keys_commands.add_parser(
        "rotate", help="re-encrypt every stored secret with the first ADDON_ENCRYPTION_KEY key"
    )
    rotate.set_defaults(run=run_rotate)

    tenants = commands.add_parser("tenants", help="installed Jira sites")
    tenant_commands = tenants.add_subparsers(
        dest="tenants_command", metavar="ACTION", required=True
    )
    listing = tenant_commands.add_parser("list", help="list tenants (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)
    purge = tenant_commands.add_parser("purge", help="delete everything stored for a tenant")
    purge.add_argument("client_key", metavar="CLIENT_KEY")
    purge.set_defaults(run=run_purge)


def run_generate(args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    settings, _ = load()
    if not settings.encryption_keys:
        raise CliError("ADDON_ENCRYPTION_KEY: set it (new key first, old keys after) to rotate")

    async def rotate(store: Store) -> int:
        return (
            await store.tenants.reencrypt()
            + await Sources(store.db, store.box).reencrypt()
            + await ForgeInstallations(store.db, store.box).reencrypt()
            + await SiteStore(store.db, store.box).reencrypt()
            + await ApiTokens(store.db, store.box).reencrypt()
        )

    changed = run_with_store(settings, rotate)
    print(f"re-encrypted {changed} secret(s) with the first key")
    return 0


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def run_list(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def listing(store: Store) -> list[dict[str, Any]]:
        return [
            {
                "client_key": t.client_key,
                "state": t.state.value,
                "base_url": t.base_url,
                "product_type": t.product_type,
                "installed_at": _when(t.installed_at),
            }
            for t in await store.tenants.all()
        ]

    rows = run_with_store(settings, listing)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no tenants")
        return 0
    lines = table(
        ("CLIENT KEY", "STATE", "PRODUCT", "INSTALLED (UTC)", "SITE"),
        [
            (
                row["client_key"],
                row["state"],
                row["product_type"] or "-",
                (row["installed_at"] or "-")[:19].replace("T", " "),
                row["base_url"],
            )
            for row in rows
        ],
    )
    print("\n".join(lines))
    return 0


def run_purge(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def purge(store: Store) -> int:
        if await store.tenants.get(args.client_key) is None:
            raise CliError(f"no tenant with clientKey {args.client_key!r}", exit_code=1)
        return await store.tenants.purge(args.client_key)

    removed = run_with_store(settings, purge)
    print(f"purged tenant {args.client_key} and {removed} deliveries")
    return 0
