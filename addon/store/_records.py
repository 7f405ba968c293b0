"""Plain records of the delivery log: what is written, and what is read back."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from addon.store._db import Row
from addon.store._storable import parse_stored_json

__all__ = ["Delivery", "DeliveryStatus", "HandlerState", "NewDelivery", "Recorded"]


class DeliveryStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"


class HandlerState(enum.StrEnum):
    NONE = "none"
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    HELD = "held"
    """Kept back until its actor's account is mapped (`UNMAPPED_ACTORS=hold`)."""


@dataclass(slots=True)
class NewDelivery:
    """A delivery as it arrived, ready to be written; credentials already removed."""

    received_at: float
    origin_kind: str
    origin: str | None
    status: DeliveryStatus
    event: str | None = None
    webhook_id: str | None = None
    retry: int = 0
    flow: str | None = None
    reason: str | None = None
    error_code: str | None = None
    method: str | None = None
    path: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    token: Mapping[str, Any] | None = None
    canonical_request: str | None = None
    qsh_expected: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_size: int = 0
    resource: str | None = None
    action: str | None = None
    issue_key: str | None = None
    project_key: str | None = None
    sprint_id: str | None = None
    actor: str | None = None
    search_keys: tuple[str, ...] = ()
    verification: Mapping[str, Any] | None = None
    token_digest: bytes | None = None
    """What replay checks compare of its token (`webhook_token_key`), never the token itself."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of writing one delivery (REJECTED: its token was replayed with another body)."""

    id: int
    status: DeliveryStatus
    duplicate_of: int | None = None
    token_reused: bool = False
    reason: str | None = None


def _optional(row: Row, column: str) -> Any:
    """A column a partial row may lack (a sqlite3.Row's `in` looks at values, not names)."""
    return row[column] if column in row.keys() else None  # noqa: SIM118


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored delivery as read back."""

    id: int
    received_at: float
    origin_kind: str
    origin: str | None
    event: str | None
    webhook_id: str | None
    retry: int
    flow: str | None
    status: DeliveryStatus
    reason: str | None
    error_code: str | None
    method: str | None
    path: str | None
    context: Mapping[str, str]
    token: Mapping[str, Any] | None
    canonical_request: str | None
    qsh_expected: str | None
    headers: Mapping[str, str]
    body: bytes
    body_size: int
    resource: str | None
    action: str | None
    issue_key: str | None
    project_key: str | None
    sprint_id: str | None
    actor: str | None
    handler_state: HandlerState
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    completed_at: float | None
    duplicate_of: int | None
    verification: Mapping[str, Any] | None = None
    replays: int = 0
    replayed_at: float | None = None
    token_reused: bool = False
    """Its token was seen before on another delivery (Jira may send one token twice; see README)."""
    held_site: str | None = None
    held_account: str | None = None
    """The account of `held_site` it is held for (or, released, handled in turn for)."""

    @classmethod
    def from_row(cls, row: Row) -> Delivery:
        return cls(
            id=int(row["id"]),
            received_at=float(row["received_at"]),
            origin_kind=row["origin_kind"],
            origin=row["origin"],
            event=row["event"],
            webhook_id=row["webhook_id"],
            retry=int(row["retry"]),
            flow=row["flow"],
            status=DeliveryStatus(row["status"]),
            reason=row["reason"],
            error_code=row["error_code"],
            method=row["method"],
            path=row["path"],
            context=parse_stored_json(row["context"], {}),
            token=parse_stored_json(row["token"]),
            canonical_request=row["canonical_request"],
            qsh_expected=row["qsh_expected"],
            headers=parse_stored_json(row["headers"], {}),
            body=bytes(row["body"] or b""),
            body_size=int(row["body_size"] or 0),
            resource=row["resource"],
            action=row["action"],
            issue_key=row["issue_key"],
            project_key=row["project_key"],
            sprint_id=row["sprint_id"],
            actor=row["actor"],
            handler_state=HandlerState(row["handler_state"]),
            attempts=int(row["attempts"]),
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            completed_at=row["completed_at"],
            duplicate_of=row["duplicate_of"],
            verification=json.loads(row["verification"]) if row["verification"] else None,
            replays=int(row["replays"]),
            replayed_at=row["replayed_at"],
            token_reused=bool(row["token_reused"]),
            held_site=_optional(row, "held_site"),
            held_account=_optional(row, "held_account"),
        )

    def payload(self) -> Any:
        """The body parsed as JSON, or None if it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None
