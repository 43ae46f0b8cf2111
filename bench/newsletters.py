"""Newsletter sender benchmark: a campaign to an aiosmtpd sink in its own process.

    python -m bench.newsletters                                   # SQLite, 10k and 50k
    python -m bench.newsletters --db postgres --processes 1,2,4   # PostgreSQL, 1/2/4 senders
    python -m bench.newsletters --recipients 2000 --bare 2000     # a quick look

For each database and recipient count: a fresh database migrated to head, N people with
confirmed consent, one started campaign (N frozen delivery rows). Then, against the same sink:

- bare: a plain smtplib loop sending ONE message, rendered once by the campaign's own message
  factory, over one connection (the ceiling for any sender in Python);
- sender: `send_outbox` (the real service: claims, renders per recipient, sends over the
  SMTPTransport, commits each row) in 1..P separate processes (`--processes`), throttling off.

With one sender the two alternate in slices of `--bare` messages (bare, sender, bare, …,
bare; the sender process stays up and each slice is a `run_outbox(max_messages=…)` call), so
the sink's drifting speed hits both alike; rate = messages / summed slice times. With several
senders the bare loop runs right before and right after them (share against the mean) and
the rate is messages / wall time of the send phase. Peak memory = ru_maxrss of each sender
process (and the growth over its baseline after start-up), so 10k vs 50k shows whether it is
flat. The sink counts what it received; the run fails if that is not exactly N.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.smtp_sink import SinkProcess

TARGET_SHARE = 0.90
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/crm_bench_newsletters"


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _app(url: str, instance: str, port: int = 25) -> Any:
    os.environ.setdefault("CRM_ENV", "testing")
    os.environ["CRM_INSTANCE_PATH"] = instance
    from crm import create_app

    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "CRM_MAIL_TRANSPORT": "smtp",
            "CRM_SMTP_HOST": "127.0.0.1",
            "CRM_SMTP_PORT": port,
            "CRM_SMTP_SECURITY": "none",
            "CRM_MAIL_FROM": "Haus der Wirtschaft <newsletter@hdw-magdeburg.example>",
            "CRM_BASE_URL": "https://crm.hdw-magdeburg.example",
            "CRM_NEWSLETTER_RATE": 0,
            "SERVER_NAME": None,
        }
    )


def _fresh_database(db: str, tmp: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{Path(tmp) / 'newsletters.sqlite3'}"
    import sqlalchemy as sa

    url = sa.make_url(DEFAULT_PG if db == "postgres" else db)
    url = url.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    admin.dispose()
    return url.render_as_string(hide_password=False)


def setup(url: str, instance: str, recipients: int) -> int:
    """Migrate, insert people with confirmed consent, start one campaign; return its id."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from crm.contacts.models import Person
    from crm.database import utcnow
    from crm.extensions import db
    from crm.newsletters import campaigns
    from crm.newsletters.models import Campaign, NewsletterList, Subscription

    app = _app(url, instance)
    with app.app_context():
        upgrade()
        nl = NewsletterList(name="Newsletter Haus der Wirtschaft", slug="hdw")
        db.session.add(nl)
        db.session.flush()
        now = utcnow()
        first = ["Jürgen", "Bärbel", "Ayşe", "Björn", "Małgorzata", "Anna-Lena"]
        last = ["Müller", "Weiß", "Yılmaz", "Schäfer", "Nowak", "Groß"]
        chunk = 5000
        for start in range(0, recipients, chunk):
            people = [
                {
                    "salutation": ("frau", "herr", "divers", "")[i % 4],
                    "title": "",
                    "first_name": first[i % 6],
                    "last_name": last[(i // 6) % 6],
                    "name_key": f"{last[(i // 6) % 6]} {first[i % 6]} {i}".lower(),
                    "email": f"empfaenger{i}@beispiel-{i % 97}.example",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(start + chunk, recipients))
            ]
            ids = db.session.scalars(sa.insert(Person).returning(Person.id), people).all()
            db.session.execute(
                sa.insert(Subscription),
                [
                    {
                        "list_id": nl.id,
                        "person_id": pid,
                        "status": "confirmed",
                        "source": "import",
                        "requested_at": now,
                        "confirmed_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for pid in ids
                ],
            )
        campaign = Campaign(
            name="Benchmark",
            list_id=nl.id,
            subject="Neuigkeiten aus dem Haus der Wirtschaft für {{ vorname }}",
            body_text=("Hallo {{ anrede }} {{ nachname }},\n\n" + "Neuigkeiten für Sie. " * 60),
            body_html=(
                "<p>Hallo {{ anrede }} {{ nachname }},</p>"
                + "<p>Neuigkeiten für <b>Sie</b>.</p>" * 60
                + '<p><a href="{{ abmelde_link }}">Abmelden</a></p>'
            ),
        )
        db.session.add(campaign)
        db.session.flush()
        frozen = campaigns.start_campaign(db.session, campaign)
        db.session.commit()
        assert frozen == recipients, (frozen, recipients)
        if db.engine.dialect.name == "postgresql":
            # Planner statistics as a live server has them (autovacuum would analyze the
            # freshly loaded tables within a minute): without them PostgreSQL hashes the
            # whole person table for every batch's 250 rows.
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        campaign_id = campaign.id
        db.session.remove()
        db.engine.dispose()
    return campaign_id


def sample_message(url: str, instance: str, campaign_id: int) -> tuple[str, str, bytes]:
    """The campaign's first recipient's message as the factory renders it (for the bare loop)."""
    import sqlalchemy as sa

    from crm.extensions import db
    from crm.newsletters.models import Delivery
    from crm.newsletters.sending import campaign_store

    app = _app(url, instance)
    with app.app_context():
        first = db.session.scalar(
            sa.select(sa.func.min(Delivery.id)).where(Delivery.campaign_id == campaign_id)
        )
        store = campaign_store(app.config)
        (item,) = store.load(db.session, [first])
        msg = store.message(db.session, item)
        data = (item.data[0], str(app.config["CRM_MAIL_FROM"]), msg.data)
        db.session.remove()
        db.engine.dispose()
    return data[0], "newsletter@hdw-magdeburg.example", data[2]


def bare_loop(port: int, rcpt: str, sender: str, data: bytes, n: int) -> float:
    """Messages per second of a plain smtplib loop over one connection."""
    conn = smtplib.SMTP("127.0.0.1", port)
    started = time.perf_counter()
    for _ in range(n):
        conn.sendmail(sender, [rcpt], data)
    seconds = time.perf_counter() - started
    conn.quit()
    return n / seconds


def worker(url: str, instance: str, port: int) -> None:
    """One sender process: send the outbox, print JSON with timings and memory."""
    from crm.newsletters.sending import run_outbox

    app = _app(url, instance, port)
    with app.app_context():
        from crm.extensions import db

        db.session.execute(__import__("sqlalchemy").text("SELECT 1"))
        db.session.remove()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.time()
    report = run_outbox(app)
    ended = time.time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "sent": report.sent,
                "failed": report.failed,
                "started": started,
                "ended": ended,
                "baseline_kb": baseline,
                "peak_kb": peak,
            }
        ),
        flush=True,
    )


