"""The rule for every state-changing inspector form: a POST from the inspector's own page.

A request that changes anything must
- be a POST (a link, an image or a prefetch can make a browser GET any URL);
- come from the add-on's own origin, by its `Origin` header (or, without one, its `Referer`),
  compared with the origin of ADDON_BASE_URL;
- carry the session's token in its form: the value of a random cookie, set by the inspector's
  pages, `SameSite=Strict` and `HttpOnly`, that another site can neither read nor make a browser
  send. The comparison is in constant time.

HTTP Basic credentials, which a browser adds to any request to the inspector, are not enough on
their own: that is what the token and the origin check are for. Any other request is refused with
403. Pages with such forms are served with `Referrer-Policy: same-origin`: under `no-referrer` a
browser sends `Origin: null` on its own form posts, which could not be told from another site's.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from addon.errors import Refusal

__all__ = ["FIELD", "REFERRER_POLICY", "CsrfGuard", "CsrfRefused"]

FIELD = "csrf_token"
COOKIE = "inspector_session"
REFERRER_POLICY = "same-origin"
MAX_FORM_BYTES = 4_096
FORM_TYPE = "application/x-www-form-urlencoded"

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class CsrfRefused(Refusal):
    """A state-changing request that is not a POST of the inspector's own form."""

    status = 403
    code = "forbidden"


def _origin(url: str) -> str | None:
    """scheme://host[:port] of `url`, lower-cased as browsers send it; None if it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    shown_port = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme.lower()}://{host}{shown_port}"


@dataclass(frozen=True, slots=True)
class CsrfGuard:
    """Issues each browser session's token and judges state-changing requests against it."""

    origin: str
    cookie_path: str
    secure: bool

    @classmethod
    def for_base_url(cls, base_url: str) -> CsrfGuard:
        origin = _origin(base_url)
        if origin is None:
            raise ValueError(f"{base_url!r} is not an absolute URL")
        path = urlsplit(base_url).path.rstrip("/") + "/inspector"
        return cls(origin=origin, cookie_path=path, secure=origin.startswith("https:"))

    def session_token(self, request: Request) -> str:
        """This browser session's token: its cookie's, or a new one (`remember` sets it)."""
        given = request.cookies.get(COOKIE, "")
        return given if _TOKEN.fullmatch(given) else secrets.token_urlsafe(32)

    def remember(self, request: Request, response: Response, token: str) -> None:
        """Set the session cookie on `response` unless the request already carries `token`."""
        if request.cookies.get(COOKIE) == token:
            return
        response.set_cookie(
            COOKIE,
            token,
            path=self.cookie_path,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    async def check(self, request: Request) -> Mapping[str, str]:
        """The fields of a state-changing form; `CsrfRefused` unless it is a same-origin POST
        carrying this session's token."""
        if request.method != "POST":
            raise CsrfRefused(
                f"{request.url.path} changes state: it takes a POST from the inspector's own "
                f"form, not {request.method}"
            )
        self._check_origin(request)
        form = await self._form(request)
        session = request.cookies.get(COOKIE, "")
        if not _TOKEN.fullmatch(session):
            raise CsrfRefused(
                "this browser has no inspector session: reload the inspector page and try again"
            )
        if not hmac.compare_digest(form.get(FIELD, "").encode(), session.encode()):
            raise CsrfRefused(
                "the form's token is missing or not this session's: reload the inspector page "
                "and try again"
            )
        return form

    def _check_origin(self, request: Request) -> None:
        origin = request.headers.get("origin")
        referer = request.headers.get("referer")
        if origin is None and referer is None:
            raise CsrfRefused(
                "the request says neither where it comes from (Origin) nor which page sent it "
                f"(Referer); only the inspector's own pages at {self.origin} may change state"
            )
        came_from = _origin(origin if origin is not None else referer or "")
        if came_from != self.origin:
            shown = (origin if origin is not None else came_from or "?")[:100]
            raise CsrfRefused(
                f"the request comes from {shown!r}, not from the inspector at {self.origin} "
                "(the origin of ADDON_BASE_URL): another site cannot change state here"
            )

    async def _form(self, request: Request) -> dict[str, str]:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != FORM_TYPE:
            raise CsrfRefused(f"a state-changing request is a form post ({FORM_TYPE})")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise CsrfRefused(f"the form is larger than {MAX_FORM_BYTES:,} bytes")
        try:
            return dict(parse_qsl(body.decode("ascii"), max_num_fields=20))
        except (UnicodeDecodeError, ValueError):
            raise CsrfRefused("the form is not URL-encoded ASCII") from None
