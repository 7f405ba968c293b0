"""The processes of a benchmark: the server under test, the install key server, RSS sampling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from addon.simulator import KeyServer, KeyServerAddress

__all__ = ["RssSampler", "ServerProcess", "cpu_seconds", "free_port", "key_server", "rss_kib"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of `pid`, in KiB, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time (user + system) of each thread of `pid` so far, in seconds, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    times: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        times[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return times


class RssSampler:
    """Samples VmRSS of a process every `interval` seconds in a thread; `peak_kib` is the highest."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_kib = max(self.peak_kib, rss_kib(self.pid)["VmRSS"])
                self.samples += 1
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


def key_server(keys: Mapping[str, str]) -> KeyServer:
    """The simulator's install key server (GET /<kid> answers the PEM key) on a free loopback port."""
    return KeyServer(KeyServerAddress("127.0.0.1", free_port()), keys)


class ServerProcess:
    """A server started with `argv` (pinned by the caller's taskset prefix), its log kept in a file.

    `ready_path` is polled until it answers 200 (e.g. /healthz); `pid` is the server process,
    whose RSS is measured.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        ready_path: str = "/healthz",
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.argv} exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.argv} did not answer within {timeout} s:\n{self.log()}")

    def log(self, tail: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:]

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def clean_environment(extra: Mapping[str, str], source: Path = ROOT) -> dict[str, str]:
    """The environment for a server: ours, without any add-on settings of the caller's shell;
    the add-on's code is imported from `source` (this repository unless told otherwise)."""
    drop = ("ADDON_", "INSPECTOR_", "DATABASE_URL", "BENCH_", "SQLITE_", "TENANT_CACHE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PYTHONPATH"] = str(source)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
