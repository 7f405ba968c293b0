from __future__ import annotations

__all__ = ["DescriptorError"]


class DescriptorError(ValueError):
    """A descriptor, its template or a URL template that cannot be used; the message says why."""
