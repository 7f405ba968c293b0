"""Several instances on one PostgreSQL database: shared tenants, secret rotation seen by the other
instance within a second, handlers never run twice at once, and the survivor finishes a killed
instance's work. Both processes start at the same moment on a fresh database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from addon.simulator import SimulatedSite
from addon.store import MIGRATIONS
from tests.auth.keyserver import KeyServer
from tests.conftest import postgres_database
from tests.reliability.support import (
    PROBE_HANDLERS,
    Jira,
    assert_json_refusal,
    assert_never_concurrent,
    base_env,
    query,
    read_runs,
    scalar,
    server_pid,
    start_together,
    until,
)
from tests.support.connect import ADDON_KEY
from tests.support.live import LiveServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PUBLIC_URL = "http://addon.reliability.test"  # what both instances call themselves (the balancer)
LEASE_SECONDS = 2
HANDLER_SECONDS = 0.5
CONCURRENCY = 8


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    jira: Jira
    database_url: str
    probe: Path


@pytest.fixture(scope="module")
def cluster(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("instances")
    probe = directory / "probe.log"
    with postgres_database(postgres_server) as database_url, KeyServer() as keys:
        env = base_env(
            database_url,
            keys,
            ADDON_BASE_URL=PUBLIC_URL,
            ADDON_HANDLERS=PROBE_HANDLERS,
            PROBE_LOG=str(probe),
            PROBE_SLEEP=str(HANDLER_SECONDS),
            HANDLER_LEASE_SECONDS=str(LEASE_SECONDS),
            HANDLER_CONCURRENCY=str(CONCURRENCY),
        )
        a, b = LiveServer(env, log_dir=directory), LiveServer(env, log_dir=directory)
        try:
            start_together([a, b])
            yield Cluster(a, b, Jira(keys, PUBLIC_URL), database_url, probe)
        finally:
            a.stop()
            b.stop()
        for server in (a, b):
            assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def site(cluster: Cluster) -> SimulatedSite:
    site = cluster.jira.site()
    response = cluster.jira.install(cluster.a.url, site)
    assert response.status_code == 204, response.text
    return site


def test_simultaneous_start_migrates_once(cluster: Cluster) -> None:
    for server in (cluster.a, cluster.b):
        assert httpx.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
    rows = query(
        cluster.database_url,
        "SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version",
    )
    assert [(row["version"], row["n"]) for row in rows] == [(m.version, 1) for m in MIGRATIONS]
    assert scalar(cluster.database_url, "SELECT COUNT(*) FROM deliveries") == 0


def test_install_through_one_webhooks_through_the_other(
    cluster: Cluster, site: SimulatedSite
) -> None:
    identifiers = [f"ab-{n}" for n in range(4)]
    for identifier in identifiers:
        response = cluster.jira.webhook(cluster.b.url, site, identifier)
        assert response.status_code == 204, response.text
    rows = query(
        cluster.database_url,
        "SELECT webhook_id, status, origin FROM deliveries WHERE webhook_id LIKE 'ab-%'",
    )
    assert sorted((r["webhook_id"], r["status"], r["origin"]) for r in rows) == [
        (identifier, "accepted", site.client_key) for identifier in identifiers
    ]
    # Each instance also refuses a site that was never installed anywhere.
    stranger = cluster.jira.site()
    for server in (cluster.a, cluster.b):
        assert_json_refusal(cluster.jira.webhook(server.url, stranger), 401)


def test_rotation_through_one_is_honoured_by_the_other_within_a_second(cluster: Cluster) -> None:
    jira = cluster.jira
    site = jira.site()
    assert jira.install(cluster.a.url, site).status_code == 204
    with httpx.Client(timeout=5) as client:
        # B has the old secret in its cache now.
        assert jira.webhook(cluster.b.url, site, client=client).status_code == 204
        rotated = site.with_secret(SimulatedSite.new_secret())
        # Signed a second later: the same token with another secret would be a replay.
        later = time.time() + 1
        assert jira.install(cluster.a.url, rotated, now=later).status_code == 204
        rotated_at = time.monotonic()

        def old_refused() -> bool:
            return jira.webhook(cluster.b.url, site, client=client).status_code == 401

        def new_accepted() -> bool:
            return jira.webhook(cluster.b.url, rotated, client=client).status_code == 204

        until(old_refused, timeout=1.0, interval=0.02, what="B refuses the old secret")
        until(new_accepted, timeout=1.0, interval=0.02, what="B accepts the new secret")
        assert time.monotonic() - rotated_at <= 1.0
        # And it stays that way, on both instances.
        for server in (cluster.a, cluster.b):
            refusal = assert_json_refusal(jira.webhook(server.url, site, client=client), 401)
            assert refusal["error"] == "invalid_signature"
            assert jira.webhook(server.url, rotated, client=client).status_code == 204


def test_a_token_captured_at_one_instance_is_no_replay_at_the_other(
    cluster: Cluster, site: SimulatedSite
) -> None:
    jira = cluster.jira
    # A webhook token: no other body under its identifier; another identifier is marked.
    target, body, headers = jira.webhook_request(site, "REL-7", "captured-1")
    assert httpx.post(cluster.a.url + target, content=body, headers=headers).status_code == 204
    forged = body.replace(b"REL-7", b"REL-8")
    replay = httpx.post(cluster.b.url + target, content=forged, headers=headers)
    assert assert_json_refusal(replay, 401)["error"] == "token_replayed"
    elsewhere = {**headers, "X-Atlassian-Webhook-Identifier": "captured-2"}
    assert httpx.post(cluster.b.url + target, content=forged, headers=elsewhere).status_code == 204
    rows = query(
        cluster.database_url,
        "SELECT webhook_id, status, token_reused FROM deliveries"
        " WHERE webhook_id LIKE 'captured-%' ORDER BY id",
    )
    assert [(r["webhook_id"], r["status"], r["token_reused"]) for r in rows] == [
        ("captured-1", "accepted", 0),
        ("captured-1", "rejected", 1),
        ("captured-2", "accepted", 1),
    ]
    # A lifecycle token: the install captured at A cannot carry another secret through B.
    other = jira.site()
    token = other.install_token(addon_base_url=jira.public_url, target="/installed")
    payload = other.lifecycle_payload("installed", ADDON_KEY)
    sent = {"Content-Type": "application/json", "Authorization": f"JWT {token}"}
    first = httpx.post(cluster.a.url + "/installed", content=json.dumps(payload), headers=sent)
    assert first.status_code == 204, first.text
    swapped = {**payload, "sharedSecret": SimulatedSite.new_secret()}
    again = httpx.post(cluster.b.url + "/installed", content=json.dumps(swapped), headers=sent)
    assert assert_json_refusal(again, 401)["error"] == "token_replayed"
    assert (
        jira.webhook(cluster.b.url, other.with_secret(swapped["sharedSecret"])).status_code == 401
    )
    assert jira.webhook(cluster.b.url, other).status_code == 204


def unfinished(database_url: str) -> int:
    return int(
        scalar(
            database_url,
            "SELECT COUNT(*) FROM deliveries WHERE status = 'accepted' AND handler_state <> 'done'",
        )
    )


def test_handlers_longer_than_the_lease_are_renewed_not_taken_over(
    cluster: Cluster, site: SimulatedSite
) -> None:
    until(lambda: unfinished(cluster.database_url) == 0, timeout=30, interval=0.1)
    identifiers = [f"long-{n}" for n in range(4)]
    for n, identifier in enumerate(identifiers):
        node = cluster.a if n % 2 == 0 else cluster.b
        extra = {"probe_sleep": LEASE_SECONDS * 1.5}
        response = cluster.jira.webhook(node.url, site, identifier, extra=extra)
        assert response.status_code == 204, response.text
    until(lambda: unfinished(cluster.database_url) == 0, timeout=20, interval=0.1)
    runs = [run for run in read_runs(cluster.probe) if run.webhook_id in identifiers]
    assert sorted(run.webhook_id for run in runs) == identifiers, "each ran exactly once"
    assert all(run.end is not None for run in runs)
    assert_never_concurrent(read_runs(cluster.probe), killed={})


def test_killed_instance_work_is_finished_by_the_survivor(
    cluster: Cluster, site: SimulatedSite
) -> None:
    """Runs last: it kills A. Handlers run on both; never twice at once; all complete."""
    until(lambda: unfinished(cluster.database_url) == 0, timeout=30, interval=0.1)
    identifiers = [f"kill-{n}" for n in range(2 * CONCURRENCY)]
    with httpx.Client(timeout=10) as client:
        for n, identifier in enumerate(identifiers):
            node = cluster.a if n % 2 == 0 else cluster.b
            response = cluster.jira.webhook(node.url, site, identifier, client=client)
            assert response.status_code == 204, response.text
    pid_a, pid_b = server_pid(cluster.a), server_pid(cluster.b)

    def a_is_running_handlers() -> bool:
        return any(
            run.pid == pid_a and run.end is None and run.webhook_id.startswith("kill-")
            for run in read_runs(cluster.probe)
        )

    until(a_is_running_handlers, timeout=15, interval=0.01, what="A runs handlers")
    cluster.a.kill()
    killed_at = time.time()

    until(
        lambda: unfinished(cluster.database_url) == 0,
        timeout=30,
        interval=0.1,
        what="every delivery's handler done",
    )
    accepted = {
        int(row["id"]): row["webhook_id"]
        for row in query(
            cluster.database_url, "SELECT id, webhook_id FROM deliveries WHERE status = 'accepted'"
        )
    }
    assert set(identifiers) <= set(accepted.values())
    runs = read_runs(cluster.probe)
    assert {run.pid for run in runs} == {pid_a, pid_b}, "both instances ran handlers"
    assert_never_concurrent(runs, killed={pid_a: killed_at})
    completed = {run.delivery_id for run in runs if run.end is not None}
    assert completed >= set(accepted), f"never completed: {sorted(set(accepted) - completed)}"
    interrupted = {run.delivery_id for run in runs if run.pid == pid_a and run.end is None}
    assert interrupted, "the kill interrupted no handler"
    for delivery_id in interrupted:
        assert any(
            run.delivery_id == delivery_id
            and run.pid == pid_b
            and run.start > killed_at
            and run.end is not None
            for run in runs
        ), f"B did not finish delivery {delivery_id} that A was running"
    # B still serves, and still runs handlers.
    assert cluster.jira.webhook(cluster.b.url, site, "after-kill").status_code == 204
    until(lambda: unfinished(cluster.database_url) == 0, timeout=10, interval=0.1)
