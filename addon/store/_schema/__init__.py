"""The schema, version by version, in three groups: the log, the doors, the features."""

from addon.store._schema._doors import DOORS
from addon.store._schema._features import FEATURES
from addon.store._schema._log import LOG
from addon.store._schema._sql import Migration

__all__ = ["MIGRATIONS", "Migration"]

MIGRATIONS: tuple[Migration, ...] = tuple(
    sorted((*LOG, *DOORS, *FEATURES), key=lambda migration: migration.version)
)
"""In ascending order of version; versions may skip numbers (each branch of work takes its own), and
`migrate` applies every one not yet recorded, whatever was applied after it."""
