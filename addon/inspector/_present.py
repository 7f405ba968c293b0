"""What the inspector shows of a delivery, for both the JSON API and the pages: times, the main key,
the token's decoded header and claims, the qsh check, the payload text.

Nothing here ever carries a token's signature, a raw token or a tenant's shared secret: the store
keeps only a token's decoded header and claims, and tenants are copied field by field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from addon.ingest import View, normalise
from addon.store import Delivery, DeliveryStatus, parse_stored_json

__all__ = [
    "TOKEN_CLAIMS",
    "CheckView",
    "EventName",
    "PayloadText",
    "QshCheck",
    "TokenView",
    "check_view",
    "client_key_of",
    "event_name",
    "iso_time",
    "main_key",
    "parsed_payload",
    "payload_text",
    "qsh_check",
    "source_of",
    "time_text",
    "token_view",
]

TOKEN_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "qsh")
MAX_EVENT_NAME = 200
TIME_CLAIMS = frozenset({"iat", "exp"})
PAYLOAD_DISPLAY_LIMIT = 1_000_000


def iso_time(timestamp: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC, e.g. 2026-02-01T09:30:00.250Z."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def time_text(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class EventName:
    """A delivery's event, and whether it is known from a verified request."""

    name: str | None
    verified: bool


def event_name(delivery: Delivery) -> EventName:
    """The event a delivery names. A refused request's event is unverified; when none was
    recorded (an admin webhook refused before its body was read), its body's `webhookEvent`."""
    verified = delivery.status is not DeliveryStatus.REJECTED
    if delivery.event or verified:
        return EventName(delivery.event, verified)
    payload = parsed_payload(delivery)
    named = payload.get("webhookEvent") if isinstance(payload, dict) else None
    if isinstance(named, str) and 0 < len(named.strip()) <= MAX_EVENT_NAME:
        return EventName(named.strip(), verified=False)
    return EventName(None, verified=False)


def main_key(delivery: Delivery) -> str | None:
    """The key a delivery is mainly about: its issue, else project, sprint or acting user.

    Rejected deliveries were never normalised when stored, so their (unverified) body is read.
    """
    view: Delivery | View = delivery
    event = event_name(delivery).name
    if delivery.status is DeliveryStatus.REJECTED and event and not delivery.issue_key:
        view = normalise(event, parsed_payload(delivery))
    if view.issue_key:
        return view.issue_key
    if view.project_key:
        return view.project_key
    if view.sprint_id:
        return f"sprint {view.sprint_id}"
    return view.actor


def client_key_of(delivery: Delivery) -> str | None:
    return delivery.origin if delivery.origin_kind == "connect" else None