def slice_worker(url: str, instance: str, port: int) -> None:
    """One sender process that sends in slices on command ("N" on stdin; "done" ends).

    Each slice is a real `run_outbox(max_messages=N)` call (claims, transport, commits), so
    the campaign's state carries over between slices exactly as between scheduler ticks.
    """
    from crm.newsletters.sending import run_outbox

    app = _app(url, instance, port)
    with app.app_context():
        from crm.extensions import db

        db.session.execute(__import__("sqlalchemy").text("SELECT 1"))
        db.session.remove()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "done":
            break
        started = time.perf_counter()
        report = run_outbox(app, max_messages=int(line))
        seconds = time.perf_counter() - started
        print(json.dumps({"sent": report.sent, "failed": report.failed, "seconds": seconds}))
        sys.stdout.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"baseline_kb": baseline, "peak_kb": peak}), flush=True)


def run_interleaved(
    url: str, instance: str, port: int, recipients: int, data: tuple[str, str, bytes], size: int
) -> dict[str, Any]:
    """One sender against the bare loop in alternating slices of `size` messages.

    bare, sender, bare, sender, …, bare: drifts of the sink's own speed (10–20 % between
    runs of a few seconds here) then hit both sides alike, which running the bare loop only
    before and after a 50,000-message campaign could not ensure.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1", CRM_ENV="testing")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.newsletters", "--slice-worker", url, instance, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "READY":
        proc.kill()
        raise RuntimeError("slice worker did not start")
    rcpt, sender, body = data
    bare_rates: list[float] = []
    bare_seconds = 0.0
    sent = failed = 0
    sender_seconds = 0.0
    while True:
        rate = bare_loop(port, rcpt, sender, body, size)
        bare_rates.append(rate)
        bare_seconds += size / rate
        if sent + failed >= recipients:
            break
        proc.stdin.write(f"{size}\n")
        proc.stdin.flush()
        got = json.loads(proc.stdout.readline())
        if got["sent"] + got["failed"] == 0:
            break
        sent += got["sent"]
        failed += got["failed"]
        sender_seconds += got["seconds"]
    proc.stdin.write("done\n")
    proc.stdin.flush()
    memory = json.loads(proc.stdout.readline())
    proc.wait(timeout=60)
    return {
        "processes": 1,
        "sent": sent,
        "seconds": sender_seconds,
        "rate": sent / sender_seconds if sender_seconds else 0.0,
        "bare_messages": size * len(bare_rates),
        "bare_rate": size * len(bare_rates) / bare_seconds,
        "bare_min": min(bare_rates),
        "bare_max": max(bare_rates),
        "slices": len(bare_rates) - 1,
        "peak_mb": memory["peak_kb"] / 1024,
        "growth_mb": (memory["peak_kb"] - memory["baseline_kb"]) / 1024,
    }


def run_senders(url: str, instance: str, port: int, processes: int) -> dict[str, Any]:
    """Start `processes` sender processes at once; wall-clock rate over all of them."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", CRM_ENV="testing")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.newsletters", "--worker", url, instance, str(port)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"sender failed: {out}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    sent = sum(r["sent"] for r in results)
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return {
        "processes": processes,
        "sent": sent,
        "seconds": seconds,
        "rate": sent / seconds if seconds else 0.0,
        "peak_mb": max(r["peak_kb"] for r in results) / 1024,
        "growth_mb": max(r["peak_kb"] - r["baseline_kb"] for r in results) / 1024,
    }


