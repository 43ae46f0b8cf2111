"""`python -m bench`: generate (or reuse) the data, time the pages and the import, print a table.

python -m bench                           # SQLite, full scale (100,000 contacts, 1M activities)
python -m bench --db postgres             # postgresql://postgres@127.0.0.1:5432/crm_bench
python -m bench --db sqlite,postgres --scale 0.1 --only list,search
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_RATIO = 10.0
TARGET_IMPORT_RATE = 8_000
# A 100-row file, upload to finished run: what staff wait for after a fair.
TARGET_SMALL_IMPORT_SECONDS = 1.0
GROUPS = ("list", "search", "detail", "import")


def machine() -> str:
    """CPU count, memory and versions, for the README."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    import sqlite3

    return (
        f"{os.cpu_count()} CPUs, {mem_kb / 1024 / 1024:.1f} GiB RAM, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews the timings."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def _server_version(url: str) -> str:
    if url.startswith("sqlite"):
        return "SQLite"
    import sqlalchemy as sa

    from bench.generate import driver_url

    engine = sa.create_engine(driver_url(url))
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
    engine.dispose()
    return f"PostgreSQL {str(version).split()[0]}"


def run_one(db: str, args: argparse.Namespace, only: set[str]) -> dict[str, Any]:
    from bench import contacts, generate

    label = db if db in ("sqlite", "postgres") else "url"
    print(f"## {label}", flush=True)
    gen = generate.generate(db, args.scale, reuse=not args.fresh, fts=args.fts)
    pages = contacts.run_pages(
        gen.url,
        requests=args.requests,
        warmup=args.warmup,
        only=only,
        big_ids=gen.big_organisation_ids,
        n_orgs=gen.plan.organisations,
    )
    imported = contacts.run_import(gen.url) if "import" in only else None
    return {
        "db": label,
        "server": _server_version(gen.url),
        "plan": gen.plan,
        "generated": gen,
        "pages": pages,
        "import": imported,
    }


def table(runs: list[dict[str, Any]]) -> str:
    """The figures as a markdown table (one row per database and scenario)."""
    lines = [
        "| database | scenario | median ms | p95 ms | median / bare | p95 / bare p95 | queries "
        "| target (p95 ≤ 10× bare) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        pages = run["pages"]
        bare = next((r for r in pages if r.note == "bare"), None)
        bare_p95 = bare.p95 if bare else float("nan")
        bare_median = bare.median if bare else float("nan")
        for r in pages:
            ratio = r.p95 / bare_p95 if bare_p95 else float("nan")
            if r.note == "bare":
                verdict = "baseline"
            else:
                verdict = "pass" if ratio <= TARGET_RATIO else "**miss**"
            bad = {s: n for s, n in r.statuses.items() if s != 200}
            if bad:
                verdict += f" (status {bad})"
            lines.append(
                f"| {run['server']} | {r.name} | {r.median:.2f} | {r.p95:.2f} | "
                f"{r.median / bare_median:.1f}× | {ratio:.1f}× | {r.median_queries:.0f} "
                f"| {verdict} |"
            )
        imp = run["import"]
        if imp is not None:
            verdict = "pass" if imp.rate >= TARGET_IMPORT_RATE else "**miss**"
            lines.append(
                f"| {run['server']} | import run, {imp.rows:,} CSV rows ({imp.summary}) | "
                f"{imp.seconds:.1f} s | | | {imp.rate:,.0f} rows/s | | {verdict} |"
            )
            lines.append(
                f"| {run['server']} | import dry run, same file | {imp.dry_run_seconds:.1f} s | | "
                f"| {imp.rows / imp.dry_run_seconds:,.0f} rows/s | | (no target) |"
            )
            small = imp.small
            if small is not None:
                verdict = "pass" if small.seconds < TARGET_SMALL_IMPORT_SECONDS else "**miss**"
                lines.append(
                    f"| {run['server']} | import of a {small.rows}-row file, end to end "
                    f"({small.note}) | {small.seconds:.2f} s | | | | "
                    f"| {verdict} (< {TARGET_SMALL_IMPORT_SECONDS:g} s) |"
                )
    return "\n".join(lines)


def generation_table(runs: list[dict[str, Any]]) -> str:
    lines = ["| database | data | generation |", "|---|---|---|"]
    for run in runs:
        gen = run["generated"]
        plan = gen.plan
        what = (
            f"{plan.organisations:,} organisations, {plan.people:,} people, "
            f"{plan.activities:,} activities"
        )
        how = "reused cached database" if gen.reused else f"{gen.seconds:.0f} s"
        if gen.timings:
            how += " (" + ", ".join(f"{k} {v:.1f} s" for k, v in gen.timings.items()) + ")"
        lines.append(f"| {run['server']} | {what} | {how} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db",
        default="sqlite",
        help="sqlite, postgres, a database URL, or several separated by commas",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 contacts")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per scenario")
    parser.add_argument("--only", default=",".join(GROUPS), help="list,search,detail,import")
    parser.add_argument("--fresh", action="store_true", help="regenerate even if cached")
    parser.add_argument(
        "--fts",
        choices=("rebuild", "triggers"),
        default="rebuild",
        help="SQLite: fill the FTS index in one pass after the load, or row by row by trigger",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(f"unknown --only group(s): {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    load_before = load_average()
    runs = [run_one(db.strip(), args, only) for db in args.db.split(",") if db.strip()]
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    print()
    print(f"Command: `{command.strip()}`  ")
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  ")
    print(f"Machine: {machine()}  ")
    print(f"Requests: {args.requests} timed after {args.warmup} warm-up per scenario  ")
    print(f"Wall time: {time.perf_counter() - started:.0f} s  ")
    print(f"Load average (1 min) before / after: {load_before} / {load_average()}")
    print()
    print(generation_table(runs))
    print()
    print(table(runs))
    if args.json:
        payload = [
            {
                "db": run["server"],
                "plan": vars(run["plan"]),
                "generation_seconds": run["generated"].seconds,
                "generation_reused": run["generated"].reused,
                "pages": [
                    {
                        "name": r.name,
                        "median_ms": r.median,
                        "p95_ms": r.p95,
                        "queries": r.median_queries,
                        "statuses": r.statuses,
                    }
                    for r in run["pages"]
                ],
                "import": None
                if run["import"] is None
                else {
                    "rows": run["import"].rows,
                    "seconds": run["import"].seconds,
                    "small": None
                    if run["import"].small is None
                    else {
                        "rows": run["import"].small.rows,
                        "seconds": run["import"].small.seconds,
                    },
                },
            }
            for run in runs
        ]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
