"""Log configuration for `addon serve` and `addon worker`: uvicorn's, with a leaner access log.

uvicorn's access formatter copies every record and looks the status phrase up through
`http.HTTPStatus` on each line: about half of the access log's cost, on every webhook. The one
here writes the same line (`INFO:     127.0.0.1:5000 - "POST /path HTTP/1.1" 204 No Content`)
with every credential in the target masked (`addon.redact.mask_credentials`: the `jwt=` query
parameter, a source's URL key).
"""

from __future__ import annotations

import copy
import http
import logging
from typing import Any

import uvicorn.config

from addon.redact import mask_credentials

__all__ = ["AccessFormatter", "log_config"]

_PHRASES = {status.value: f"{status.value} {status.phrase}" for status in http.HTTPStatus}


class AccessFormatter(logging.Formatter):
    """uvicorn's access line, built in one step (no colours)."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            return mask_credentials(super().format(record))
        client, method, path, version, status = args
        path = mask_credentials(str(path))
        code = int(status)  # type: ignore[call-overload]
        line = _PHRASES.get(code) or str(code)
        prefix = f"{record.levelname}:".ljust(10)
        return f'{prefix}{client} - "{method} {path} HTTP/{version}" {line}'


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, with our access formatter and the `addon` logger."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["access"] = {"()": "addon.logs.AccessFormatter"}
    config["loggers"]["addon"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
