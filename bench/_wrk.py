"""Running wrk with webhooks.lua and reading what it measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench._requests import RequestPool

__all__ = ["LoadResult", "check_tools", "run_wrk"]

SCRIPT = Path(__file__).resolve().with_name("webhooks.lua")
DRAIN_SECONDS = 20  # wrk's own deadline after ours: only reached if answers never come


@dataclass(frozen=True, slots=True)
class LoadResult:
    connections: int
    issued: int
    answered: int
    ok: int
    non2xx: int
    non2xx_statuses: str
    socket_errors: int
    wrapped: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    drained: bool

    @property
    def rps(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def check_tools(pin: bool) -> list[str]:
    """What is missing to run the benchmark, each with how to install it."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk (the load generator): apt-get install -y wrk")
    else:
        # Debian's wrk is built with LuaJIT, whose FFI webhooks.lua uses for a precise clock.
        probe = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        if "wrk" not in probe.stdout + probe.stderr:
            missing.append("a working wrk: apt-get install -y wrk")
    if pin and shutil.which("taskset") is None:
        missing.append("taskset (to pin server and wrk to cores): apt-get install -y util-linux")
    return missing


def run_wrk(
    url: str,
    pool: RequestPool,
    *,
    connections: int,
    tag: str,
    seconds: float | None = None,
    count: int | None = None,
    cpus: str | None = None,
    timeout_seconds: int = 10,
) -> LoadResult:
    """Replay `pool` against `url` with `connections` connections, for `seconds` or `count`."""
    if (seconds is None) == (count is None):
        raise ValueError("give seconds or count")
    host = url.split("://", 1)[1].split("/", 1)[0]
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    env = {
        **os.environ,
        "BENCH_REQUESTS": str(pool.requests_file),
        "BENCH_BODIES": str(pool.bodies_file),
        "BENCH_HOST": host,
        "BENCH_TAG": tag,
        "BENCH_RESULT": str(result_path),
        "BENCH_SCHEME": pool.scheme,
        "BENCH_ID_IN_BODY": "1" if pool.id_in_body else "0",
        "BENCH_HEADERS": pool.headers,
    }
    if seconds is not None:
        env["BENCH_SECONDS"] = str(seconds)
        limit = seconds + DRAIN_SECONDS
    else:
        env["BENCH_COUNT"] = str(count)
        limit = 3600
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(limit)}s",
        f"--timeout={timeout_seconds}s",
        "-s",
        str(SCRIPT),
        url,
    ]
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    try:
        completed = subprocess.run(argv, env=env, capture_output=True, text=True)
        if completed.returncode != 0 or not result_path.stat().st_size:
            raise RuntimeError(
                f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
            )
        data = json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)
    drained = data["window_seconds"] > 0
    socket_errors = sum(data[f"errors_{kind}"] for kind in ("connect", "read", "write", "timeout"))
    return LoadResult(
        connections=connections,
        issued=data["issued"],
        answered=data["answered"],
        ok=data["ok"],
        non2xx=data["non2xx"],
        non2xx_statuses=data["non2xx_statuses"],
        socket_errors=socket_errors,
        wrapped=data["wrapped"],
        seconds=data["window_seconds"] if drained else data["wrk_duration_us"] / 1e6,
        p50_ms=data["latency_p50_us"] / 1000,
        p90_ms=data["latency_p90_us"] / 1000,
        p99_ms=data["latency_p99_us"] / 1000,
        max_ms=data["latency_max_us"] / 1000,
        drained=drained,
    )
