"""The results: the rows measured, the machine they ran on, the table and the target verdicts."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Report", "Row", "log", "log_row", "machine", "render", "table", "targets"]

TARGET_RATIO = 0.30
TARGET_P99_MS = 25.0
TARGET_RSS_MIB = 80.0


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
    lines = ["Targets:"]

    def mark(good: bool) -> str:
        return "met" if good else "MISSED"

    for r in report.rows:
        if r.connections != 64 or r.ratio is None or r.server.startswith("floor"):
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
