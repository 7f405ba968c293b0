"""A JSON Web Key Set fetched over HTTPS and kept parsed, by `kid`: Forge's invocation token keys.

Atlassian publishes the keys that sign Forge Invocation Tokens as a JWKS
(https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json, "Forge Remote essentials").
The set is fetched once; a token naming a `kid` the set lacks may trigger one refetch, so a key
rotation is followed without a restart. Fetches are rationed: one at a time, and at most one per
`min_interval` seconds whatever the `kid`s asked for, so a flood of made-up `kid`s costs one fetch
a minute at most.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

from ._errors import JwksUnavailable, UnknownKey

__all__ = ["DEFAULT_FORGE_JWKS_URL", "JwksCache"]

DEFAULT_FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
MAX_JWKS_BYTES = 256 * 1024


class JwksCache:
    """The keys of one JWKS URL, parsed once and looked up by `kid`.

    `key(kid)` answers from the cache; a `kid` the cache lacks triggers a fetch only when no fetch
    is running and none started in the last `min_interval` seconds (a caller arriving during a
    fetch waits for it). A `kid` still missing after that is refused with `UnknownKey`; when the
    set cannot be fetched, `JwksUnavailable` (a 503 with `Retry-After`) is raised and no key is
    given out. An instance is meant to be used from one event loop.
    """

    def __init__(
        self,
        url: str = DEFAULT_FORGE_JWKS_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        min_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.min_interval = min_interval
        self.fetches = 0
        """How many fetches were started (for tests and the inspector)."""
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._keys: Mapping[str, PyJWK] = MappingProxyType({})
        self._last_attempt: float | None = None
        self._last_failure: str | None = None
        self._fetch: asyncio.Task[None] | None = None

    @property
    def kids(self) -> tuple[str, ...]:
        """The `kid`s of the keys held now."""
        return tuple(self._keys)

    async def key(self, kid: str) -> PyJWK:
        """The parsed key named `kid`; UnknownKey or JwksUnavailable otherwise."""
        found = self._keys.get(kid)
        if found is not None:
            return found
        if self._fetch is None and self._may_fetch():
            self._fetch = asyncio.get_running_loop().create_task(self._refresh())
            self._fetch.add_done_callback(self._fetched)
        if self._fetch is not None:
            await asyncio.shield(self._fetch)
        found = self._keys.get(kid)
        if found is not None:
            return found
        if self._last_failure is not None:
            raise JwksUnavailable(
                f"the key set at {self.url} cannot be fetched ({self._last_failure}); the token"
                " cannot be verified now, retry later",
                retry_after=self._retry_after(),
            )
        raise UnknownKey(
            f"the token's kid {_shown(kid)} is not among the keys published at {self.url}"
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this cache created it (an injected one is the caller's)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> JwksCache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _may_fetch(self) -> bool:
        return self._last_attempt is None or (
            self._clock() - self._last_attempt >= self.min_interval
        )

    def _retry_after(self) -> int:
        if self._last_attempt is None:
            return 1
        remaining = self.min_interval - (self._clock() - self._last_attempt)
        return max(1, math.ceil(remaining))

    async def _refresh(self) -> None:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._download()
            keys = _parse(body)
        except TimeoutError:
            self._last_failure = f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            self._last_failure = f"{type(exc).__name__}"
        except _Unusable as exc:
            self._last_failure = str(exc)
        else:
            self._keys = MappingProxyType(keys)
            self._last_failure = None

    async def _download(self) -> bytes:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        async with self._client.stream(
            "GET", self.url, timeout=self.timeout, headers={"Accept": "application/json"}
        ) as response:
            if response.status_code != 200:
                raise _Unusable(f"it answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise _Unusable(f"it answered more than {MAX_JWKS_BYTES} bytes")
            return bytes(body)

    def _fetched(self, task: asyncio.Task[None]) -> None:
        if self._fetch is task:
            self._fetch = None
        if not task.cancelled():
            task.exception()


class _Unusable(Exception):
    """The key set's answer cannot be used; the message says why."""


def _parse(body: bytes) -> dict[str, PyJWK]:
    """The RSA signing keys of a JWKS document, by `kid` (keys without a `kid` are skipped)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Unusable("its answer is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _Unusable("its answer is not a JWKS (an object with a 'keys' list)")
    usable = [
        entry
        for entry in document["keys"]
        if isinstance(entry, dict)
        and isinstance(entry.get("kid"), str)
        and entry.get("kty") == "RSA"
        and entry.get("use", "sig") == "sig"
    ]
    try:
        key_set = PyJWKSet(usable) if usable else None
    except (PyJWKSetError, PyJWKError):
        raise _Unusable("it has no usable RSA key") from None
    if key_set is None:
        raise _Unusable("it has no RSA signing key with a kid")
    return {key.key_id: key for key in key_set.keys if key.key_id is not None}


def _shown(kid: str) -> str:
    return repr(kid if len(kid) <= 80 else kid[:80] + "...")
