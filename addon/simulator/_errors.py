"""The simulator's failures: each one is reported in one line, without a traceback."""

from __future__ import annotations

__all__ = ["AddonUnreachable", "SimulatorError"]


class SimulatorError(Exception):
    """A failure whose message is the whole story (the CLI prints it and exits non-zero)."""


class AddonUnreachable(SimulatorError):
    """Nothing answers at the add-on's address, or it does not answer in time."""