def _cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(sink CPUs, sender CPUs): the sink on a core of its own, as a relay on another host
    would be; without that the sink and the sender's threads queue for the same cores and
    the figures swing by 20 % between runs. A local database server: _postgres_off."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


def _local_postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def _postgres_off(sink_cpus: set[int] | None, url: str) -> Iterator[int]:
    """Keep a local PostgreSQL server's processes off the sink's CPU for the run.

    The sink stands for a relay on another host; on two cores the database server otherwise
    lands on the sink's core now and then and slows the sink during the sender's slices
    only (the bare loop does not touch the database). New backends inherit the postmaster's
    affinity. Yields how many processes were moved (0: not local, not permitted or not
    pinning); everything is put back afterwards.
    """
    import sqlalchemy as sa

    host = sa.make_url(url).host
    if (
        not sink_cpus
        or not url.startswith("postgresql")
        or host not in (None, "127.0.0.1", "localhost", "::1")
    ):
        yield 0
        return
    others = set(os.sched_getaffinity(0)) - sink_cpus
    moved: dict[int, set[int]] = {}
    for pid in _local_postgres_pids():
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to move
            before = os.sched_getaffinity(pid)
            os.sched_setaffinity(pid, others)
            moved[pid] = before
    try:
        yield len(moved)
    finally:
        for pid, before in moved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, before)


def run(
    db: str, recipients: int, processes: list[int], bare: int, pin: bool = True
) -> list[dict[str, Any]]:
    """Every (recipients, processes) combination on one database kind."""
    sink_cpus, sender_cpus = _cpu_split(pin)
    original = os.sched_getaffinity(0)
    if sender_cpus:
        os.sched_setaffinity(0, sender_cpus)  # the sender processes inherit it
    try:
        return _run_pinned(db, recipients, processes, bare, sink_cpus)
    finally:
        # The next configuration splits the CPUs afresh: left pinned, it saw one CPU and
        # ran unpinned (the "bimodal sink" of earlier rounds, bench/README.md).
        os.sched_setaffinity(0, original)