def source_of(delivery: Delivery) -> str | None:
    return delivery.origin if delivery.origin_kind == "source" else None


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token as far as it may be shown: its decoded header and the claims that matter."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    verified: bool

    def claim_rows(self) -> list[tuple[str, str, str]]:
        """(claim, value, note) for the template; times get their UTC reading as the note."""
        rows = []
        for name, value in self.claims.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            note = ""
            if (
                name in TIME_CLAIMS
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                note = time_text(float(value)) if 0 <= value < 253402300800 else ""
            rows.append((name, text, note))
        return rows

    def claim_when(self, name: str) -> str | None:
        """A time claim's value as ISO 8601 in UTC (for the page's <time>), else None."""
        value = self.claims.get(name)
        if name not in TIME_CLAIMS or not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return iso_time(float(value)) if 0 <= value < 253402300800 else None

    def header_text(self) -> str:
        return json.dumps(dict(self.header), ensure_ascii=False, sort_keys=True)


def token_view(token: Mapping[str, Any] | None) -> TokenView | None:
    """The shown part of a stored token record ({"header", "claims", "verified"?})."""
    if not token:
        return None
    header = token.get("header")
    claims = token.get("claims")
    header = dict(header) if isinstance(header, Mapping) else {}
    claims = claims if isinstance(claims, Mapping) else {}
    shown = {name: claims[name] for name in TOKEN_CLAIMS if name in claims}
    return TokenView(header=header, claims=shown, verified=token.get("verified", True) is not False)


@dataclass(frozen=True, slots=True)
class QshCheck:
    """The canonical request the server computed, its hash, and the token's claim to compare."""

    canonical_request: str
    computed_qsh: str
    token_qsh: str | None

    @property
    def matches(self) -> bool | None:
        """Whether the token's qsh is the hash of the canonical request; None without a qsh."""
        if self.token_qsh is None:
            return None
        return self.token_qsh == self.computed_qsh


def _sha256(text: str) -> str:
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def qsh_check(delivery: Delivery) -> QshCheck | None:
    if delivery.canonical_request is None:
        return None
    claims = (delivery.token or {}).get("claims")
    qsh = claims.get("qsh") if isinstance(claims, Mapping) else None
    return QshCheck(
        canonical_request=delivery.canonical_request,
        computed_qsh=_sha256(delivery.canonical_request),
        token_qsh=qsh if isinstance(qsh, str) else None,
    )


CHECK_SCHEMES = {
    "cloud-signature": "Jira's signature of the body ({algorithm} with the source's secret, "
    "compared with the {header} header)",
    "header-token": "the {header} header against the source's secret (kept as a SHA-256 digest)",
    "bearer": "the {header} header (Bearer) against the source's secret (kept as a SHA-256 digest)",
    "forge-invocation-token": "the Forge Invocation Token in the Authorization header (RS256 with"
    " a key of Forge's key set; iss, aud = FORGE_APP_ID, exp, nbf, iat)",
}
SECRET_USED = {
    "current": "the current one",
    "previous": "the previous one, still accepted after a rotation: give Jira the new secret",
}


@dataclass(frozen=True, slots=True)
class CheckView:
    """What a door verified of a request (a source's signature or token), as far as it may be
    shown: the scheme and the header read, never a secret or the credential that came."""

    scheme: str
    header: str | None
    matched: bool | None
    rows: list[tuple[str, str]]


def check_view(delivery: Delivery) -> CheckView | None:
    record = delivery.verification
    if not record:
        return None
    scheme = str(record.get("scheme") or "unknown")
    header = record.get("header")
    header = header if isinstance(header, str) else None
    algorithm = str(record.get("algorithm") or "HMAC-SHA256")
    matched = record.get("matched")
    described = CHECK_SCHEMES.get(scheme, "")
    rows = [
        ("Scheme", scheme),
        ("Checked", described.format(algorithm=algorithm, header=header or "?")),
        ("Header", header or ""),
        ("Secret", SECRET_USED.get(str(record.get("secret")), "")),
        ("Key id", str(record.get("kid") or "")),
        ("Envelope", str(record.get("envelope") or "")),
        ("System token", _system_token_text(record)),
    ]
    shown = record.get("shown")  # a door's own facts of its check, shown as given
    if isinstance(shown, dict):
        rows += [(str(name), str(value)) for name, value in shown.items()]
    return CheckView(
        scheme=scheme,
        header=header,
        matched=matched if isinstance(matched, bool) else None,
        rows=[(name, value) for name, value in rows if value],
    )


def _system_token_text(record: Mapping[str, Any]) -> str:
    """Whether a Forge call brought the app's system token, and until when (never the token)."""
    if "system_token" not in record:
        return ""
    token = record.get("system_token")
    expires = token.get("expires_at") if isinstance(token, Mapping) else None
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        return f"came, valid until {time_text(float(expires))} (kept encrypted)"
    return "none came"


@dataclass(frozen=True, slots=True)
class PayloadText:
    """The body for display: pretty JSON when it parses, else text; cut at a display limit."""

    text: str
    is_json: bool
    size: int
    stored: int
    cut: bool

    @property
    def note(self) -> str:
        parts = []
        if self.stored < self.size:
            parts.append(f"only the first {self.stored:,} of {self.size:,} bytes were kept")
        if self.cut:
            parts.append(f"shown up to {PAYLOAD_DISPLAY_LIMIT:,} characters")
        return "; ".join(parts)


def parsed_payload(delivery: Delivery) -> Any:
    """The body as JSON made showable (the store's rule: no lone surrogate, no infinity), or None."""
    return parse_stored_json(delivery.body)


def payload_text(delivery: Delivery) -> PayloadText | None:
    if not delivery.body:
        return None
    parsed = parsed_payload(delivery)
    if parsed is not None:
        text, is_json = json.dumps(parsed, indent=2, ensure_ascii=False), True
    else:
        text, is_json = delivery.body.decode("utf-8", "replace"), False
    return PayloadText(
        text=text[:PAYLOAD_DISPLAY_LIMIT],
        is_json=is_json,
        size=max(delivery.body_size, len(delivery.body)),
        stored=len(delivery.body),
        cut=len(text) > PAYLOAD_DISPLAY_LIMIT,
    )
