"""Atlassian's install keys: the RSA public keys that sign install callbacks, fetched by kid."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType
from urllib.parse import quote

import httpx

from ._errors import InvalidKeyId, KeyServerUnavailable, MissingKeyId, UnknownKey
from ._tokens import load_rsa_public_key

__all__ = ["DEFAULT_INSTALL_KEYS_URL", "InstallKeyFetcher"]

DEFAULT_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
MAX_KID_LENGTH = 200
MAX_KEY_BYTES = 16 * 1024

_KID = re.compile(r"[A-Za-z0-9_\-/.]+")


def check_kid(kid: object) -> str:
    """The `kid` if it may go into a key server URL, else MissingKeyId or InvalidKeyId."""
    if kid is None or kid == "":
        raise MissingKeyId("the token has no kid header naming Atlassian's install key")
    if (
        not isinstance(kid, str)
        or len(kid) > MAX_KID_LENGTH
        or not _KID.fullmatch(kid)
        or kid in (".", "..")
    ):
        raise InvalidKeyId(
            f"the token's kid is not 1 to {MAX_KID_LENGTH} characters of A-Z a-z 0-9 _ - / ."
        )
    return kid


class InstallKeyFetcher:
    """Fetches install keys from Atlassian's key server, caching them by kid.

    Keys never change for a kid, so they are kept (the `max_keys` most recently used);
    kids the server does not know are remembered for `negative_ttl` seconds. Concurrent
    requests for one kid share one fetch, at most `max_concurrent` fetches run at once,
    and a `get` never takes much longer than `timeout` seconds, waiting included.
    An instance is meant to be used from one event loop.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_INSTALL_KEYS_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        max_keys: int = 64,
        negative_ttl: float = 60.0,
        max_negative: int = 1024,
        max_concurrent: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._max_keys = max_keys
        self._negative_ttl = negative_ttl
        self._max_negative = max_negative
        self._clock = clock
        self._slots = asyncio.Semaphore(max_concurrent)
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._fetches: dict[str, asyncio.Task[str]] = {}

    async def get(self, kid: str) -> str:
        """The PEM public key of `kid`; UnknownKey if the server has none."""
        kid = check_kid(kid)
        key = self._keys.get(kid)
        if key is not None:
            self._keys.move_to_end(kid)
            return key
        expiry = self._unknown.get(kid)
        if expiry is not None:
            if self._clock() < expiry:
                raise _unknown_key(kid)
            del self._unknown[kid]
        fetch = self._fetches.get(kid)
        if fetch is None:
            fetch = asyncio.get_running_loop().create_task(self._fetch(kid))
            self._fetches[kid] = fetch
            fetch.add_done_callback(lambda task: self._fetched(kid, task))
        return await asyncio.shield(fetch)

    async def aclose(self) -> None:
        """Close the HTTP client if this fetcher created it (an injected one is the caller's)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> InstallKeyFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _fetch(self, kid: str) -> str:
        url = f"{self.base_url}/{quote(kid, safe='')}"
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                status, body = await self._download(url)
        except TimeoutError:
            raise KeyServerUnavailable(
                f"the install key server did not answer within {self.timeout:g} s"
                f" for kid {kid!r}; Jira retries the install"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise KeyServerUnavailable(
                f"could not reach the install key server ({type(exc).__name__})"
                f" for kid {kid!r}; Jira retries the install"
            ) from None
        if status == 404:
            self._remember_unknown(kid)
            raise _unknown_key(kid)
        if status != 200:
            raise KeyServerUnavailable(
                f"the install key server answered HTTP {status} for kid {kid!r};"
                " Jira retries the install"
            )
        try:
            pem = body.decode("ascii")
            load_rsa_public_key(pem)
        except ValueError:
            raise KeyServerUnavailable(
                f"the install key server's answer for kid {kid!r} is not a PEM RSA public key"
            ) from None
        self._keys[kid] = pem
        while len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)
        return pem

    async def _download(self, url: str) -> tuple[int, bytes]:
        if self._client is None:
            self._client = httpx.AsyncClient()
        async with self._client.stream("GET", url, timeout=self.timeout) as response:
            if response.status_code != 200:
                return response.status_code, b""
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_KEY_BYTES:
                    raise KeyServerUnavailable(
                        f"the install key server answered more than {MAX_KEY_BYTES} bytes,"
                        " which is not a public key"
                    )
            return 200, bytes(body)

    def _remember_unknown(self, kid: str) -> None:
        self._unknown[kid] = self._clock() + self._negative_ttl
        self._unknown.move_to_end(kid)
        while len(self._unknown) > self._max_negative:
            self._unknown.popitem(last=False)

    def _fetched(self, kid: str, task: asyncio.Task[str]) -> None:
        if self._fetches.get(kid) is task:
            del self._fetches[kid]
        if not task.cancelled():
            task.exception()


def _unknown_key(kid: str) -> UnknownKey:
    return UnknownKey(f"Atlassian's install key server has no key with kid {kid!r}")
