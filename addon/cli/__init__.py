"""The `addon` command: serve, descriptor, worker, keys, tenants, forge, simulate, sources."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from addon.cli import _admin, _forge, _server
from addon.cli._common import CliError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="addon", description="An Atlassian Connect add-on server for Jira."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _server.register(commands)
    _admin.register(commands)
    _forge.register(commands)
    for name in ("addon.cli._simulate", "addon.cli._sources"):
        try:
            module = __import__(name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except CliError as exc:
        print(f"addon: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return result
