"""The scenarios: bare Starlette, the add-on's ingest runs, the soak, a million rows, py-spy."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from addon.simulator._forge_keys import ForgeIdentity, ForgeKeyServer
from addon.simulator._keyserver import KeyServerAddress
from bench import _million, _million_pages, _profile
from bench._databases import check_stored, database, migrate, status_counts
from bench._forge import forge_env, install_forge, sign_forge_pool
from bench._harness import MIB, ROOT, WARMUP_REQUESTS, Harness
from bench._procs import ServerProcess, clean_environment, free_port, key_server, rss_kib
from bench._report import Row, log, log_row
from bench._requests import RequestPool, make_bodies

__all__ = ["SOAK_FIRST", "SOAK_TOTAL", "Bench"]

SOAK_FIRST, SOAK_TOTAL = 20_000, 200_000


class Bench(Harness):
    """The runs one command makes, each filling its part of the report."""

    def bare(self) -> dict[int, Row]:
        return self._plain("bare", "bare_app:app", "bare Starlette (uvicorn, no access log)", {})

    def floor(self, schema: str) -> dict[int, Row]:
        """The floor (bench/floor_app.py): verify, parse and commit, nothing else."""
        label = {
            "none": "floor: verify + parse, nothing stored",
            "append": "floor: verify + parse + append (no index)",
            "indexed": "floor: verify + parse + the add-on's indexed log",
        }[schema]
        name = f"floor-{schema}"
        with database("sqlite", self.workdir, name, None) as database_url:
            env = {
                "FLOOR_DATABASE": database_url.removeprefix("sqlite:///"),
                "FLOOR_SCHEMA": schema,
                "FLOOR_CLIENT_KEY": self.site.client_key,
                "FLOOR_SHARED_SECRET": self.site.shared_secret,
            }
            checked = database_url if schema != "none" else None
            return self._plain(name, "floor_app:app", label, env, database_url=checked)

    def _plain(
        self,
        name: str,
        app: str,
        label: str,
        env: dict[str, str],
        *,
        database_url: str | None = None,
    ) -> dict[int, Row]:
        """A server from bench/ on uvicorn, no access log; stored = 2xx checked with a database."""
        port = free_port()
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        argv = [
            *self.pin(self.server_cpus),
            self.python,
            "-m",
            "uvicorn",
            app,
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
            env=clean_environment(env),
            cwd=directory,
            log_path=directory / "server.log",
            ready_path="/ready",
        )
        pool = self.requests(self.args.requests)
        rows: dict[int, Row] = {}
        with server:
            self.report.idle_rss_mib[label] = rss_kib(server.pid)["VmRSS"] / MIB
            self.load(server, pool, 16, f"{name}-warm-", count=WARMUP_REQUESTS)
            for connections in self.args.concurrency:
                before = status_counts(database_url) if database_url else {}
                result, peak = self.load(
                    server, pool, connections, f"{name}{connections}-", seconds=self.args.seconds
                )
                if database_url is None:
                    rows[connections] = self.row(label, result, peak)
                else:
                    good, text = check_stored(before, status_counts(database_url), result)
                    rows[connections] = self.row(label, result, peak, stored_ok=good, note=text)
                    if not good:
                        self.report.problems.append(f"{label} c={connections}: {text}")
                log_row(rows[connections])
        return rows

    def addon(
        self, name: str, label: str, kind: str, *, access_log: bool, admin_url: str | None = None
    ) -> dict[int, Row]:
        pool = self.requests(self.args.requests)
        rows: dict[int, Row] = {}
        with (
            database(kind, self.workdir, name, admin_url) as database_url,
            key_server({self.site.kid: self.site.public_key_pem}) as keys,
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

    def forge(
        self, name: str, label: str, kind: str, *, access_log: bool, admin_url: str | None = None
    ) -> dict[int, Row]:
        """The Forge door in the same conditions as `addon`: FIT-verified events to /forge/events."""
        identity = ForgeIdentity.generate()
        began = time.perf_counter()
        pool: RequestPool = sign_forge_pool(
            identity, self.workdir / "forge-requests", self.args.requests
        )
        log(f"signed {pool.count:,} Forge requests in {time.perf_counter() - began:.1f} s")
        rows: dict[int, Row] = {}
        with (
            database(kind, self.workdir, name, admin_url) as database_url,
            key_server({self.site.kid: self.site.public_key_pem}) as keys,
            ForgeKeyServer(KeyServerAddress("127.0.0.1", free_port()), identity) as forge_keys,
        ):
            server = self.start_addon(
                name, database_url, keys, access_log=access_log, extra_env=forge_env(forge_keys.url)
            )
            try:
                self.report.idle_rss_mib[label] = rss_kib(server.pid)["VmRSS"] / MIB
                install_forge(server.url, identity)
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
            key_server({self.site.kid: self.site.public_key_pem}) as keys,
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
            key_server({self.site.kid: self.site.public_key_pem}) as keys,
        ):
            asyncio.run(migrate(database_url))
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
                        _million_pages.time_pages(database_url, generated, self.args.page_runs)
                    )
                ]
                if inspector:
                    result["http_pages"] = [
                        asdict(t)
                        for t in asyncio.run(
                            _million_pages.time_http_pages(
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
            key_server({self.site.kid: self.site.public_key_pem}) as keys,
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
