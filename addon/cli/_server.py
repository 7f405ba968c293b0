"""`addon serve`, `addon worker` and `addon descriptor`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

import uvicorn

from addon.cli._common import CliError, load, run_with_store
from addon.handlers import HandlersError, load_handlers
from addon.logs import log_config
from addon.services import worker_for
from addon.store import Store, open_store

__all__ = ["register"]


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the add-on server")
    serve.add_argument("--host", help="bind address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--root-path",
        default="",
        help="the path prefix a reverse proxy strips before passing requests on",
    )
    serve.set_defaults(run=run_serve)

    describe = commands.add_parser("descriptor", help="print the rendered descriptor")
    describe.set_defaults(run=run_descriptor)

    worker = commands.add_parser(
        "worker", help="run handlers in this process (ADDON_WORKER=external)"
    )
    worker.set_defaults(run=run_worker)


def run_descriptor(args: argparse.Namespace) -> int:
    _, rendered = load()
    sys.stdout.buffer.write(rendered.json)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    settings, _ = load()
    if settings.handlers:
        try:
            load_handlers(settings.handlers)
        except HandlersError as exc:
            raise CliError(str(exc)) from None

    async def preflight(store: Store) -> None:
        return None

    run_with_store(settings, preflight)
    uvicorn.run(
        "addon.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
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
    settings, _ = load()
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
        worker = worker_for(settings, store, handlers)
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
            await store.db.disconnect()

    run_with_store(settings, lambda store: asyncio.sleep(0))
    asyncio.run(work())
    return 0
