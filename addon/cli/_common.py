"""What every command shares: one-line errors and loading the configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from addon.connect import DescriptorProblem, RenderedDescriptor, render_for
from addon.handlers import HandlersError
from addon.settings import Settings, SettingsError, load_settings
from addon.sources import secure_source_secrets
from addon.store import DecryptionError, Store, StoreUnavailable, open_store

__all__ = ["CliError", "load", "run_with_store"]

T = TypeVar("T")


class CliError(Exception):
    """A failure to report in one line, without a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def load() -> tuple[Settings, RenderedDescriptor]:
    try:
        settings = load_settings()
        return settings, render_for(settings)
    except (SettingsError, DescriptorProblem, HandlersError) as exc:
        raise CliError(str(exc)) from None


def run_with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store (migrating it), run `action`, close; store failures become one line."""

    async def go() -> T:
        store = await open_store(
            settings.database_url, keys=settings.encryption_keys, encrypt_existing=False
        )
        try:
            await secure_source_secrets(store.db, store.box, encrypt_plaintext=False)
            return await action(store)
        finally:
            await store.db.disconnect()

    try:
        return asyncio.run(go())
    except StoreUnavailable as exc:
        raise CliError(f"DATABASE_URL: {exc.detail}") from None
    except DecryptionError as exc:
        raise CliError(f"ADDON_ENCRYPTION_KEY: {exc}") from None
