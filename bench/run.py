"""The add-on's benchmark: webhook ingest against the bare Starlette stack, on this machine.

Run it from the repository root with the project's Python (the one with its dependencies,
.venv/bin/python after `bash scripts/test`):

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
   add-on / bare per concurrency; then the targets, met or not.

Never part of the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    from bench import _profile
    from bench._report import Report, Row, log, machine, render
    from bench._scenarios import Bench
    from bench._wrk import check_tools
except ModuleNotFoundError as missing:
    venv = ROOT / ".venv" / "bin" / "python"
    use = (
        f"run it with the project's virtual environment: {venv} bench/run.py"
        if venv.exists()
        else "run it with the Python the project is installed in (pip install -e '.[test]')"
    )
    sys.exit(f"bench: {missing.name} is not installed in {sys.executable}; {use}")

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
    parser.add_argument(
        "--no-forge",
        action="store_true",
        help="skip the Forge door runs (FIT-verified Forge events, beside the Connect webhooks)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also the floor (bench/floor_app.py): verify + parse and nothing else, storing "
        "nothing, into a table without indexes, and into the add-on's indexed schema",
    )
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
        if args.floor:
            for schema in ("none", "append", "indexed"):
                rows = bench.floor(schema)
                for c, row in rows.items():
                    if c in bare:
                        row.ratio = row.rps / bare[c].rps
                report.rows += [rows[c] for c in args.concurrency]
        empty_c64: Row | None = None
        for name, label, kind, access_log, admin_url in variants:
            rows = bench.addon(name, label, kind, access_log=access_log, admin_url=admin_url)
            for c, row in rows.items():
                if c in bare:
                    row.ratio = row.rps / bare[c].rps
            report.rows += [rows[c] for c in args.concurrency]
            if name == "sqlite-log" and 64 in rows:
                empty_c64 = rows[64]
        if not args.no_forge and not args.no_sqlite:
            rows = bench.forge(
                "forge-sqlite",
                "Forge door, SQLite (addon serve, access log on)",
                "sqlite",
                access_log=True,
            )
            for c, row in rows.items():
                if c in bare:
                    row.ratio = row.rps / bare[c].rps
            report.rows += [rows[c] for c in args.concurrency]
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
