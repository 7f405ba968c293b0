"""The harness the scenarios share: signed requests, the add-on's process, install and load."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

from addon.simulator import KeyServer, SimulatedSite
from bench._procs import (
    RssSampler,
    ServerProcess,
    clean_environment,
    cpu_seconds,
    free_port,
)
from bench._report import Report, Row, log
from bench._requests import RequestPool, sign_pool
from bench._wrk import LoadResult, run_wrk

__all__ = ["ADDON_KEY", "MIB", "ROOT", "WARMUP_REQUESTS", "Harness"]

ROOT = Path(__file__).resolve().parent.parent
ADDON_KEY = "bench-addon"
MIB = 1024
WARMUP_REQUESTS = 3_000


class Harness:
    """What every scenario does: sign requests, start and install the add-on, load it, note a row."""

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
                "CONNECT_INSTALL_KEYS_URL": keys.address.url,
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
