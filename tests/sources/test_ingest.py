"""Admin-webhook ingest without HTTP, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from addon.errors import Refusal
from addon.incoming import Incoming
from addon.ingest import Ingest
from addon.sources import Source, SourceDoor, SourceMode, Sources, signature_for
from addon.sources._errors import SourceSecretUnavailable
from addon.store import (
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    HandlerState,
    Recorded,
    Store,
    open_store,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "sources"
DC_FILE = "jira_issue_updated__mattermost-server-work-started.json"
CLOUD_FILE = "jira_issue_updated__mattermost-cloud-assigned-empty-changelog.json"
SECRET = "cloud-secret-" + "q7" * 16
TOKEN = "dc-token-" + "x9" * 16
NEW = "rotated-secret-" + "z3" * 16
KEY = b"k" * 32


def payload(name: str) -> bytes:
    """A fixture as Jira sends it: compact JSON."""
    return json.dumps(json.loads((DATA / name).read_text()), separators=(",", ":")).encode()


DC_BODY = payload(DC_FILE)
CLOUD_BODY = payload(CLOUD_FILE)


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Receiver:
    """The sources door and the log, as the webhook lane joins them."""

    door: SourceDoor
    ingest: Ingest

    async def receive(self, request: Incoming, source_key: str) -> Recorded:
        return await self.ingest.record(await self.door.verify(request, source_key))


@dataclass
class Rig:
    store: Store
    sources: Sources
    ingest: Receiver
    clock: Clock

    async def add(self, name: str, mode: SourceMode, secret: str, **kw: Any) -> Source:
        return await self.sources.add(name, mode, secret, **kw)

    async def rows(self, status: DeliveryStatus, count: int) -> list[Delivery]:
        """The source deliveries with `status`, oldest first, once `count` are written."""
        deadline = time.monotonic() + 5
        while True:
            rows = await self.store.deliveries.page(
                DeliveryFilter(origin_kind="source", status=status.value), limit=100
            )
            if len(rows) >= count or time.monotonic() > deadline:
                return list(reversed(rows))
            await asyncio.sleep(0.02)


def run(url: str, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    async def go() -> None:
        store = await open_store(url, keys=(KEY,), handler_state=HandlerState.PENDING)
        await store.start()
        clock = Clock()
        sources = Sources(store.db, store.box)
        try:
            door = SourceDoor(sources, clock=clock)
            await scenario(Rig(store, sources, Receiver(door, Ingest(store.writer)), clock))
        finally:
            await store.close()

    asyncio.run(go())


def request(
    source_key: str, body: bytes, headers: Sequence[tuple[str, str]] = (), *, query: str = ""
) -> Incoming:
    return Incoming(
        method="POST",
        path=f"/webhooks/jira/sources/{source_key}",
        query=query,
        headers=[
            ("Content-Type", "application/json"),
            ("User-Agent", "Atlassian HttpClient"),
            *headers,
        ],
        body=body,
        received_at=time.time(),
    )


def signed(body: bytes, secret: str = SECRET) -> tuple[str, str]:
    return ("X-Hub-Signature", signature_for(body, secret))


async def refused(rig: Rig, incoming: Incoming, source_key: str, status: int, code: str) -> None:
    with pytest.raises(Refusal) as caught:
        await rig.ingest.receive(incoming, source_key)
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.reason
    assert caught.value.reason


def test_each_mode_accepted_with_its_secret(database_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        cloud = await rig.add("jira-cloud", SourceMode.CLOUD_SIGNATURE, SECRET)
        dc = await rig.add("jira-dc", SourceMode.HEADER_TOKEN, TOKEN, header="X-Jira-Key")
        bearer = await rig.add("automation", SourceMode.BEARER, TOKEN)
        results = [
            await rig.ingest.receive(
                request(cloud.key, CLOUD_BODY, [signed(CLOUD_BODY)]), cloud.key
            ),
            await rig.ingest.receive(request(dc.key, DC_BODY, [("X-Jira-Key", TOKEN)]), dc.key),
            await rig.ingest.receive(
                request(bearer.key, DC_BODY, [("Authorization", f"Bearer {TOKEN}")]), bearer.key
            ),
        ]
        assert [r.status for r in results] == [DeliveryStatus.ACCEPTED] * 3
        stored = [await rig.store.deliveries.get(r.id) for r in results]
        assert [(d.origin_kind, d.origin) for d in stored if d] == [
            ("source", "jira-cloud"),
            ("source", "jira-dc"),
            ("source", "automation"),
        ]
        cloud_row, dc_row, bearer_row = (d for d in stored if d)
        assert cloud_row.event == dc_row.event == "jira:issue_updated"
        assert cloud_row.body == CLOUD_BODY and dc_row.body == DC_BODY
        assert cloud_row.issue_key == "TEST-123" and cloud_row.actor == "123456"
        assert dc_row.issue_key == "TES-4" and dc_row.actor == "admin"
        assert dc_row.handler_state is HandlerState.PENDING
        assert "x-hub-signature" not in cloud_row.headers
        assert "x-jira-key" not in dc_row.headers
        assert "authorization" not in bearer_row.headers
        assert dc_row.headers["user-agent"] == "Atlassian HttpClient"
        for row, source in zip((cloud_row, dc_row, bearer_row), (cloud, dc, bearer), strict=True):
            assert source.key not in (row.path or "")
            assert row.path == f"/webhooks/jira/sources/{source.key[:4]}***"
            assert row.context == {}
        cloud_payload = cloud_row.payload()
        assert isinstance(cloud_payload, dict) and cloud_payload["user"]["accountId"] == "123456"
        dc_payload = dc_row.payload()
        assert isinstance(dc_payload, dict) and "accountId" not in dc_payload["user"]

    run(database_url, scenario)


def test_cloud_signature_refusals_recorded(database_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        cloud = await rig.add("jira-cloud", SourceMode.CLOUD_SIGNATURE, SECRET)
        other = CLOUD_BODY.replace(b"TEST-123", b"TEST-124")
        cases = [
            ([signed(CLOUD_BODY, "not-the-secret-0123456789")], CLOUD_BODY, "signature_mismatch"),
            ([], CLOUD_BODY, "missing_signature"),
            ([signed(CLOUD_BODY)], other, "signature_mismatch"),
            ([("X-Hub-Signature", "sha1=" + "0" * 40)], CLOUD_BODY, "unsupported_signature_method"),
            ([("X-Hub-Signature", "sha256=zz")], CLOUD_BODY, "malformed_signature"),
        ]
        for headers, body, code in cases:
            await refused(rig, request(cloud.key, body, headers), cloud.key, 401, code)
        rows = await rig.rows(DeliveryStatus.REJECTED, len(cases))
        assert [r.error_code for r in rows] == [code for _, _, code in cases]
        for row in rows:
            assert (row.origin_kind, row.origin) == ("source", "jira-cloud")
            assert row.reason and row.status is DeliveryStatus.REJECTED
            assert "x-hub-signature" not in row.headers
            assert cloud.key not in (row.path or "")
            assert SECRET not in (row.reason or "")

    run(database_url, scenario)


@pytest.mark.parametrize("mode", [SourceMode.HEADER_TOKEN, SourceMode.BEARER])
def test_token_refusals_recorded(database_url: str, mode: SourceMode) -> None:
    async def scenario(rig: Rig) -> None:
        source = await rig.add("jira-dc", mode, TOKEN)
        header = "Authorization" if mode is SourceMode.BEARER else "X-Webhook-Token"
        prefix = "Bearer " if mode is SourceMode.BEARER else ""
        cases: list[tuple[list[tuple[str, str]], str]] = [
            ([(header, prefix + "wrong-token-0123456789")], "token_mismatch"),
            ([], "missing_token"),
            ([(header, prefix + TOKEN + "x")], "token_mismatch"),
            ([signed(DC_BODY, TOKEN)], "missing_token"),
        ]
        if mode is SourceMode.BEARER:
            cases.append(([(header, f"JWT {TOKEN}")], "malformed_authorization"))
        else:
            cases.append(([("Authorization", f"Bearer {TOKEN}")], "missing_token"))
        for headers, code in cases:
            await refused(rig, request(source.key, DC_BODY, headers), source.key, 401, code)
        rows = await rig.rows(DeliveryStatus.REJECTED, len(cases))
        assert [r.error_code for r in rows] == [code for _, code in cases]
        for row in rows:
            assert (row.origin_kind, row.origin) == ("source", "jira-dc")
            assert header.lower() not in row.headers
            assert TOKEN not in json.dumps(dict(row.headers))

    run(database_url, scenario)


def test_custom_header_name_dropped_from_stored_headers(sqlite_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        source = await rig.add("dc", SourceMode.HEADER_TOKEN, TOKEN, header="X-Jira-Key")
        await refused(
            rig, request(source.key, DC_BODY, [("X-Jira-Key", "wrong-0123456789abcdef")]),
            source.key, 401, "token_mismatch",
        )  # fmt: skip
        (row,) = await rig.rows(DeliveryStatus.REJECTED, 1)
        assert "x-jira-key" not in row.headers and "content-type" in row.headers

    run(sqlite_url, scenario)


def test_unknown_key_is_404_and_recorded_without_origin(database_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.add("jira-dc", SourceMode.HEADER_TOKEN, TOKEN)
        unknown = "NoSuchKey0123456789abcdefghijklm"
        incoming = request(unknown, DC_BODY, [("X-Webhook-Token", TOKEN), ("X-Api-Key", "k" * 20)])
        await refused(rig, incoming, unknown, 404, "unknown_source")
        await refused(rig, request("x" * 500, DC_BODY), "x" * 500, 404, "unknown_source")
        first, _ = await rig.rows(DeliveryStatus.REJECTED, 2)
        assert first.origin_kind == "source" and first.origin is None
        assert first.error_code == "unknown_source"
        assert first.path == "/webhooks/jira/sources/NoSu***"
        assert set(first.headers) == {"content-type", "user-agent"}

    run(database_url, scenario)


def test_signature_checked_before_json(database_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        cloud = await rig.add("jira-cloud", SourceMode.CLOUD_SIGNATURE, SECRET)
        junk = b"{not json"
        await refused(rig, request(cloud.key, junk), cloud.key, 401, "missing_signature")
        await refused(rig, request(cloud.key, junk, [signed(junk)]), cloud.key, 400, "invalid_json")
        no_event = b'{"issue":{"key":"A-1"}}'
        await refused(
            rig, request(cloud.key, no_event, [signed(no_event)]), cloud.key, 400, "missing_event"
        )
        rows = await rig.rows(DeliveryStatus.REJECTED, 3)
        assert [r.error_code for r in rows] == [
            "missing_signature",
            "invalid_json",
            "missing_event",
        ]
        assert all(r.origin == "jira-cloud" for r in rows)

    run(database_url, scenario)


def test_events_outside_the_allow_list_are_ignored(database_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        dc = await rig.add(
            "jira-dc",
            SourceMode.HEADER_TOKEN,
            TOKEN,
            events=["comment_created", "jira:issue_created"],
        )
        auth = [("X-Webhook-Token", TOKEN)]
        outcome = await rig.ingest.receive(request(dc.key, DC_BODY, auth), dc.key)
        assert outcome.status is DeliveryStatus.IGNORED
        row = await rig.store.deliveries.get(outcome.id)
        assert row is not None and row.status is DeliveryStatus.IGNORED
        assert row.reason == "jira:issue_updated is not in the event list of source jira-dc"
        assert row.handler_state is HandlerState.NONE
        assert row.origin == "jira-dc" and row.issue_key == "TES-4"
        created = b'{"webhookEvent":"comment_created","comment":{"id":"1"}}'
        accepted = await rig.ingest.receive(request(dc.key, created, auth), dc.key)
        assert accepted.status is DeliveryStatus.ACCEPTED

    run(database_url, scenario)


def test_duplicates_by_webhook_identifier(database_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        dc = await rig.add("jira-dc", SourceMode.HEADER_TOKEN, TOKEN)
        other = await rig.add("jira-dc-2", SourceMode.HEADER_TOKEN, TOKEN)
        headers = [("X-Webhook-Token", TOKEN), ("X-Atlassian-Webhook-Identifier", "wh-42")]
        first = await rig.ingest.receive(request(dc.key, DC_BODY, headers), dc.key)
        retry = [*headers, ("X-Atlassian-Webhook-Retry", "1")]
        second = await rig.ingest.receive(request(dc.key, DC_BODY, retry), dc.key)
        elsewhere = await rig.ingest.receive(request(other.key, DC_BODY, headers), other.key)
        plain = [("X-Webhook-Token", TOKEN)]
        a = await rig.ingest.receive(request(dc.key, DC_BODY, plain), dc.key)
        b = await rig.ingest.receive(request(dc.key, DC_BODY, plain), dc.key)
        assert first.status is DeliveryStatus.ACCEPTED
        assert second.status is DeliveryStatus.DUPLICATE and second.duplicate_of == first.id
        assert elsewhere.status is DeliveryStatus.ACCEPTED
        assert a.status is b.status is DeliveryStatus.ACCEPTED
        row = await rig.store.deliveries.get(second.id)
        assert row is not None and row.retry == 1 and row.webhook_id == "wh-42"

    run(database_url, scenario)


@pytest.mark.parametrize("mode", list(SourceMode))
def test_rotation_without_grace_stops_the_old_secret_at_once(
    database_url: str, mode: SourceMode
) -> None:
    async def scenario(rig: Rig) -> None:
        source = await rig.add("jira", mode, TOKEN)
        await rig.sources.rotate("jira", NEW, now=rig.clock.now)
        old, new = _credentials(mode, DC_BODY, TOKEN), _credentials(mode, DC_BODY, NEW)
        outcome = await rig.ingest.receive(request(source.key, DC_BODY, new), source.key)
        assert outcome.status is DeliveryStatus.ACCEPTED
        with pytest.raises(Refusal) as caught:
            await rig.ingest.receive(request(source.key, DC_BODY, old), source.key)
        assert caught.value.status == 401

    run(database_url, scenario)


@pytest.mark.parametrize("mode", list(SourceMode))
def test_rotation_with_grace_accepts_both_until_it_expires(
    database_url: str, mode: SourceMode
) -> None:
    async def scenario(rig: Rig) -> None:
        source = await rig.add("jira", mode, TOKEN)
        await rig.sources.rotate("jira", NEW, grace=600, now=rig.clock.now)
        old, new = _credentials(mode, DC_BODY, TOKEN), _credentials(mode, DC_BODY, NEW)
        for credentials in (old, new):
            outcome = await rig.ingest.receive(
                request(source.key, DC_BODY, credentials), source.key
            )
            assert outcome.status is DeliveryStatus.ACCEPTED
        rig.clock.now += 599
        outcome = await rig.ingest.receive(request(source.key, DC_BODY, old), source.key)
        assert outcome.status is DeliveryStatus.ACCEPTED
        rig.clock.now += 1
        with pytest.raises(Refusal) as caught:
            await rig.ingest.receive(request(source.key, DC_BODY, old), source.key)
        assert caught.value.status == 401
        outcome = await rig.ingest.receive(request(source.key, DC_BODY, new), source.key)
        assert outcome.status is DeliveryStatus.ACCEPTED

    run(database_url, scenario)


def _credentials(mode: SourceMode, body: bytes, secret: str) -> list[tuple[str, str]]:
    if mode is SourceMode.CLOUD_SIGNATURE:
        return [signed(body, secret)]
    if mode is SourceMode.BEARER:
        return [("Authorization", f"Bearer {secret}")]
    return [("X-Webhook-Token", secret)]


def test_undecryptable_secret_is_503_and_not_recorded(sqlite_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        cloud = await rig.add("jira-cloud", SourceMode.CLOUD_SIGNATURE, SECRET)
        await rig.store.db.execute(
            "UPDATE sources SET secret = ? WHERE name = ?",
            (rig.store.box.encrypt(SECRET, "another-owner"), "jira-cloud"),
        )
        with pytest.raises(SourceSecretUnavailable) as caught:
            await rig.ingest.receive(
                request(cloud.key, CLOUD_BODY, [signed(CLOUD_BODY)]), cloud.key
            )
        assert caught.value.status == 503
        await asyncio.sleep(0.1)
        assert await rig.rows(DeliveryStatus.REJECTED, 0) == []

    run(sqlite_url, scenario)


@pytest.mark.parametrize(
    ("mode", "header", "extra"),
    [
        (SourceMode.CLOUD_SIGNATURE, "X-Hub-Signature", {"algorithm": "HMAC-SHA256"}),
        (SourceMode.HEADER_TOKEN, "X-Webhook-Token", {}),
        (SourceMode.BEARER, "Authorization", {}),
    ],
)
def test_each_delivery_keeps_what_was_checked_never_the_secret(
    database_url: str, mode: SourceMode, header: str, extra: dict[str, str]
) -> None:
    async def scenario(rig: Rig) -> None:
        source = await rig.add("jira", mode, TOKEN)
        good = await rig.ingest.receive(
            request(source.key, DC_BODY, _credentials(mode, DC_BODY, TOKEN)), source.key
        )
        await rig.sources.rotate("jira", NEW, grace=600, now=rig.clock.now)
        by_old = await rig.ingest.receive(
            request(source.key, DC_BODY, _credentials(mode, DC_BODY, TOKEN)), source.key
        )
        wrong = _credentials(mode, DC_BODY, "not-the-secret-0123456789")
        await refused(rig, request(source.key, DC_BODY, wrong), source.key, 401, mode_code(mode))
        junk = b"{not json"
        await refused(
            rig,
            request(source.key, junk, _credentials(mode, junk, NEW)),
            source.key,
            400,
            "invalid_json",
        )
        checked = {"scheme": mode.value, "header": header, **extra}
        accepted = [await rig.store.deliveries.get(r.id) for r in (good, by_old)]
        assert [d.verification if d else None for d in accepted] == [
            {**checked, "matched": True, "secret": "current"},
            {**checked, "matched": True, "secret": "previous"},
        ]
        mismatched, unparsable = await rig.rows(DeliveryStatus.REJECTED, 2)
        assert mismatched.verification == {**checked, "matched": False}
        assert unparsable.verification == {**checked, "matched": True, "secret": "current"}
        for row in (*accepted, mismatched, unparsable):
            assert row is not None
            stored = json.dumps(row.verification)
            assert TOKEN not in stored and NEW not in stored and "not-the-secret" not in stored

    run(database_url, scenario)


def mode_code(mode: SourceMode) -> str:
    return "signature_mismatch" if mode is SourceMode.CLOUD_SIGNATURE else "token_mismatch"


def test_a_request_to_an_unknown_source_has_nothing_checked(sqlite_url: str) -> None:
    async def scenario(rig: Rig) -> None:
        unknown = "NoSuchKey0123456789abcdefghijklm"
        await refused(rig, request(unknown, DC_BODY), unknown, 404, "unknown_source")
        (row,) = await rig.rows(DeliveryStatus.REJECTED, 1)
        assert row.verification is None

    run(sqlite_url, scenario)
