"""The SQLite database file: created readable and writable by its owner only.

SQLite creates a missing database file with the process's default mode (world-readable under the
usual umask 022), and gives the `-wal`, `-shm` and `-journal` files beside it the mode of the
database file. So the database file is created here first, mode 0600, and all of them are private.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from databases import DatabaseURL

__all__ = ["PRIVATE_MODE", "create_private_sqlite_file"]

logger = logging.getLogger("addon.store")

PRIVATE_MODE = 0o600


def create_private_sqlite_file(url: str) -> Path | None:
    """Create the file of a `sqlite:///PATH` URL, mode 0600, unless it exists; its path, or None
    for a database without a file of its own (`:memory:`, a `file:` URI).

    A file that exists keeps its mode; one that other users may read is reported in the log. A
    missing directory is left for SQLite to report.
    """
    database = DatabaseURL(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
        return path
    except FileExistsError:
        pass
    except OSError:
        return path
    with contextlib.suppress(OSError):
        status = path.stat()
        mode = stat.S_IMODE(status.st_mode)
        if stat.S_ISREG(status.st_mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning(
                "DATABASE_URL: %s may be read by other users (mode %o): chmod 600 it (and its "
                "-wal and -shm files) while the server is stopped",
                path,
                mode,
            )
    return path
