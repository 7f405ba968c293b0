"""Webhook URL templates: `${...}` context parameters in the path and the query, expanded the way
Jira fills them in, and matched back against a URL as it arrives on the wire.

How Jira encodes substituted values is not documented, so matching is lenient: literal path text is
compared after percent-decoding, query values are decoded with form semantics (`+` is a space),
query parameters the template does not name (`user_id`, `user_key`, `jwt`, ...) are ignored, and a
parameter that arrives empty or as the unexpanded `${...}` text counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

from descriptor._catalogue import context_values
from descriptor._errors import DescriptorError

__all__ = ["UrlTemplate", "expand", "expand_for_event"]

_PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _is_absent(value: str) -> bool:
    return not value or _PLACEHOLDER.fullmatch(value) is not None


def _encode(value: str) -> str:
    return quote(value, safe="", errors="replace")


@dataclass(frozen=True, slots=True)
class _Param:
    name: str


@dataclass(frozen=True, slots=True)
class _Part:
    """One path segment or query value of a template.

    `decoded` is its decoded text when it is all literal; otherwise `pattern` matches its decoded
    form, one group per parameter.
    """

    pieces: tuple[str | _Param, ...]
    decoded: str | None
    pattern: re.Pattern[str] | None
    names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, decode: Callable[[str], str], template: str) -> _Part:
        pieces: list[str | _Param] = []
        position = 0
        for found in _PLACEHOLDER.finditer(text):
            name = found.group(1)
            if not _NAME.fullmatch(name):
                raise DescriptorError(
                    f"url {template!r}: '${{{name}}}' is not a context parameter name"
                )
            if found.start() > position:
                pieces.append(text[position : found.start()])
            pieces.append(_Param(name))
            position = found.end()
        if position < len(text):
            pieces.append(text[position:])
        if any(isinstance(piece, str) and "${" in piece for piece in pieces):
            raise DescriptorError(f"url {template!r}: unterminated '${{'")
        if not any(isinstance(piece, _Param) for piece in pieces):
            return cls(tuple(pieces), decode(text), None)
        regex = "".join(
            "(.*?)" if isinstance(piece, _Param) else re.escape(decode(piece)) for piece in pieces
        )
        names = tuple(piece.name for piece in pieces if isinstance(piece, _Param))
        return cls(tuple(pieces), None, re.compile(regex, re.DOTALL), names)

    def expand(self, values: Mapping[str, str]) -> str:
        return "".join(
            _encode(values.get(piece.name, "")) if isinstance(piece, _Param) else piece
            for piece in self.pieces
        )

    def extract(self, decoded: str) -> dict[str, str] | None:
        """The present parameter values in `decoded`, or None if its literal text does not match."""
        if self.pattern is None:
            return {} if decoded == self.decoded else None
        if len(self.pieces) == 1:  # the whole value is one parameter: no expression needed
            return {} if _is_absent(decoded) else {self.names[0]: decoded}
        found = self.pattern.fullmatch(decoded)
        if found is None:
            return None
        values: dict[str, str] = {}
        for name, value in zip(self.names, found.groups(), strict=True):
            if not _is_absent(value):
                values.setdefault(name, value)
        return values

    def overlaps(self, other: _Part) -> bool:
        if self.pattern is None and other.pattern is None:
            return self.decoded == other.decoded
        if self.pattern is None:
            return other.overlaps(self)
        if other.decoded is not None:
            return self.pattern.fullmatch(other.decoded) is not None
        return True


@dataclass(frozen=True, slots=True)
class UrlTemplate:
    """A parsed webhook URL template such as `/webhooks/jira/issue-updated?issueKey=${issue.key}`.

    `path` is the template's path part (parameters included), `query` its query items as written,
    and `parameters` the context parameters it names, in order of appearance.
    """

    text: str
    path: str
    query: tuple[tuple[str, str], ...]
    parameters: tuple[str, ...]
    _segments: tuple[_Part, ...] = field(repr=False, compare=False)
    _items: tuple[tuple[str, str, _Part], ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> UrlTemplate:
        """Parse a template; raises DescriptorError if it is malformed."""
        if not isinstance(text, str):
            raise DescriptorError(f"url must be a string, not {type(text).__name__}")
        if "#" in text:
            raise DescriptorError(f"url {text!r}: a fragment ('#') is never sent to the server")
        path, _, query_text = text.partition("?")
        segments = tuple(_Part.parse(segment, unquote, text) for segment in path.split("/"))
        query: list[tuple[str, str]] = []
        items: list[tuple[str, str, _Part]] = []
        for item in query_text.split("&"):
            if not item:
                continue
            raw_name, _, raw_value = item.partition("=")
            name = unquote_plus(raw_name)
            if "${" in raw_name:
                raise DescriptorError(
                    f"url {text!r}: context parameters belong in query values, not names"
                )
            if any(name == seen for seen, _, _ in items):
                raise DescriptorError(f"url {text!r}: query parameter {name!r} appears twice")
            query.append((raw_name, raw_value))
            items.append((name, raw_name, _Part.parse(raw_value, unquote_plus, text)))
        names = [name for part in segments for name in part.names]
        names += [name for _, _, part in items for name in part.names]
        return cls(text, path, tuple(query), tuple(dict.fromkeys(names)), segments, tuple(items))

    def __str__(self) -> str:
        return self.text

    def expand(self, values: Mapping[str, str]) -> str:
        """The URL with each parameter percent-encoded in its place (empty when missing)."""
        path = "/".join(segment.expand(values) for segment in self._segments)
        query = "&".join(f"{raw_name}={part.expand(values)}" for _, raw_name, part in self._items)
        return f"{path}?{query}" if query else path

    def match(self, raw_path: str, query_string: str = "") -> dict[str, str] | None:
        """The parameter values in a received URL, or None if it is not this template's URL.

        `raw_path` is the percent-encoded path relative to the app's base URL; a query after `?` in
        it is used when `query_string` is empty. Parameters that arrive empty or unexpanded are left
        out. Never raises.
        """
        if not isinstance(raw_path, str) or not isinstance(query_string, str):
            return None
        path, _, inline_query = raw_path.partition("?")
        query_string = query_string or inline_query
        values = self._match_path(path)
        if values is None and len(path) > 1 and path.endswith("/"):
            values = self._match_path(path[:-1])
        if values is None:
            return None
        received: dict[str, str] = {}
        for name, text in parse_qsl(query_string, keep_blank_values=True):
            received.setdefault(name, text)
        for name, _, part in self._items:
            value = received.get(name)
            if value is None and part.pattern is not None:
                continue
            found = None if value is None else part.extract(value)
            if found is None:
                return None
            for parameter, text in found.items():
                values.setdefault(parameter, text)
        return values

    def _match_path(self, path: str) -> dict[str, str] | None:
        segments = path.split("/")
        if len(segments) != len(self._segments):
            return None
        values: dict[str, str] = {}
        for segment, part in zip(segments, self._segments, strict=True):
            found = part.extract(unquote(segment))
            if found is None:
                return None
            for parameter, text in found.items():
                values.setdefault(parameter, text)
        return values

    def overlaps(self, other: UrlTemplate) -> bool:
        """Whether some request could match both (conservatively: parameters match anything)."""
        if len(self._segments) != len(other._segments):
            return False
        if not all(a.overlaps(b) for a, b in zip(self._segments, other._segments, strict=True)):
            return False
        required = {name: part.decoded for name, _, part in self._items if part.pattern is None}
        return not any(
            part.pattern is None and name in required and required[name] != part.decoded
            for name, _, part in other._items
        )


@lru_cache(maxsize=512)
def _parsed(template: str) -> UrlTemplate:
    return UrlTemplate.parse(template)


def expand(template: str, values: Mapping[str, str]) -> str:
    """Expand a template string with context parameter values (see `UrlTemplate.expand`)."""
    return _parsed(template).expand(values)


def expand_for_event(template: str, event_name: str, payload: object) -> str:
    """Expand a template with the context values Jira would take from this event's body."""
    return expand(template, context_values(event_name, payload))
