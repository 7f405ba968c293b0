"""The Connect query string hash (qsh): the canonical request a token is bound to."""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import parse_qsl, quote

__all__ = ["canonical_request", "query_string_hash", "request_target"]

_SCHEME_AND_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?]*")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")


def request_target(raw_path: bytes | str, query_string: bytes | str = b"") -> str:
    """The request target as it arrived ("/raw/path?raw=query"), e.g. from an ASGI scope."""
    path = _text(raw_path)
    query = _text(query_string)
    return f"{path}?{query}" if query else path


def canonical_request(method: str, url: str, base_url: str = "") -> str:
    """The string a `qsh` claim hashes: "METHOD&/path&sorted=query".

    `url` is the request target as received (raw path and raw query) or an absolute URL;
    the path of `base_url` (the app's baseUrl, or just its path) is removed from its path.
    A "#" is data, not a fragment delimiter: a request target never carries a fragment.
    """
    path, _, query = _strip_origin(url).partition("?")
    path = _canonical_path(path, _base_path(base_url))
    return f"{method.upper()}&{path}&{_canonical_query(query)}"


def query_string_hash(method: str, url: str, base_url: str = "") -> str:
    """The lower-case hex SHA-256 of `canonical_request(method, url, base_url)`."""
    return sha256_hex(canonical_request(method, url, base_url))


def sha256_hex(canonical: str) -> str:
    """The lower-case hex SHA-256 of a canonical request."""
    return hashlib.sha256(_utf8(canonical)).hexdigest()


def _canonical_path(path: str, base_path: str) -> str:
    if not path.startswith("/"):
        path = "/" + path
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :] or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path.replace("&", "%26")


def _canonical_query(query: str) -> str:
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(
        query, keep_blank_values=True, encoding="utf-8", errors="surrogateescape"
    ):
        if name != "jwt":
            params.setdefault(name, []).append(value)
    encoded = sorted(((_encode(name), values) for name, values in params.items()), key=_first)
    return "&".join(
        f"{name}={_encode(values[0]) if len(values) == 1 else _joined(values)}"
        for name, values in encoded
    )


def _joined(values: list[str]) -> str:
    return ",".join(_encode(value) for value in sorted(values, key=_utf16))


def _first(item: tuple[str, list[str]]) -> str:
    return item[0]


@functools.lru_cache(maxsize=64)
def _base_path(base_url: str) -> str:
    path = _strip_origin(base_url).partition("?")[0].partition("#")[0].rstrip("/")
    return path if not path or path.startswith("/") else "/" + path


def _strip_origin(url: str) -> str:
    if url.startswith("/"):  # a request target as received: no scheme to strip
        return url
    match = _SCHEME_AND_AUTHORITY.match(url)
    return url[match.end() :] if match else url


def _encode(value: str) -> str:
    """Percent-encode all but A-Z a-z 0-9 - . _ ~ as upper-case UTF-8 %XX."""
    if _UNRESERVED.fullmatch(value):  # nothing to encode: the common case, without quote()
        return value
    return quote(_utf8(value), safe="~")


def _utf16(value: str) -> bytes:
    """Sort key ordering strings by UTF-16 code units, as Java's and JavaScript's sorts do."""
    return value.encode("utf-16-be", "surrogatepass")


def _utf8(value: str) -> bytes:
    """UTF-8, giving back the original bytes of undecodable input (kept as surrogate escapes)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
