"""The `addon` command: serve, descriptor, worker, keys, tenants, deliveries, forge, simulate, sources."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from addon.cli import _admin, _deliveries, _forge, _server
from addon.cli._common import CliError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="addon", description="An Atlassian Connect add-on server for Jira."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _server.register(commands)
    _admin.register(commands)
    _deliveries.register(commands)
    _forge.register(commands)
    for name in (
        "addon.cli._simulate",
        "addon.cli._sources",
        "addon.cli._oauth",
        "addon.cli._people",
        "addon.cli._sync",
    ):
        try:
            module = __import__(name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
            result: int = args.run(args)
        finally:
            sys.stdout.flush()
    except CliError as exc:
        print(f"addon: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _output_closed()
    return result


def _output_closed() -> int:
    """Exit quietly when the reader of our output has gone (`addon ... | head -1`).

    Whatever is still buffered goes to /dev/null, so that the flush at exit does not fail again;
    the status is a process's killed by SIGPIPE, as a shell reports it.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE
