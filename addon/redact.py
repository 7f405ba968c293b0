"""Keeping credentials out of what we store, log and show."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping

__all__ = ["AccessLogFilter", "install_log_filter", "mask_jwt", "safe_headers"]

MAX_HEADER_VALUE = 2_048
_CREDENTIAL_WORDS = (
    "authorization",
    "cookie",
    "token",
    "secret",
    "signature",
    "password",
    "api-key",
)
_JWT_PARAM = re.compile(r"((?:^|[?&])jwt=)[^&#\s]*", re.IGNORECASE)


def mask_jwt(target: str) -> str:
    """`target` with the value of any `jwt` query parameter replaced by `***`."""
    if "jwt=" not in target.lower():  # the common case, without running the expression
        return target
    return _JWT_PARAM.sub(r"\1***", target)


def safe_headers(
    headers: Iterable[tuple[str, str]], *, also_drop: Iterable[str] = ()
) -> dict[str, str]:
    """Request headers fit to store: every header that can carry a credential removed."""
    dropped = {name.lower() for name in also_drop}
    kept: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in dropped or _may_carry_credential(lower):
            continue
        kept[lower] = value if len(value) <= MAX_HEADER_VALUE else value[:MAX_HEADER_VALUE] + "…"
    return kept


def _may_carry_credential(lower_name: str) -> bool:
    if len(lower_name) > 64:  # not worth remembering (and a hostile name must not fill memory)
        return _names_credential(lower_name)
    return _names_credential_cached(lower_name)


def _names_credential(lower_name: str) -> bool:
    return any(word in lower_name for word in _CREDENTIAL_WORDS)


# Header names repeat from one request to the next: judge each once.
_names_credential_cached = functools.lru_cache(maxsize=512)(_names_credential)


class AccessLogFilter(logging.Filter):
    """Masks `jwt=` query parameters in uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_jwt(arg) if isinstance(arg, str) and "jwt=" in arg.lower() else arg
                for arg in record.args
            )
        elif isinstance(record.args, Mapping):
            record.args = {
                key: mask_jwt(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        if isinstance(record.msg, str) and "jwt=" in record.msg.lower():
            record.msg = mask_jwt(record.msg)
        return True


def install_log_filter(logger_name: str = "uvicorn.access") -> None:
    """Attach `AccessLogFilter` to `logger_name` once (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, AccessLogFilter) for f in logger.filters):
        logger.addFilter(AccessLogFilter())
