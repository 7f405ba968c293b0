"""Keeping credentials out of what we store, log and show.

One rule, `mask_credentials`, masks every credential a URL can carry: the `jwt` query parameter
(Connect's query-string token), any parameter whose name names a credential (`access_token`,
`secret`, ...) and the key of an admin-webhook source, which is the last segment of its URL. The
access log, the app's own log, stored paths and stored headers that repeat the URL (`Referer`,
`X-Original-URI`, ...) all go through it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "MAX_HEADER_VALUE",
    "SECRET_PATH",
    "SHOWN_KEY_CHARS",
    "AccessLogFilter",
    "install_log_filter",
    "mask_credentials",
    "safe_headers",
]

MAX_HEADER_VALUE = 2_048
SECRET_PATH = "/webhooks/jira/sources/"
"""The path whose next segment is a credential: each admin-webhook source's unguessable key
(`addon.sources.SOURCE_PATH`; a test holds the two equal)."""
SHOWN_KEY_CHARS = 4
"""How much of a source key stays visible: enough to tell two URLs apart, too little to guess."""
MASK = "***"

_CREDENTIAL_WORDS = (
    "authorization",
    "cookie",
    "token",
    "secret",
    "signature",
    "password",
    "api-key",
    "apikey",
)
# A parameter, in a query or a header value: its name, then its value up to the next one.
_PARAMETER = re.compile(r"(^|[?&;])([^=&;?#\s\"]+)=([^&;#\s\"]*)")
# Some word every credential-naming parameter name holds (lower case), to skip the rest quickly.
_PARAMETER_HINTS = ("jwt", *(word.split("-")[0] for word in _CREDENTIAL_WORDS))
# The source key after SECRET_PATH, its slashes written plainly or percent-encoded.
_SECRET_SEGMENT = re.compile(
    "(" + "(?:/|%2f)".join(SECRET_PATH.strip("/").split("/")) + "(?:/|%2f))"
    rf"([^/?#&\s\"*]{{0,{SHOWN_KEY_CHARS}}})[^/?#&\s\"]*",
    re.IGNORECASE,
)


def mask_credentials(text: str) -> str:
    """`text` (a request target, a URL, a header value) with every credential in it masked.

    Credential-bearing parameter values become `***`; a source key keeps its first
    `SHOWN_KEY_CHARS` characters, then `***`.
    """
    if "=" in text:
        lower = text.lower()
        if any(hint in lower for hint in _PARAMETER_HINTS):
            text = _PARAMETER.sub(_mask_parameter, text)
    if "ources" in text or "OURCES" in text:  # the common case, without running the expression
        text = _SECRET_SEGMENT.sub(rf"\1\2{MASK}", text)
    return text


def _mask_parameter(match: re.Match[str]) -> str:
    name = match.group(2)
    lower = name.lower()
    if lower == "jwt" or _names_credential(lower.replace("_", "-")):
        return f"{match.group(1)}{name}={MASK}"
    return match.group(0)


def safe_headers(
    headers: Iterable[tuple[str, str]], *, also_drop: Iterable[str] = ()
) -> dict[str, str]:
    """Request headers fit to store: every header that can carry a credential removed, and every
    credential in the others (a `Referer` or `X-Original-URI` repeating the URL) masked."""
    dropped = {name.lower() for name in also_drop}
    kept: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in dropped or _names_credential(lower):
            continue
        value = mask_credentials(value)
        kept[lower] = value if len(value) <= MAX_HEADER_VALUE else value[:MAX_HEADER_VALUE] + "…"
    return kept


def _judge_name(lower_name: str) -> bool:
    return any(word in lower_name for word in _CREDENTIAL_WORDS)


@functools.lru_cache(maxsize=512)
def _judge_name_cached(lower_name: str) -> bool:
    return _judge_name(lower_name)


def _names_credential(lower_name: str) -> bool:
    """Whether a header or parameter name (lower case) names a credential; names repeat from one
    request to the next, so each is judged once (a long, hostile one is not remembered)."""
    if len(lower_name) > 64:
        return _judge_name(lower_name)
    return _judge_name_cached(lower_name)


class AccessLogFilter(logging.Filter):
    """Masks credentials (`mask_credentials`) in uvicorn's access log lines, for servers started
    without `addon.logs.log_config` (e.g. `uvicorn addon.app:create_app --factory`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_credentials(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, Mapping):
            record.args = {
                key: mask_credentials(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        if isinstance(record.msg, str):
            record.msg = mask_credentials(record.msg)
        return True


def install_log_filter(logger_name: str = "uvicorn.access") -> None:
    """Attach `AccessLogFilter` to `logger_name` once (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, AccessLogFilter) for f in logger.filters):
        logger.addFilter(AccessLogFilter())
