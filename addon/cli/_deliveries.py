"""`addon deliveries`: the delivery log in a terminal (list, show) and replaying a delivery."""

from __future__ import annotations

import argparse
import json
from typing import Any

from addon.cli._common import CliError, load, run_with_store
from addon.cli._table import table
from addon.inspector import delivery_detail_json, delivery_json
from addon.store import DeliveryFilter, DeliveryStatus, NotReplayable, Store

__all__ = ["register"]

MAX_LIST = 1_000
COLUMNS = (
    ("ID", "id"),
    ("RECEIVED (UTC)", "received"),
    ("FROM", "from"),
    ("EVENT", "event"),
    ("KEY", "main_key"),
    ("STATUS", "status"),
    ("HANDLER", "handler"),
)


def register(commands: Any) -> None:
    deliveries = commands.add_parser("deliveries", help="the delivery log; replay a delivery")
    actions = deliveries.add_subparsers(dest="deliveries_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="the newest deliveries, newest first")
    listing.add_argument("--limit", type=_limit, default=20, help="how many (default 20)")
    listing.add_argument("--status", choices=[s.value for s in DeliveryStatus])
    listing.add_argument("--event", help="only this event, e.g. jira:issue_updated")
    origin = listing.add_mutually_exclusive_group()
    origin.add_argument("--client-key", help="only this tenant's (Connect) deliveries")
    origin.add_argument("--source", help="only this admin-webhook source's deliveries")
    listing.add_argument("--key", help="only deliveries naming this key (ABC-1, or ABC-* prefix)")
    listing.add_argument("--json", action="store_true", help="print JSON, as the inspector's API")
    listing.set_defaults(run=run_list)

    show = actions.add_parser("show", help="one delivery, as the inspector shows it")
    show.add_argument("delivery_id", metavar="ID", type=_delivery_id)
    show.add_argument("--json", action="store_true", help="print JSON, as the inspector's API")
    show.set_defaults(run=run_show)

    replay = actions.add_parser(
        "replay",
        help="run a delivery's handlers again (an accepted delivery whose handlers are done or "
        "failed); a running worker picks it up",
    )
    replay.add_argument("delivery_id", metavar="ID", type=_delivery_id)
    replay.set_defaults(run=run_replay)


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIST:
        raise argparse.ArgumentTypeError(f"give a whole number from 1 to {MAX_LIST}")
    return int(text)


def _delivery_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1 or len(text) > 19:
        raise argparse.ArgumentTypeError(f"{text!r} is not a delivery id (a positive number)")
    return int(text)


def _utc(iso: str | None) -> str:
    """'2026-02-02 02:40:00' from the API's '2026-02-02T02:40:00.000Z'."""
    return (iso or "").replace("T", " ")[:19]


def _cells(shown: dict[str, Any]) -> dict[str, str]:
    origin = shown["client_key"] or shown["source"] or "unknown"
    kind = "source " if shown["source"] else ""
    handler = shown["handler_state"]
    if handler in ("done", "failed", "pending") and shown["attempts"] > 1:
        handler += f" ({shown['attempts']} attempts)"
    event = shown["event"] or "—"
    return {
        "id": str(shown["id"]),
        "received": _utc(shown["received_at"]),
        "from": kind + origin,
        "event": event
        if shown["event_verified"] or not shown["event"]
        else f"{event} (unverified)",
        "main_key": shown["main_key"] or "—",
        "status": shown["status"],
        "handler": "—" if handler == "none" else handler,
    }


def run_list(args: argparse.Namespace) -> int:
    settings, _ = load()
    where = DeliveryFilter(
        event=args.event,
        origin=args.client_key or args.source,
        origin_kind="connect" if args.client_key else "source" if args.source else None,
        status=args.status,
        q=args.key,
    )

    async def listing(store: Store) -> list[dict[str, Any]]:
        return [delivery_json(d) for d in await store.deliveries.page(where, limit=args.limit)]

    shown = run_with_store(settings, listing)
    if args.json:
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0
    if not shown:
        print("no deliveries" + (" match" if where != DeliveryFilter() else ""))
        return 0
    rows = [[_cells(d)[name] for _, name in COLUMNS] for d in shown]
    print("\n".join(table([title for title, _ in COLUMNS], rows)))
    return 0


def run_show(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def showing(store: Store) -> dict[str, Any]:
        delivery = await store.deliveries.get(args.delivery_id)
        if delivery is None:
            raise CliError(f"there is no delivery {args.delivery_id}", exit_code=1)
        tenant = None
        if delivery.origin_kind == "connect" and delivery.origin:
            tenant = await store.tenants.get(delivery.origin)
        duplicates = await store.deliveries.attempts_of(delivery.id, limit=100)
        return delivery_detail_json(delivery, tenant, duplicates)

    shown = run_with_store(settings, showing)
    if args.json:
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0
    print("\n".join(_detail_lines(shown)))
    return 0


def _detail_lines(shown: dict[str, Any]) -> list[str]:
    cells = _cells(shown)
    handler = shown["handler"]
    check = shown["verification"]
    facts = [
        ("Received", f"{cells['received']} UTC"),
        ("From", cells["from"] + (f" ({shown['site_url']})" if shown["site_url"] else "")),
        ("Event", cells["event"]),
        ("Key", cells["main_key"]),
        ("Status", shown["status"]),
        ("Reason", shown["reason"]),
        ("Request", f"{shown['method'] or ''} {shown['path'] or ''}".strip()),
        ("Webhook identifier", shown["webhook_id"]),
        ("Retry", str(shown["retry"])),
        (
            "Check",
            None
            if not check
            else f"{check.get('scheme')} on {check.get('header')}: "
            + ("matched" if check.get("matched") else "did not match"),
        ),
        ("qsh", None if not shown["qsh"] else "matches" if shown["qsh"]["matches"] else "differs"),
        ("Handler", cells["handler"]),
        ("Attempts", str(handler["attempts"])),
        ("Completed", handler["completed_at"] and _utc(handler["completed_at"]) + " UTC"),
        (
            "Replays",
            f"{handler['replays']}, last at {_utc(handler['replayed_at'])} UTC"
            if handler["replays"]
            else None,
        ),
        ("Duplicates", ", ".join(str(d["id"]) for d in shown["duplicates"]) or None),
    ]
    lines = [f"Delivery {shown['id']}"]
    lines += table(["FIELD", "VALUE"], [[name, value] for name, value in facts if value])[1:]
    if handler["last_error"]:
        lines += ["", "Last error:", handler["last_error"]]
    if shown["payload"] is not None:
        lines += ["", "Payload:", json.dumps(shown["payload"], indent=2, ensure_ascii=False)]
    elif shown["payload_text"]:
        lines += ["", "Body (not JSON):", shown["payload_text"]]
    return lines


def run_replay(args: argparse.Namespace) -> int:
    settings, _ = load()

    async def replaying(store: Store) -> int:
        try:
            replayed = await store.queue.replay(args.delivery_id)
        except NotReplayable as refusal:
            raise CliError(f"cannot replay: {refusal.reason}", exit_code=1) from None
        if replayed is None:
            raise CliError(f"there is no delivery {args.delivery_id}", exit_code=1)
        return replayed.replays

    replays = run_with_store(settings, replaying)
    print(
        f"delivery {args.delivery_id} queued to run its handlers again (replay {replays}); "
        "a running worker (addon serve or addon worker) takes it"
    )
    return 0