def _run_pinned(
    db: str, recipients: int, processes: list[int], bare: int, sink_cpus: set[int] | None
) -> list[dict[str, Any]]:
    rows = []
    for p in processes:
        with tempfile.TemporaryDirectory(prefix="bench-nl-") as tmp:
            url = _fresh_database(db, tmp)
            campaign_id = setup(url, tmp, recipients)
            rcpt, sender, data = sample_message(url, tmp, campaign_id)
            with SinkProcess(sink_cpus) as sink, _postgres_off(sink_cpus, url) as moved:
                load = _load_average()
                if p == 1:
                    result = run_interleaved(
                        url, tmp, sink.port, recipients, (rcpt, sender, data), bare
                    )
                    expected = result["bare_messages"] + recipients
                else:
                    # Several senders share the campaign: the bare loop right before and
                    # right after them, the share against the mean of both.
                    bare_before = bare_loop(sink.port, rcpt, sender, data, bare)
                    result = run_senders(url, tmp, sink.port, p)
                    bare_after = bare_loop(sink.port, rcpt, sender, data, bare)
                    result.update(
                        bare_rate=(bare_before + bare_after) / 2,
                        bare_min=min(bare_before, bare_after),
                        bare_max=max(bare_before, bare_after),
                        slices=0,
                    )
                    expected = 2 * bare + recipients
                messages, _ = sink.stop()
            assert messages == expected, (messages, expected)
            result.update(
                db=db if db in ("sqlite", "postgres") else "url",
                recipients=recipients,
                share=result["rate"] / result["bare_rate"],
                message_bytes=len(data),
                load=load,
                pinned=bool(sink_cpus),
                database_processes_moved=moved,
            )
            rows.append(result)
            print(_row(result), flush=True)
    return rows


def _row(r: dict[str, Any]) -> str:
    if r["processes"] > 1:
        verdict = "(scaling)"
    else:
        verdict = "pass" if r["share"] >= TARGET_SHARE else "**miss**"
    mark = " ¹" if r.get("database_processes_moved") else ""
    return (
        f"| {r['db']}{mark} | {r['recipients']:,} | {r['processes']} | {r['rate']:,.0f} | "
        f"{r['bare_rate']:,.0f} ({r['bare_min']:,.0f}–{r['bare_max']:,.0f}) | "
        f"{r['share']:.0%} | {r['peak_mb']:.0f} MB "
        f"(+{r['growth_mb']:.1f}) | {r['load']} | {verdict} |"
    )


HEADER = (
    "| database | recipients | sender processes | sender msg/s "
    "| bare smtplib msg/s (slowest–fastest slice) | share "
    "| peak RSS per sender (growth) | load avg | target ≥ 90 % (1 process) |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---|"
)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1], argv[2], int(argv[3]))
        return
    if argv and argv[0] == "--slice-worker":
        slice_worker(argv[1], argv[2], int(argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or a URL, comma-separated")
    parser.add_argument("--recipients", default="10000,50000")
    parser.add_argument("--processes", default="1", help="e.g. 1,2,4 (PostgreSQL)")
    parser.add_argument(
        "--bare",
        type=int,
        default=2000,
        help="messages per slice (1 sender: bare and sender alternate in slices of this size;"
        " several senders: the bare loop before and after them)",
    )
    parser.add_argument("--json", help="write the raw figures here")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not give the sink a CPU of its own"
    )
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    print(
        "(the sink has a CPU of its own unless --no-pin; ¹ the local PostgreSQL server's"
        " processes kept off it for the run)",
        file=sys.stderr,
        flush=True,
    )
    rows = []
    for db in args.db.split(","):
        for n in (int(x) for x in args.recipients.split(",")):
            procs = [int(x) for x in args.processes.split(",")]
            if db == "sqlite":
                procs = [1]  # SQLite serialises writers: more processes only queue
            rows.extend(run(db, n, procs, args.bare, pin=not args.no_pin))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
