"""`addon serve`, `addon worker` and `addon descriptor`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from addon.app import open_doors
from addon.cli._bind import PortUnavailable, is_loopback, probe_port, served_base_url
from addon.cli._common import CliError, load, run_with_store
from addon.doors import Runtime
from addon.handlers import HandlersError, load_handlers
from addon.logs import log_config
from addon.reach import Reach
from addon.services import sync_for, worker_for
from addon.store import Store, open_store

__all__ = ["register"]


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the add-on server")
    serve.add_argument("--host", help="bind address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port (default: PORT or 8000)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--root-path",
        default="",
        help="the path prefix a reverse proxy strips before passing requests on",
    )
    _app_dir(serve)
    serve.set_defaults(run=run_serve)

    describe = commands.add_parser("descriptor", help="print the rendered descriptor")
    describe.set_defaults(run=run_descriptor)

    worker = commands.add_parser(
        "worker", help="run handlers in this process (ADDON_WORKER=external)"
    )
    _app_dir(worker)
    worker.set_defaults(run=run_worker)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0..65535")
    return port


def _app_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="the folder ADDON_HANDLERS is imported from, as uvicorn's --app-dir"
        " (default: the working directory)",
    )


def importable_from(app_dir: str) -> None:
    """Put `app_dir` first on the import path, as uvicorn does (worker processes inherit it)."""
    folder = Path(app_dir).expanduser()
    if not folder.is_dir():
        raise CliError(f"--app-dir: {app_dir!r} is not a folder")
    sys.path.insert(0, str(folder.resolve()))


def run_descriptor(args: argparse.Namespace) -> int:
    _, rendered = load()
    sys.stdout.buffer.write(rendered.json)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    importable_from(args.app_dir)
    settings, _ = load()
    host: str = args.host or settings.host
    port: int = settings.port if args.port is None else args.port
    if not settings.base_url_configured and not is_loopback(host):
        raise CliError(
            "ADDON_BASE_URL: set it to the public URL Jira reaches this server at"
            f" (e.g. https://addon.example.com); serving on {host}, it cannot be derived"
        )
    if settings.handlers:
        try:
            load_handlers(settings.handlers)
        except HandlersError as exc:
            raise CliError(str(exc)) from None
    try:
        port = probe_port(host, port)
    except PortUnavailable as exc:
        raise CliError(str(exc)) from None
    if not settings.base_url_configured:
        # The app is built from the environment in uvicorn's processes: tell them what it serves.
        os.environ["ADDON_BASE_URL"] = served_base_url(host, port)

    async def preflight(store: Store) -> None:
        return None

    run_with_store(settings, preflight)
    uvicorn.run(
        "addon.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=args.reload,
        workers=None if args.reload else args.workers,
        log_config=log_config(),
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        root_path=args.root_path,
        timeout_graceful_shutdown=10,
    )
    return 0


def run_worker(args: argparse.Namespace) -> int:
    importable_from(args.app_dir)
    settings, rendered = load()
    if not settings.handlers:
        raise CliError(
            "ADDON_HANDLERS: set it to the handlers to run, e.g. myapp.handlers:handlers"
        )
    try:
        handlers = load_handlers(settings.handlers)
    except HandlersError as exc:
        raise CliError(str(exc)) from None
    import logging.config

    logging.config.dictConfig(log_config())

    async def work() -> None:
        store = await open_store(
            settings.database_url, keys=settings.encryption_keys, encrypt_existing=False
        )
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        doors = open_doors(settings, rendered)
        for door in doors:
            await door.start(Runtime(store, http, doors))
        await store.start()
        sync = sync_for(settings, store, Reach(doors))
        worker = worker_for(settings, store, handlers, doors, sync=sync)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await worker.start()
        try:
            await stop.wait()
        finally:
            await worker.stop()
            await http.aclose()
            await store.close()

    run_with_store(settings, lambda store: asyncio.sleep(0))
    asyncio.run(work())
    return 0
