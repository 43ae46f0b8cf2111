"""`python -m bench`: generate (or reuse) the data, time the pages and the import, print a table.

python -m bench                           # SQLite, full scale (100,000 contacts, 1M activities)
python -m bench --db postgres             # postgresql://postgres@127.0.0.1:5432/crm_bench
python -m bench --db sqlite,postgres --scale 0.1 --only list,search
python -m bench --db sqlite,postgres --scales 0.1,3.0 --runs 3 --only work   # growth table
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
GROUPS = ("list", "search", "detail", "work", "import")
# The page groups: what --scales measures unless --only says otherwise.
PAGE_GROUPS = tuple(g for g in GROUPS if g != "import")
# Issue 15: a scenario's p95 may grow at most this much from the smallest to the largest scale.
TARGET_GROWTH = 0.25


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


def run_one(
    db: str, args: argparse.Namespace, only: set[str], scale: float | None = None
) -> dict[str, Any]:
    from bench import contacts, generate
    from bench.memory import vm_hwm_mb

    scale = args.scale if scale is None else scale
    label = db if db in ("sqlite", "postgres") else "url"
    print(f"## {label}, scale {scale:g}", flush=True)
    gen = generate.generate(db, scale, reuse=not args.fresh, fts=args.fts)
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
        "scale": scale,
        "plan": gen.plan,
        "generated": gen,
        "pages": pages,
        "import": imported,
        # Peak of this process so far: it only grows, so a later database includes the earlier.
        "vmhwm_mb": vm_hwm_mb(),
    }


def run_interleaved(
    db: str, args: argparse.Namespace, only: set[str], scales: list[float]
) -> list[dict[str, Any]]:
    """`args.runs` measurements of every scale of `db`, the scales taking turns in each."""
    from bench import contacts, generate
    from bench.memory import vm_hwm_mb

    label = db if db in ("sqlite", "postgres") else "url"
    print(f"## {label}, scales {', '.join(f'{s:g}' for s in scales)}", flush=True)
    gens = {
        scale: generate.generate(db, scale, reuse=not args.fresh, fts=args.fts) for scale in scales
    }
    server = _server_version(gens[scales[0]].url)
    targets = [
        contacts.Target(f"{scale:g}", g.url, g.big_organisation_ids, g.plan.organisations)
        for scale, g in gens.items()
    ]
    runs = []
    for number in range(1, args.runs + 1):
        by_target = contacts.run_pages_interleaved(
            targets, requests=args.requests, warmup=args.warmup, only=only
        )
        load = load_average()
        for scale, g in gens.items():
            run = {
                "db": label,
                "server": server,
                "scale": scale,
                "run": number,
                "load": load,
                "label": f"{server}, scale {scale:g}, run {number}",
                "plan": g.plan,
                "generated": g,
                "pages": by_target[f"{scale:g}"],
                "import": contacts.run_import(g.url) if "import" in only else None,
                "vmhwm_mb": vm_hwm_mb(),
            }
            runs.append(run)
        print(f"\nRun {number} (scales taking turns), load average (1 min) {load}")
        print(table(runs[-len(scales) :]), flush=True)
    return runs


def table(runs: list[dict[str, Any]]) -> str:
    """The figures as a markdown table (one row per database and scenario)."""
    lines = [
        "| database | scenario | median ms | p95 ms | median / bare | p95 / bare p95 | queries "
        "| target (p95 ≤ 10× bare) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        label = run.get("label", run["server"])
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
                f"| {label} | {r.name} | {r.median:.2f} | {r.p95:.2f} | "
                f"{r.median / bare_median:.1f}× | {ratio:.1f}× | {r.median_queries:.0f} "
                f"| {verdict} |"
            )
        imp = run["import"]
        if imp is not None:
            verdict = "pass" if imp.rate >= TARGET_IMPORT_RATE else "**miss**"
            lines.append(
                f"| {label} | import run, {imp.rows:,} CSV rows ({imp.summary}) | "
                f"{imp.seconds:.1f} s | | | {imp.rate:,.0f} rows/s | | {verdict} |"
            )
            lines.append(
                f"| {label} | import dry run, same file | {imp.dry_run_seconds:.1f} s | | "
                f"| {imp.rows / imp.dry_run_seconds:,.0f} rows/s | | (no target) |"
            )
            small = imp.small
            if small is not None:
                verdict = "pass" if small.seconds < TARGET_SMALL_IMPORT_SECONDS else "**miss**"
                lines.append(
                    f"| {label} | import of a {small.rows}-row file, end to end "
                    f"({small.note}) | {small.seconds:.2f} s | | | | "
                    f"| {verdict} (< {TARGET_SMALL_IMPORT_SECONDS:g} s) |"
                )
    return "\n".join(lines)


def growth_table(runs: list[dict[str, Any]]) -> str:
    """p95 per scenario at each scale and the growth from the smallest to the largest scale.

    One row per database, scenario and run number (run k at every scale), so that every run
    is shown; the verdict compares the growth with TARGET_GROWTH.
    """
    scales = sorted({run["scale"] for run in runs})
    lines = [
        "| database | scenario | run | "
        + " | ".join(f"p95 ms at {s:g}" for s in scales)
        + f" | growth {scales[0]:g}→{scales[-1]:g} | target (≤ {TARGET_GROWTH:.0%}) |",
        "|---|---|---:|" + "---:|" * len(scales) + "---:|---|",
    ]
    # (server, scenario, run number) -> {scale: p95}; run numbers count per server and scale.
    table_rows: dict[tuple[str, str, int], dict[float, float]] = {}
    seen: dict[tuple[str, float], int] = {}
    for run in runs:
        key = (run["server"], run["scale"])
        seen[key] = seen.get(key, 0) + 1
        for r in run["pages"]:
            table_rows.setdefault((run["server"], r.name, seen[key]), {})[run["scale"]] = r.p95
    for (server, name, number), by_scale in table_rows.items():
        cells = [f"{by_scale[s]:.2f}" if s in by_scale else "" for s in scales]
        first, last = by_scale.get(scales[0]), by_scale.get(scales[-1])
        if first and last and len(scales) > 1:
            growth = last / first - 1
            verdict = "pass" if growth <= TARGET_GROWTH else "**miss**"
            if name == "bare route (baseline)":
                verdict = "(machine)"
            grown = f"{growth:+.0%}"
        else:
            grown, verdict = "", ""
        lines.append(
            f"| {server} | {name} | {number} | " + " | ".join(cells) + f" | {grown} | {verdict} |"
        )
    return "\n".join(lines)


def generation_table(runs: list[dict[str, Any]]) -> str:
    lines = ["| database | data | generation |", "|---|---|---|"]
    for run in runs:
        label = run.get("label", run["server"])
        gen = run["generated"]
        plan = gen.plan
        what = (
            f"{plan.organisations:,} organisations, {plan.people:,} people, "
            f"{plan.activities:,} activities"
        )
        how = "reused cached database" if gen.reused else f"{gen.seconds:.0f} s"
        if gen.timings:
            how += " (" + ", ".join(f"{k} {v:.1f} s" for k, v in gen.timings.items()) + ")"
        lines.append(f"| {label} | {what} | {how} |")
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
    parser.add_argument(
        "--only",
        default=None,
        help=f"{','.join(GROUPS)} (default: all; with --scales: {','.join(PAGE_GROUPS)})",
    )
    parser.add_argument(
        "--scales",
        help="several scales, e.g. 0.1,0.3,1.0,3.0: measure each and print the growth table",
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="measure this many times in a row (every run printed)"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="with --scales: measure one scale after the other instead of taking turns",
    )
    parser.add_argument("--fresh", action="store_true", help="regenerate even if cached")
    parser.add_argument(
        "--fts",
        choices=("rebuild", "triggers"),
        default="rebuild",
        help="SQLite: fill the FTS index in one pass after the load, or row by row by trigger",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    default_only = PAGE_GROUPS if args.scales else GROUPS
    only = {x.strip() for x in (args.only or ",".join(default_only)).split(",") if x.strip()}
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(f"unknown --only group(s): {', '.join(sorted(unknown))}")
    try:
        scales = [float(x) for x in args.scales.split(",")] if args.scales else [args.scale]
    except ValueError:
        parser.error("--scales takes numbers separated by commas, e.g. 0.1,0.3,1.0,3.0")
    if args.runs < 1 or any(s <= 0 for s in scales):
        parser.error("--runs and every scale must be positive")

    started = time.perf_counter()
    load_before = load_average()
    dbs = [db.strip() for db in args.db.split(",") if db.strip()]
    runs = []
    interleaved = len(scales) > 1 and not args.sequential
    for db in dbs if interleaved else ():
        runs.extend(run_interleaved(db, args, only, scales))
    for scale in scales if not interleaved else ():
        for number in range(1, args.runs + 1):
            for db in dbs:
                run = run_one(db, args, only, scale)
                run["run"] = number
                run["load"] = load_average()
                if args.runs > 1 or len(scales) > 1:
                    run["label"] = f"{run['server']}, scale {scale:g}, run {number}"
                runs.append(run)
                if args.runs > 1 or len(scales) > 1:
                    # Every run as it finishes, so a long invocation shows its progress.
                    print(f"\nScale {scale:g}, run {number}, load average (1 min) {run['load']}")
                    print(table([run]), flush=True)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    print()
    print(f"Command: `{command.strip()}`  ")
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  ")
    print(f"Machine: {machine()}  ")
    print(f"Requests: {args.requests} timed after {args.warmup} warm-up per scenario  ")
    print(f"Wall time: {time.perf_counter() - started:.0f} s  ")
    print(f"Load average (1 min) before / after: {load_before} / {load_average()}  ")
    print(
        "VmHWM of the bench process after each database: "
        + ", ".join(
            f"{run['server']} scale {run['scale']:g} run {run['run']} {run['vmhwm_mb']:.0f} MB"
            for run in runs
        )
    )
    print()
    print(generation_table(runs))
    print()
    print(table(runs))
    if len(scales) > 1:
        print()
        print(growth_table(runs))
    if args.json:
        payload = [
            {
                "db": run["server"],
                "scale": run["scale"],
                "run": run["run"],
                "load_average": run["load"],
                "vmhwm_mb": run["vmhwm_mb"],
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
