"""An HTTP request reduced to plain values, so the services that judge it never see HTTP."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from addon.errors import BadRequest

__all__ = ["Incoming", "parse_json_object"]


@dataclass(frozen=True, slots=True)
class Incoming:
    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    received_at: float

    @property
    def target(self) -> str:
        """The request target as it arrived on the wire: raw path and raw query."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def authorization(self) -> str | None:
        return self.header("authorization")

    @property
    def query_jwt(self) -> str | None:
        if "jwt=" not in self.query:
            return None
        values = [v for k, v in parse_qsl(self.query, keep_blank_values=True) if k == "jwt"]
        return values[0] if values else None


def parse_json_object(body: bytes, *, what: str = "body") -> dict[str, Any]:
    """`body` as a JSON object, or BadRequest saying what is wrong."""
    if not body:
        raise BadRequest(f"the {what} is empty; a JSON object is required", code="invalid_json")
    try:
        # As json.loads(body, parse_constant=_not_json) does, without a new decoder per call.
        value = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except UnicodeDecodeError:
        raise BadRequest(f"the {what} is not UTF-8", code="invalid_json") from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the {what} is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequest(f"the {what} must be a JSON object", code="invalid_json")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity are not JSON


_DECODER = json.JSONDecoder(parse_constant=_not_json)
