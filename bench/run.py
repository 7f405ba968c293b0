"""The add-on's benchmark: webhook ingest against the bare Starlette stack, on this machine.

Run it from the repository root with the project's Python (the one with its dependencies):

    python bench/run.py                       # ingest at concurrency 1, 16, 64 vs bare Starlette
    python bench/run.py --soak                # + RSS after 20,000 and 200,000 webhooks
    python bench/run.py --million             # + ingest and inspector queries over 1,000,000 rows
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python bench/run.py
                                              # + the same ingest on PostgreSQL (a database of its
                                              #   own is created on that server and dropped after)

What one run does (see bench/README.md for the results and what they mean):

1. checks its tools (wrk, taskset) and says how to install what is missing;
2. signs N jira:issue_updated webhooks ahead of the run (realistic 3-6 KB bodies, a unique
   X-Atlassian-Webhook-Identifier each, context parameters in the URL, an HS256 token with its
   qsh, valid for an hour) into files that bench/webhooks.lua feeds to wrk;
3. starts the bare app (bench/bare_app.py on uvicorn) and then the add-on as users run it
   (`python -m addon serve`, access log on) on a fresh SQLite file, pinned with taskset to CPU 0
   while wrk runs on CPU 1; installs a tenant with a signed RS256 install (a loopback key server
   publishes the key); warms up; then drives each concurrency for --seconds;
4. after every run checks the log: the deliveries stored equal the 2xx answers, exactly;
5. prints one table: requests/s, p50, p99, errors, peak RSS (VmRSS sampled every 50 ms), and
   add-on / bare per concurrency; then the targets of issue #7, met or not.

Never part of the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from addon.simulator import SimulatedSite  # noqa: E402
from bench import _million, _profile  # noqa: E402
from bench._procs import (  # noqa: E402
    KeyServer,
    RssSampler,
    ServerProcess,
    clean_environment,
    cpu_seconds,
    free_port,
    rss_kib,
)
from bench._requests import RequestPool, make_bodies, sign_pool  # noqa: E402
from bench._wrk import LoadResult, check_tools, run_wrk  # noqa: E402

ADDON_KEY = "bench-addon"
MIB = 1024
TARGET_RATIO = 0.30
TARGET_P99_MS = 25.0
TARGET_RSS_MIB = 80.0
WARMUP_REQUESTS = 3_000
SOAK_FIRST, SOAK_TOTAL = 20_000, 200_000


@dataclass
class Row:
    """One line of the results table."""

    server: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    peak_rss_mib: float
    stored_ok: bool | None = None
    note: str = ""
    ratio: float | None = None
    cpu_us: float = 0.0  # server CPU per answered request: all threads
    loop_cpu_us: float = 0.0  # of which the main (event loop) thread


@dataclass
class Report:
    machine: dict[str, str]
    command: str
    rows: list[Row] = field(default_factory=list)
    idle_rss_mib: dict[str, float] = field(default_factory=dict)
    soak: dict[str, Any] = field(default_factory=dict)
    million: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    from importlib.metadata import version

    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for package in ("uvicorn", "starlette", "httptools", "uvloop", "pyjwt", "aiosqlite", "asyncpg"):
        try:
            info[package] = version(package)
        except Exception:
            info[package] = "-"
    with open("/proc/loadavg") as loadavg:
        info["load average at start"] = loadavg.read().split()[0]
    wrk = shutil.which("wrk")
    info["wrk"] = os.popen("wrk --version 2>&1").read().split("[")[0].strip() if wrk else "-"
    return info


# --- databases ----------------------------------------------------------------------------------


@contextmanager
def database(kind: str, workdir: Path, name: str, admin_url: str | None) -> Iterator[str]:
    """A fresh database: a SQLite file in `workdir`, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        directory = workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("addon.db*"):
            old.unlink()
        yield f"sqlite:///{directory}/addon.db"
        return
    assert admin_url is not None
    db_name = f"addon_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            if sql.startswith("DROP"):
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    db_name,
                )
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{db_name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + db_name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{db_name}"'))


def status_counts(database_url: str) -> dict[str, int]:
    """How many deliveries of each status the log holds."""
    sql = "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status"
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
        try:
            return {status: n for status, n in conn.execute(sql)}
        finally:
            conn.close()

    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(database_url)
        try:
            return {r["status"]: r["n"] for r in await conn.fetch(sql)}
        finally:
            await conn.close()

    return asyncio.run(read())


def check_stored(
    before: dict[str, int], after: dict[str, int], load: LoadResult
) -> tuple[bool, str]:
    """Every 2xx answer is one accepted delivery in the log, and nothing else was written."""
    delta = {s: after.get(s, 0) - before.get(s, 0) for s in set(before) | set(after)}
    accepted = delta.pop("accepted", 0)
    others = {s: n for s, n in delta.items() if n}
    if load.drained and load.issued == load.answered:
        good = (
            accepted == load.ok
            and not (others.keys() - {"rejected"})
            and (others.get("rejected", 0) <= load.non2xx)
        )
        text = f"stored {accepted} = {load.ok} 2xx" if good else f"stored {accepted}, 2xx {load.ok}"
    else:  # answers lost to socket errors: those deliveries may or may not have been stored
        good = load.ok <= accepted <= load.issued and not (others.keys() - {"rejected"})
        text = f"stored {accepted}, 2xx {load.ok}, issued {load.issued} (not drained)"
    if others:
        text += f"; also {others}"
    return good, text


# --- servers ------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, report: Report) -> None:
        self.args = args
        self.workdir = workdir
        self.report = report
        self.python = sys.executable
        self.server_cpus = args.server_cpus
        self.wrk_cpus = args.wrk_cpus
        self.site = SimulatedSite.generate()
        self.pool: RequestPool | None = None
        self.last_cpu = (0.0, 0.0)

    def pin(self, cpus: str) -> list[str]:
        return ["taskset", "-c", cpus] if self.args.pin else []

    def requests(self, count: int) -> RequestPool:
        """The pre-signed requests; signed again when older than 45 minutes (tokens live 1 h)."""
        if self.pool is None or self.pool.count < count or time.time() - self.pool.signed_at > 2700:
            began = time.perf_counter()
            self.pool = sign_pool(self.site, "http://127.0.0.1", self.workdir / "requests", count)
            sizes = self.pool.body_sizes
            log(
                f"signed {count:,} requests in {time.perf_counter() - began:.1f} s "
                f"(bodies {min(sizes):,}-{max(sizes):,} bytes, mean {sum(sizes) // len(sizes):,})"
            )
        return self.pool

    def addon_argv(self, port: int, access_log: bool) -> list[str]:
        if access_log:  # exactly what users run
            return [
                *self.pin(self.server_cpus),
                self.python,
                "-m",
                "addon",
                "serve",
                "--port",
                str(port),
            ]
        # The same server without the access log: uvicorn on the app factory, as `addon serve`
        # starts it (proxy headers, httptools and uvloop picked automatically), minus access log.
        return [
            *self.pin(self.server_cpus),
            self.python,
            "-m",
            "uvicorn",
            "addon.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--proxy-headers",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "10",
        ]

    def start_addon(
        self,
        name: str,
        database_url: str,
        keys: KeyServer,
        *,
        access_log: bool,
        extra_env: dict[str, str] | None = None,
    ) -> ServerProcess:
        port = free_port()
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        env = clean_environment(
            {
                "ADDON_BASE_URL": f"http://127.0.0.1:{port}",
                "ADDON_KEY": ADDON_KEY,
                "DATABASE_URL": database_url,
                "CONNECT_INSTALL_KEYS_URL": keys.url,
                "SQLITE_SYNCHRONOUS": self.args.synchronous,
                **(extra_env or {}),
            },
            source=self.args.source,
        )
        server = ServerProcess(
            self.addon_argv(port, access_log),
            port=port,
            env=env,
            cwd=directory,
            log_path=directory / "server.log",
        )
        return server.start()

    def install(self, server: ServerProcess) -> None:
        """Install the tenant as Jira does: RS256-signed, the key fetched from the key server."""
        target = "/installed"
        token = self.site.install_token(addon_base_url=server.url, target=target)
        response = httpx.post(
            server.url + target,
            content=json.dumps(self.site.lifecycle_payload("installed", ADDON_KEY)),
            headers={"Content-Type": "application/json", "Authorization": f"JWT {token}"},
            timeout=10,
        )
        if response.status_code != 204:
            raise RuntimeError(f"install failed: {response.status_code} {response.text}")

    def load(
        self,
        server: ServerProcess,
        pool: RequestPool,
        connections: int,
        tag: str,
        *,
        seconds: float | None = None,
        count: int | None = None,
    ) -> tuple[LoadResult, float]:
        before = cpu_seconds(server.pid)
        with RssSampler(server.pid) as sampler:
            result = run_wrk(
                server.url,
                pool,
                connections=connections,
                tag=tag,
                seconds=seconds,
                count=count,
                cpus=self.wrk_cpus if self.args.pin else None,
            )
        after = cpu_seconds(server.pid)
        used = {tid: t - before.get(tid, 0.0) for tid, t in after.items()}
        answered = max(1, result.answered)
        self.last_cpu = (
            sum(used.values()) / answered * 1e6,
            used.get(server.pid, 0.0) / answered * 1e6,
        )
        return result, sampler.peak_kib / MIB

    # --- scenarios ----------------------------------------------------------------------------

    def bare(self) -> dict[int, Row]:
        port = free_port()
        directory = self.workdir / "bare"
        directory.mkdir(parents=True, exist_ok=True)
        argv = [
            *self.pin(self.server_cpus),
            self.python,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--app-dir",
            str(ROOT / "bench"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        server = ServerProcess(
            argv,
            port=port,
            env=clean_environment({}),
            cwd=directory,
            log_path=directory / "server.log",
            ready_path="/ready",
        )
        pool = self.requests(self.args.requests)
        rows: dict[int, Row] = {}
        with server:
            self.report.idle_rss_mib["bare Starlette"] = rss_kib(server.pid)["VmRSS"] / MIB
            self.load(server, pool, 16, "warm-", count=WARMUP_REQUESTS)
            for connections in self.args.concurrency:
                result, peak = self.load(
                    server, pool, connections, f"bare{connections}-", seconds=self.args.seconds
                )
                rows[connections] = self.row(
                    "bare Starlette (uvicorn, no access log)", result, peak
                )
                log_row(rows[connections])
        return rows

    def addon(
        self, name: str, label: str, kind: str, *, access_log: bool, admin_url: str | None = None
    ) -> dict[int, Row]:
        pool = self.requests(self.args.requests)
        rows: dict[int, Row] = {}
        with (
            database(kind, self.workdir, name, admin_url) as database_url,
            KeyServer({self.site.kid: self.site.public_key_pem}) as keys,
        ):
            server = self.start_addon(name, database_url, keys, access_log=access_log)
            try:
                self.report.idle_rss_mib[label] = rss_kib(server.pid)["VmRSS"] / MIB
                log(f"{label}: idle RSS after start-up {self.report.idle_rss_mib[label]:.1f} MiB")
                self.install(server)
                self.load(server, pool, 16, f"{name}-warm-", count=WARMUP_REQUESTS)
                for connections in self.args.concurrency:
                    before = status_counts(database_url)
                    result, peak = self.load(
                        server,
                        pool,
                        connections,
                        f"{name}-c{connections}-",
                        seconds=self.args.seconds,
                    )
                    good, text = check_stored(before, status_counts(database_url), result)
                    row = self.row(label, result, peak, stored_ok=good, note=text)
                    rows[connections] = row
                    log_row(row)
                    if not good:
                        self.report.problems.append(f"{label} c={connections}: {text}")
            finally:
                server.stop()
        return rows

    def soak(self, label: str) -> None:
        pool = self.requests(max(self.args.requests, SOAK_TOTAL))
        with (
            database("sqlite", self.workdir, "soak", None) as database_url,
            KeyServer({self.site.kid: self.site.public_key_pem}) as keys,
        ):
            server = self.start_addon("soak", database_url, keys, access_log=True)
            try:
                idle = rss_kib(server.pid)["VmRSS"] / MIB
                self.install(server)
                began = time.perf_counter()
                first, peak1 = self.load(server, pool, 64, "soak1-", count=SOAK_FIRST)
                rss_first = rss_kib(server.pid)["VmRSS"] / MIB
                log(f"soak: RSS after {SOAK_FIRST:,} webhooks {rss_first:.1f} MiB")
                second, peak2 = self.load(server, pool, 64, "soak2-", count=SOAK_TOTAL - SOAK_FIRST)
                rss_total = rss_kib(server.pid)["VmRSS"] / MIB
                hwm = rss_kib(server.pid)["VmHWM"] / MIB
                counts = status_counts(database_url)
            finally:
                server.stop()
        ok = first.ok + second.ok
        stored = counts.get("accepted", 0)
        growth = rss_total / rss_first - 1
        self.report.soak = {
            "label": label,
            "idle_rss_mib": idle,
            "rss_after_first_mib": rss_first,
            "rss_after_total_mib": rss_total,
            "vmhwm_mib": hwm,
            "growth": growth,
            "first": SOAK_FIRST,
            "total": SOAK_TOTAL,
            "ok": ok,
            "stored": stored,
            "errors": first.errors + second.errors,
            "seconds": time.perf_counter() - began,
            "rps": (first.answered + second.answered) / (first.seconds + second.seconds),
            "peak_rss_mib": max(peak1, peak2),
        }
        log(
            f"soak: RSS after {SOAK_TOTAL:,} webhooks {rss_total:.1f} MiB ({growth:+.1%}); "
            f"stored {stored:,} of {ok:,} 2xx"
        )
        if stored != ok:
            self.report.problems.append(f"soak: stored {stored} but {ok} answers were 2xx")

    def million(
        self, empty_c64: Row | None, kind: str = "sqlite", admin_url: str | None = None
    ) -> None:
        count = self.args.million_rows
        pool = self.requests(self.args.requests)
        bodies = [body for body, _ in make_bodies()]
        name = f"million-{kind}"
        result: dict[str, Any] = {"rows": count, "kind": kind}
        with (
            database(kind, self.workdir, name, admin_url) as database_url,
            KeyServer({self.site.kid: self.site.public_key_pem}) as keys,
        ):
            asyncio.run(_migrate(database_url))
            log(f"{name}: writing {count:,} deliveries straight into the database ...")
            if kind == "sqlite":
                generated = _million.generate_sqlite(
                    database_url.removeprefix("sqlite:///"), count, bodies
                )
            else:
                generated = asyncio.run(_million.generate_postgres(database_url, count, bodies))
            log(
                f"{name}: {generated.rows:,} deliveries and {generated.keys:,} search keys "
                f"in {generated.seconds:.0f} s"
            )
            result["generate_seconds"] = generated.seconds
            result["keys"] = generated.keys
            if kind == "sqlite":
                size = sum(
                    p.stat().st_size for p in Path(database_url[10:]).parent.glob("addon.db*")
                )
                result["database_bytes"] = size
            inspector = self.inspector_available()
            extra = (
                {"INSPECTOR_USERNAME": "bench", "INSPECTOR_PASSWORD": "bench-password"}
                if inspector
                else {}
            )
            server = self.start_addon(name, database_url, keys, access_log=True, extra_env=extra)
            try:
                self.install(server)
                self.load(server, pool, 16, f"{name}-warm-", count=WARMUP_REQUESTS)
                before = status_counts(database_url)
                load, peak = self.load(server, pool, 64, f"{name}-c64-", seconds=self.args.seconds)
                good, text = check_stored(before, status_counts(database_url), load)
                row = self.row(
                    f"add-on, {count:,} stored ({kind})", load, peak, stored_ok=good, note=text
                )
                if empty_c64 is not None:
                    row.ratio = row.rps / empty_c64.rps
                result["ingest"] = asdict(row)
                log_row(row)
                if not good:
                    self.report.problems.append(f"{name}: {text}")
                log(f"{name}: timing the list query, {self.args.page_runs} runs each ...")
                result["pages"] = [
                    asdict(t)
                    for t in asyncio.run(
                        _million.time_pages(database_url, generated, self.args.page_runs)
                    )
                ]
                if inspector:
                    result["http_pages"] = [
                        asdict(t)
                        for t in asyncio.run(
                            _million.time_http_pages(
                                server.url,
                                ("bench", "bench-password"),
                                generated,
                                self.args.page_runs,
                            )
                        )
                    ]
            finally:
                server.stop()
        self.report.million[kind] = result

    def profile(self, output: Path) -> str:
        """py-spy on the add-on (addon serve, SQLite) while wrk drives it at concurrency 64."""
        pool = self.requests(self.args.requests)
        with (
            database("sqlite", self.workdir, "profile", None) as database_url,
            KeyServer({self.site.kid: self.site.public_key_pem}) as keys,
        ):
            server = self.start_addon(
                "profile", database_url, keys, access_log=self.args.access_log != "off"
            )
            try:
                self.install(server)
                self.load(server, pool, 16, "profile-warm-", count=WARMUP_REQUESTS)
                spy = _profile.record(server.pid, self.args.seconds, output)
                result, peak = self.load(
                    server, pool, 64, "profile-c64-", seconds=self.args.seconds
                )
                spy.wait()
            finally:
                server.stop()
        log_row(self.row("add-on under py-spy (slower than without)", result, peak))
        return _profile.render(_profile.summarise(output))

    def inspector_available(self) -> bool:
        return (ROOT / "addon" / "inspector" / "__init__.py").is_file()

    def row(
        self,
        server: str,
        result: LoadResult,
        peak_mib: float,
        *,
        stored_ok: bool | None = None,
        note: str = "",
    ) -> Row:
        if result.wrapped:
            note += f" ({result.wrapped} requests reused a signed line: raise --requests)"
        if result.non2xx_statuses:
            note += f" non-2xx: {result.non2xx_statuses}"
        return Row(
            server,
            result.connections,
            result.rps,
            result.p50_ms,
            result.p99_ms,
            result.non2xx,
            result.socket_errors,
            peak_mib,
            stored_ok,
            note.strip(),
            cpu_us=self.last_cpu[0],
            loop_cpu_us=self.last_cpu[1],
        )


async def _migrate(database_url: str) -> None:
    from addon.store import open_store

    store = await open_store(database_url, encrypt_existing=False)
    await store.db.disconnect()


# --- output -------------------------------------------------------------------------------------


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def log_row(row: Row) -> None:
    log(
        f"{row.server} c={row.connections}: {row.rps:,.0f} req/s, p50 {row.p50_ms:.2f} ms, "
        f"p99 {row.p99_ms:.2f} ms, errors {row.non2xx}+{row.socket_errors}, "
        f"peak RSS {row.peak_rss_mib:.1f} MiB, CPU {row.cpu_us:.0f} us/request "
        f"({row.loop_cpu_us:.0f} in the event loop thread) {row.note}"
    )


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| server | conc. | req/s | p50 ms | p99 ms | errors (non-2xx / socket) | peak RSS MiB "
        "| add-on / bare | stored = 2xx | server CPU µs/req (loop thread) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.0%}" if r.ratio is not None else ""
        stored = "" if r.stored_ok is None else ("yes" if r.stored_ok else "**NO**")
        lines.append(
            f"| {r.server} | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.non2xx} / {r.socket_errors} | {r.peak_rss_mib:.1f} | {ratio} | {stored} "
            f"| {r.cpu_us:.0f} ({r.loop_cpu_us:.0f}) |"
        )
    return "\n".join(lines)


def render(report: Report) -> str:
    out = [f"Command: `{report.command}`", ""]
    out.append("Machine: " + ", ".join(f"{k} {v}" for k, v in report.machine.items()))
    out.append("")
    out.append(
        "Idle RSS after start-up: "
        + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in report.idle_rss_mib.items())
    )
    out.append("")
    out.append(table(report.rows))
    if report.soak:
        s = report.soak
        out += [
            "",
            f"Soak ({s['label']}, concurrency 64): RSS {s['rss_after_first_mib']:.1f} MiB "
            f"after {s['first']:,} webhooks, {s['rss_after_total_mib']:.1f} MiB after "
            f"{s['total']:,} ({s['growth']:+.1%}; target within 20%); peak (VmHWM) "
            f"{s['vmhwm_mib']:.1f} MiB; {s['rps']:,.0f} req/s; errors {s['errors']}; "
            f"stored {s['stored']:,} = {s['ok']:,} 2xx: {'yes' if s['stored'] == s['ok'] else 'NO'}",
        ]
    for kind, m in report.million.items():
        out += [
            "",
            f"Million ({kind}): {m['rows']:,} deliveries and {m['keys']:,} search keys "
            f"written in {m['generate_seconds']:.0f} s"
            + (f" ({m['database_bytes'] / 2**30:.1f} GiB)" if "database_bytes" in m else ""),
        ]
        if "ingest" in m:
            out += ["", table([Row(**m["ingest"])])]
            if m["ingest"].get("ratio") is not None:
                out.append(
                    f"\nIngest with {m['rows']:,} stored: {m['ingest']['ratio']:.0%} "
                    "of the empty-store figure at concurrency 64 (target: within 10%)"
                )
        for key, title in (
            ("pages", "DeliveryReads.page(filter, limit=50)"),
            ("http_pages", "GET /inspector/api/deliveries?limit=50 (HTTP)"),
        ):
            if key in m:
                out += [
                    "",
                    f"{title}, {m[key][0]['runs']} runs each:",
                    "",
                    "| query | rows | p50 ms | p95 ms | max ms |",
                    "|---|---:|---:|---:|---:|",
                ]
                out += [
                    f"| {t['name']} | {t['rows']} | {t['p50_ms']:.2f} | {t['p95_ms']:.2f} "
                    f"| {t['max_ms']:.2f} |"
                    for t in m[key]
                ]
    out += ["", *targets(report)]
    if report.problems:
        out += ["", "PROBLEMS:", *(f"- {p}" for p in report.problems)]
    return "\n".join(out)


def targets(report: Report) -> list[str]:
    lines = ["Targets (issue #7):"]

    def mark(good: bool) -> str:
        return "met" if good else "MISSED"

    for r in report.rows:
        if r.connections != 64 or r.ratio is None:
            continue
        lines.append(
            f"- {r.server}, c=64: {r.ratio:.0%} of bare (>= 30%: {mark(r.ratio >= TARGET_RATIO)}), "
            f"p99 {r.p99_ms:.1f} ms (<= 25: {mark(r.p99_ms <= TARGET_P99_MS)}), "
            f"errors {r.non2xx + r.socket_errors} ({mark(r.non2xx + r.socket_errors == 0)}), "
            f"peak RSS {r.peak_rss_mib:.1f} MiB (<= 80: {mark(r.peak_rss_mib <= TARGET_RSS_MIB)})"
        )
    if report.soak:
        growth = report.soak["growth"]
        lines.append(
            f"- soak: RSS {growth:+.1%} from 20,000 to 200,000 webhooks "
            f"(within 20%: {mark(growth <= 0.20)})"
        )
    for kind, m in report.million.items():
        ratio = m.get("ingest", {}).get("ratio")
        if ratio is not None:
            lines.append(
                f"- {kind}, {m['rows']:,} stored: ingest {ratio:.0%} of empty (>= 90%: {mark(ratio >= 0.9)})"
            )
        for key in ("pages", "http_pages"):
            worst = max(m.get(key, []), key=lambda t: t["p95_ms"], default=None)
            if worst is not None:
                lines.append(
                    f"- {kind}, {m['rows']:,} stored, {key}: slowest p95 {worst['p95_ms']:.1f} ms "
                    f"({worst['name']}) (< 50 ms: {mark(worst['p95_ms'] < 50)})"
                )
    return lines


# --- main ---------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="each timed run (default 10)")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 16, 64],
        help="connections, comma-separated (default 1,16,64)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=150_000,
        help="pre-signed requests (default 150,000; reused with a new identifier if short)",
    )
    parser.add_argument(
        "--access-log",
        choices=["on", "off", "both"],
        default="both",
        help="the add-on with uvicorn's access log on (as `addon serve`), off, or both "
        "(default both)",
    )
    parser.add_argument(
        "--synchronous",
        choices=["NORMAL", "FULL"],
        default="NORMAL",
        help="SQLITE_SYNCHRONOUS of the add-on (default NORMAL)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL"),
        help="admin URL of a PostgreSQL server for a PostgreSQL run (default: "
        "BENCH_DATABASE_URL or DATABASE_URL if it is postgresql://)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite ingest runs")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare Starlette runs")
    parser.add_argument("--soak", action="store_true", help="RSS after 20,000 and 200,000 webhooks")
    parser.add_argument(
        "--million", action="store_true", help="ingest and list queries over 1,000,000 rows"
    )
    parser.add_argument("--million-rows", type=int, default=1_000_000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--page-runs", type=int, default=50, help="runs per list query (default 50)"
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not use taskset")
    parser.add_argument("--server-cpus", default="0", help="CPUs of the server (default 0)")
    parser.add_argument("--wrk-cpus", default="1", help="CPUs of wrk (default 1)")
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="run the add-on from this source tree (e.g. `git archive` of an older "
        "commit, to measure before/after a change; default: this repository)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep databases and logs here (default: a temp dir, removed)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="instead of the benchmark: py-spy the add-on at concurrency 64 for "
        "--seconds, keep its collapsed stacks in FILE, print where the time goes",
    )
    args = parser.parse_args(argv)
    if args.postgres and not args.postgres.startswith(("postgres://", "postgresql://")):
        args.postgres = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.pin and (os.cpu_count() or 1) < 2:
        log("one CPU only: running unpinned (server and wrk share it)")
        args.pin = False
    missing = check_tools(args.pin)
    if args.profile and _profile.py_spy() is None:
        missing.append("py-spy (for --profile): pip install py-spy")
    if missing:
        print("bench: missing tools:\n" + "\n".join(f"  - {m}" for m in missing), file=sys.stderr)
        return 2
    command = "python bench/run.py" + (
        ""
        if argv is None and len(sys.argv) == 1
        else " " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    report = Report(machine(), command)
    log("machine: " + ", ".join(f"{k} {v}" for k, v in report.machine.items()))
    if float(report.machine["load average at start"]) > 0.5:
        log("the machine is busy (load average above 0.5): the figures will be lower and noisier")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="addon-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, workdir, report)
    if args.profile:
        try:
            print(bench.profile(args.profile))
        finally:
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
        return 0
    try:
        bare = {} if args.no_bare else bench.bare()
        report.rows += [bare[c] for c in args.concurrency if c in bare]
        variants: list[tuple[str, str, str, bool, str | None]] = []
        if not args.no_sqlite:
            if args.access_log in ("on", "both"):
                variants.append(
                    (
                        "sqlite-log",
                        "add-on, SQLite (addon serve, access log on)",
                        "sqlite",
                        True,
                        None,
                    )
                )
            if args.access_log in ("off", "both"):
                variants.append(
                    ("sqlite-nolog", "add-on, SQLite (access log off)", "sqlite", False, None)
                )
        if args.postgres:
            variants.append(
                (
                    "postgres",
                    "add-on, PostgreSQL (addon serve, access log on)",
                    "postgres",
                    True,
                    args.postgres,
                )
            )
        empty_c64: Row | None = None
        for name, label, kind, access_log, admin_url in variants:
            rows = bench.addon(name, label, kind, access_log=access_log, admin_url=admin_url)
            for c, row in rows.items():
                if c in bare:
                    row.ratio = row.rps / bare[c].rps
            report.rows += [rows[c] for c in args.concurrency]
            if name == "sqlite-log" and 64 in rows:
                empty_c64 = rows[64]
        if args.soak:
            bench.soak("add-on, SQLite (addon serve, access log on)")
        if args.million:
            bench.million(empty_c64, "sqlite")
            if args.postgres:
                bench.million(None, "postgres", args.postgres)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text = render(report)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
