"""Newsletter sender benchmark: a campaign to an SMTP sink that answers like a relay on the LAN.

    python -m bench.newsletters                                  # SQLite and PostgreSQL
    python -m bench.newsletters --db sqlite --sink-latency-ms 5  # one database
    python -m bench.newsletters --rounds 1 --slice 50 --slice-zero 100 --memory 1000,3000

Per database, on a fresh database migrated to head (people with confirmed consent, one started
campaign, its delivery rows frozen):

1. **Throughput, interleaved.** Two sinks in their own processes (`bench/smtp_sink.py`): one
   that answers the end of DATA after `--sink-latency-ms` (5), one at 0 ms for reference. One
   sender process stays up and sends in slices, each a real `run_outbox(app, max_messages=…,
   connections=N)` call (claims, renders, commits). Against each sink and in every round:
   bare, sender ×1, bare, sender ×2, bare, sender ×4, bare, sender ×8, bare (the order of the
   connection counts rotates between rounds), so drift of the machine's load hits every
   configuration alike. The bare loop is plain `smtplib` on one connection sending pre-built
   messages (the sender's own warm-up messages, captured by the sink): no database, no
   rendering. A sender slice with N connections sends N × `--slice` messages.
2. **Memory.** For each size in `--memory`: a fresh database and campaign, a fresh sender
   process, one `run_outbox(app, connections=…)` call for the whole campaign against the 0 ms
   sink. Peak memory is `VmHWM` from `/proc/self/status` of that sender process (not the
   parent's `ru_maxrss`, which an exec'd child inherits on Linux), after start-up and after
   the campaign.

Every sink's count must equal the bare messages plus what the sender reported as sent, and
the database's sent rows must equal the sender's reports (checked, the run fails otherwise).
Targets at the relay latency: one connection ≥ 90 % of the bare loop; four connections ≥ 3.5×
one bare connection; memory flat (the largest campaign's peak within `--memory-slack-mb` of
the smallest's).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import faulthandler
import inspect
import json
import logging
import os
import select
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.memory import vm_hwm_kb
from bench.smtp_sink import SinkProcess

TARGET_ONE_CONNECTION = 0.90  # one sender connection against the bare loop
TARGET_FOUR_CONNECTIONS = 3.5  # four sender connections against one bare connection
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/crm_bench_newsletters"
MAIL_FROM = "newsletter@hdw-magdeburg.example"
_REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Measurements of the machine and of a process


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the timings."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------------------------------------
# The database and the campaign


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
            "CRM_MAIL_FROM": f"Haus der Wirtschaft <{MAIL_FROM}>",
            "CRM_BASE_URL": "https://crm.hdw-magdeburg.example",
            "CRM_NEWSLETTER_RATE": 0,
            "SERVER_NAME": None,
        }
    )


def fresh_database(db: str, tmp: str) -> str:
    """A new empty database: SQLite in `tmp`, or the PostgreSQL one dropped and recreated."""
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


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database that `fresh_database` made (SQLite goes with its folder)."""
    if not url.startswith("postgresql"):
        return
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    admin.dispose()


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
        logging.disable(logging.INFO)  # Alembic's line per revision, twice per database
        try:
            upgrade(directory=str(_REPO / "migrations"))
        finally:
            logging.disable(logging.NOTSET)
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
        if frozen != recipients:
            raise RuntimeError(f"campaign froze {frozen} recipients, expected {recipients}")
        if db.engine.dialect.name == "postgresql":
            # Planner statistics as a live server has them (autovacuum analyzes freshly
            # loaded tables within a minute); without them every claim plans blind.
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        campaign_id = campaign.id
        db.session.remove()
        db.engine.dispose()
    return campaign_id


def delivery_counts(url: str, instance: str, campaign_id: int) -> dict[str, int]:
    """The campaign's delivery rows by status (the database's side of the check)."""
    import sqlalchemy as sa

    from crm.extensions import db
    from crm.newsletters.models import Delivery

    app = _app(url, instance)
    with app.app_context():
        rows = db.session.execute(
            sa.select(Delivery.status, sa.func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.status)
        ).all()
        db.session.remove()
        db.engine.dispose()
    return {str(status): int(n) for status, n in rows}


def server_version(url: str) -> str:
    """The database's name and version, for the table."""
    import sqlalchemy as sa

    if url.startswith("sqlite"):
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
    engine.dispose()
    return f"PostgreSQL {str(version).split()[0]}"


# ---------------------------------------------------------------------------------------------
# The bare loop: what any sender over one connection could reach


@dataclass(frozen=True)
class Prebuilt:
    """One captured message: envelope and bytes as the sender sent them."""

    sender: str
    recipients: list[str]
    data: bytes
    mail_options: list[str]


def read_capture(path: Path) -> list[Prebuilt]:
    """The messages a capturing sink wrote (JSON lines)."""
    messages = []
    for line in path.read_text(encoding="ascii").splitlines():
        item = json.loads(line)
        # smtplib adds SIZE itself when the server offers it; passing it again would repeat it.
        options = [o for o in item["mail_options"] if not o.upper().startswith("SIZE=")]
        messages.append(Prebuilt(item["from"], item["to"], base64.b64decode(item["data"]), options))
    return messages


def bare_loop(port: int, messages: Sequence[Prebuilt], n: int) -> tuple[float, float]:
    """(wall, CPU) seconds of a plain smtplib loop sending `n` pre-built messages over one
    connection."""
    conn = smtplib.SMTP("127.0.0.1", port)
    try:
        conn.ehlo()
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            msg = messages[i % len(messages)]
            conn.sendmail(msg.sender, msg.recipients, msg.data, mail_options=msg.mail_options)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        conn.quit()
    finally:
        conn.close()
    return seconds, cpu


# ---------------------------------------------------------------------------------------------
# The sender process


def sender_worker(url: str, instance: str) -> None:
    """One sender process: runs `run_outbox` on command, answers with times and memory.

    stdin: one JSON object a line, {"port": p, "max": n or null, "connections": c or null};
    "done" ends. stdout: one JSON object a line per command, after a first "ready" line.
    """
    import sqlalchemy as sa

    from crm.extensions import db

    try:
        from crm.mail.sender import run_outbox  # the issue 14 sender
    except ImportError:
        from crm.newsletters.sending import run_outbox

    # A slice that does not come back: the parent asks for every thread's stack (SIGUSR1).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    app = _app(url, instance)
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        db.session.remove()
    has_connections = "connections" in inspect.signature(run_outbox).parameters
    print(json.dumps({"ready": True, "connections": has_connections, "vm_hwm_kb": vm_hwm_kb()}))
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() == "done":
            break
        command = json.loads(line)
        app.config["CRM_SMTP_PORT"] = int(command["port"])
        kwargs: dict[str, Any] = {"max_messages": command.get("max")}
        if command.get("connections") is not None:
            kwargs["connections"] = int(command["connections"])
        started, cpu = time.perf_counter(), time.process_time()
        report = run_outbox(app, **kwargs)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        answer = {
            "sent": report.sent,
            "failed": report.failed,
            "deferred": getattr(report, "deferred", 0),
            "seconds": seconds,
            "cpu": cpu,  # every thread of the process
            "vm_hwm_kb": vm_hwm_kb(),
        }
        print(json.dumps(answer))
        sys.stdout.flush()


class Sender:
    """The parent's handle on one sender process."""

    def __init__(
        self, url: str, instance: str, cpus: set[int] | None = None, timeout: float = 600
    ) -> None:
        self.timeout = timeout
        env = dict(os.environ, PYTHONUNBUFFERED="1", CRM_ENV="testing")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.newsletters", "--sender-worker", url, instance],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=_REPO,
        )
        if cpus:
            os.sched_setaffinity(self.proc.pid, cpus)
        ready = self._answer()
        self.has_connections = bool(ready["connections"])
        self.startup_hwm_kb = int(ready["vm_hwm_kb"])

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.proc.send_signal(signal.SIGUSR1)  # its threads' stacks go to stderr
            time.sleep(1)
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"the sender did not answer within {self.timeout:g} s")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"sender process ended (exit code {self.proc.returncode})")
        return dict(json.loads(line))

    def send(self, port: int, max_messages: int | None, connections: int) -> dict[str, Any]:
        """One `run_outbox` call in the sender process."""
        assert self.proc.stdin is not None
        command = {"port": port, "max": max_messages, "connections": connections}
        if not self.has_connections:
            if connections != 1:
                raise RuntimeError("this run_outbox has no connections parameter")
            command["connections"] = None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """Ask the process to end; kill it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write("done\n")
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Throughput: bare loop and sender slices, interleaved


@dataclass
class Series:
    """The slices of one configuration: (messages, seconds) each, and the CPU time spent."""

    slices: list[tuple[int, float]] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def add(self, messages: int, seconds: float, cpu: float) -> None:
        """One more slice."""
        self.slices.append((messages, seconds))
        self.cpu_seconds += cpu

    @property
    def cpu_per_message_us(self) -> float:
        return self.cpu_seconds / self.messages * 1e6 if self.messages else 0.0

    @property
    def messages(self) -> int:
        return sum(n for n, _ in self.slices)

    @property
    def rate(self) -> float:
        seconds = sum(s for _, s in self.slices)
        return self.messages / seconds if seconds else 0.0

    @property
    def slowest(self) -> float:
        return min((n / s for n, s in self.slices if s), default=0.0)

    @property
    def fastest(self) -> float:
        return max((n / s for n, s in self.slices if s), default=0.0)


@dataclass
class Plan:
    """What one database's run sends."""

    latency_ms: float
    connections: list[int]
    rounds: int
    slice: int
    slice_zero: int
    warmup: int
    memory: list[int]
    memory_connections: int
    timeout: float = 600.0

    def latencies(self) -> list[tuple[float, int]]:
        """(sink latency in ms, messages per connection per slice) of each sink."""
        pairs = [(self.latency_ms, self.slice)]
        if self.slice_zero and self.latency_ms:
            pairs.append((0.0, self.slice_zero))
        return pairs

    def recipients(self) -> int:
        per_round = sum(self.connections) * sum(per for _, per in self.latencies())
        return self.warmup + self.rounds * per_round


@dataclass
class Throughput:
    """One database's interleaved run."""

    server: str
    recipients: int
    message_bytes: int
    series: dict[tuple[float, str, int], Series]
    skipped: list[int]
    load_before: str
    load_after: str
    seconds: float


def _rotated(values: list[int], by: int) -> list[int]:
    by %= len(values)
    return values[by:] + values[:by]


def run_throughput(db: str, plan: Plan, pin: bool, progress: bool = True) -> Throughput:
    """Bare loop and sender with 1..N connections, interleaved, against both sinks."""
    sink_cpus, client_cpus = _cpu_split(pin)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-nl-") as tmp:
        url = fresh_database(db, tmp)
        try:
            recipients = plan.recipients()
            campaign_id = setup(url, tmp, recipients)
            server = server_version(url)
            load_before = load_average()
            capture = Path(tmp) / "capture.jsonl"
            # The warm-up goes to the 0 ms sink, which keeps its messages for the bare loop.
            sinks = {
                latency: SinkProcess(
                    sink_cpus,
                    latency_ms=latency,
                    capture=capture if latency == 0 else None,
                    capture_max=plan.warmup,
                )
                for latency in {lat for lat, _ in plan.latencies()} | {0.0}
            }
            expected = dict.fromkeys(sinks, 0)
            series: dict[tuple[float, str, int], Series] = {}
            skipped: list[int] = []
            with contextlib.ExitStack() as stack:
                for sink in sinks.values():
                    stack.enter_context(sink)
                sender = stack.enter_context(Sender(url, tmp, client_cpus, plan.timeout))
                with _pinned(client_cpus):
                    # Warm-up: first renders and connections, and the bare loop's messages.
                    got = sender.send(sinks[0.0].port, plan.warmup, 1)
                    expected[0.0] += got["sent"]
                    total_sent = got["sent"]
                    messages = read_capture(capture)
                    if not messages:
                        raise RuntimeError("the warm-up sent nothing: no messages to replay")
                    connections = plan.connections
                    if not sender.has_connections:
                        skipped = [c for c in connections if c != 1]
                        connections = [c for c in connections if c == 1]
                    for r in range(plan.rounds):
                        for latency, per in plan.latencies():
                            port = sinks[latency].port
                            for c in _rotated(connections, r):
                                seconds, cpu = bare_loop(port, messages, per)
                                series.setdefault((latency, "bare", 1), Series()).add(
                                    per, seconds, cpu
                                )
                                expected[latency] += per
                                got = sender.send(port, per * c, c)
                                if got["sent"] != per * c:
                                    raise RuntimeError(
                                        f"asked for {per * c} messages, the sender sent "
                                        f"{got['sent']} (failed {got['failed']}, "
                                        f"deferred {got['deferred']})"
                                    )
                                series.setdefault((latency, "sender", c), Series()).add(
                                    got["sent"], got["seconds"], got["cpu"]
                                )
                                expected[latency] += got["sent"]
                                total_sent += got["sent"]
                            seconds, cpu = bare_loop(port, messages, per)
                            series[(latency, "bare", 1)].add(per, seconds, cpu)
                            expected[latency] += per
                        if progress:
                            print(f"   round {r + 1}/{plan.rounds} done", file=sys.stderr)
                load_after = load_average()
                sender.close()
                for latency, sink in sinks.items():
                    received, _ = sink.stop()
                    if received != expected[latency]:
                        raise RuntimeError(
                            f"the {latency:g} ms sink received {received} messages, "
                            f"expected {expected[latency]}"
                        )
            counts = delivery_counts(url, tmp, campaign_id)
            if counts.get("sent", 0) != total_sent:
                raise RuntimeError(f"sent rows {counts} ≠ the sender's reports ({total_sent})")
            result = Throughput(
                server=server,
                recipients=recipients,
                message_bytes=len(messages[0].data),
                series=series,
                skipped=skipped,
                load_before=load_before,
                load_after=load_after,
                seconds=time.perf_counter() - started,
            )
        finally:
            drop_database(url)
    return result


# ---------------------------------------------------------------------------------------------
# Memory: one whole campaign per size, each in a fresh sender process


@dataclass
class Memory:
    """One campaign size's memory run."""

    server: str
    recipients: int
    connections: int
    startup_kb: int
    peak_kb: int
    seconds: float
    sent: int
    load: str


def run_memory(db: str, size: int, plan: Plan, pin: bool) -> Memory:
    """A fresh campaign of `size` sent by one `run_outbox` call in a fresh process."""
    sink_cpus, client_cpus = _cpu_split(pin)
    connections = plan.memory_connections
    with tempfile.TemporaryDirectory(prefix="bench-nl-mem-") as tmp:
        url = fresh_database(db, tmp)
        try:
            campaign_id = setup(url, tmp, size)
            server = server_version(url)
            load = load_average()
            with (
                SinkProcess(sink_cpus) as sink,
                Sender(url, tmp, client_cpus, plan.timeout) as sender,
            ):
                if not sender.has_connections:
                    connections = 1
                got = sender.send(sink.port, None, connections)
                sender.close()
                received, _ = sink.stop()
            if got["sent"] != size or received != size:
                raise RuntimeError(
                    f"memory run: {size} recipients, sender sent {got['sent']}, "
                    f"sink received {received}"
                )
            counts = delivery_counts(url, tmp, campaign_id)
            if counts.get("sent", 0) != size:
                raise RuntimeError(f"memory run: delivery rows {counts}")
        finally:
            drop_database(url)
    return Memory(
        server=server,
        recipients=size,
        connections=connections,
        startup_kb=sender.startup_hwm_kb,
        peak_kb=int(got["vm_hwm_kb"]),
        seconds=float(got["seconds"]),
        sent=int(got["sent"]),
        load=load,
    )


# ---------------------------------------------------------------------------------------------
# CPU placement (optional)


def _cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(sink CPUs, client CPUs) with --pin: the sinks on a core of their own, as a relay on
    another host would be; the bare loop and the sender on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


@contextlib.contextmanager
def _pinned(cpus: set[int] | None) -> Iterator[None]:
    """Run the bare loop (this process) on `cpus`, and give the old affinity back after."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# ---------------------------------------------------------------------------------------------
# Report


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def throughput_table(runs: list[Throughput], plan: Plan) -> tuple[str, dict[str, bool]]:
    """The throughput rows of every database, and each target's outcome."""
    lines = [
        "| database | sink latency | what | connections | msg/s | slices (slowest–fastest) "
        "| × one bare connection | CPU µs/msg | target |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    outcomes: dict[str, bool] = {}
    for run in runs:
        for latency, _ in plan.latencies():
            bare = run.series.get((latency, "bare", 1))
            if bare is None:
                continue
            at_target = latency == plan.latency_ms
            rows = [("bare smtplib loop", 1, bare)]
            rows += [
                ("sender", c, run.series[(latency, "sender", c)])
                for c in plan.connections
                if (latency, "sender", c) in run.series
            ]
            for what, c, s in rows:
                ratio = s.rate / bare.rate if bare.rate else 0.0
                if what.startswith("bare"):
                    verdict = "reference"
                elif not at_target:
                    verdict = "(no target)"
                elif c == 1:
                    ok = ratio >= TARGET_ONE_CONNECTION
                    outcomes[f"{run.server}: 1 connection ≥ 90 % of bare"] = ok
                    verdict = f"≥ 0.90×: {_verdict(ok)}"
                elif c == 4:
                    ok = ratio >= TARGET_FOUR_CONNECTIONS
                    outcomes[f"{run.server}: 4 connections ≥ 3.5× bare"] = ok
                    verdict = f"≥ 3.5×: {_verdict(ok)}"
                else:
                    verdict = "(scaling)"
                lines.append(
                    f"| {run.server} | {latency:g} ms | {what} | {c} | {s.rate:,.0f} | "
                    f"{s.slowest:,.0f}–{s.fastest:,.0f} ({len(s.slices)}) | {ratio:.2f}× "
                    f"| {s.cpu_per_message_us:,.0f} | {verdict} |"
                )
            for c in run.skipped:
                lines.append(
                    f"| {run.server} | {latency:g} ms | sender | {c} | – | | | | "
                    "not run: run_outbox has no connections parameter |"
                )
    return "\n".join(lines), outcomes


def memory_table(rows: list[Memory], slack_mb: float) -> tuple[str, dict[str, bool]]:
    """The memory rows, and per database whether the peak stays flat over the sizes."""
    lines = [
        "| database | recipients | connections | VmHWM after start-up | VmHWM after the campaign "
        "| campaign time | msg/s (0 ms sink) | load avg at start |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    outcomes: dict[str, bool] = {}
    for r in rows:
        lines.append(
            f"| {r.server} | {r.recipients:,} | {r.connections} | {r.startup_kb / 1024:.1f} MB "
            f"| **{r.peak_kb / 1024:.1f} MB** | {r.seconds:.1f} s | {r.sent / r.seconds:,.0f} "
            f"| {r.load} |"
        )
    for server in dict.fromkeys(r.server for r in rows):
        mine = sorted((r for r in rows if r.server == server), key=lambda r: r.recipients)
        if len(mine) < 2:
            continue
        growth = (mine[-1].peak_kb - mine[0].peak_kb) / 1024
        ok = growth <= slack_mb
        outcomes[
            f"{server}: memory flat ({mine[0].recipients:,} → {mine[-1].recipients:,} "
            f"recipients: {growth:+.1f} MB, allowed {slack_mb:g} MB)"
        ] = ok
    return "\n".join(lines), outcomes


# ---------------------------------------------------------------------------------------------
# Command line


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    """The command line (`python -m bench.newsletters --help`)."""
    p = argparse.ArgumentParser(
        prog="python -m bench.newsletters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or URLs, with commas")
    p.add_argument(
        "--sink-latency-ms",
        type=float,
        default=5.0,
        help="the sink's delay before answering the end of DATA, once per message (5)",
    )
    p.add_argument("--connections", default="1,2,4,8", help="sender connections to compare")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    p.add_argument(
        "--slice",
        type=int,
        default=300,
        help="messages per connection per slice at the sink latency (300)",
    )
    p.add_argument(
        "--slice-zero",
        type=int,
        default=300,
        help="the same against the 0 ms sink, the reference without target; 0 skips it (300)",
    )
    p.add_argument("--warmup", type=int, default=100, help="sender messages before timing (100)")
    p.add_argument(
        "--memory",
        default="2000,10000,50000",
        help="campaign sizes of the memory runs; empty skips them (2000,10000,50000)",
    )
    p.add_argument(
        "--memory-connections", type=int, default=4, help="connections in the memory runs (4)"
    )
    p.add_argument(
        "--memory-slack-mb",
        type=float,
        default=10.0,
        help="'flat': the largest campaign's peak at most this much above the smallest's (10)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds one run_outbox call may take before the run fails (600)",
    )
    p.add_argument("--pin", action="store_true", help="give the sinks a CPU of their own")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns 1 when a target is missed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--sender-worker":
        sender_worker(argv[1], argv[2])
        return 0
    args = parser().parse_args(argv)
    plan = Plan(
        latency_ms=args.sink_latency_ms,
        connections=_ints(args.connections),
        rounds=max(args.rounds, 1),
        slice=max(args.slice, 1),
        slice_zero=max(args.slice_zero, 0),
        warmup=max(args.warmup, 1),
        memory=_ints(args.memory),
        memory_connections=max(args.memory_connections, 1),
        timeout=args.timeout,
    )
    if not plan.connections:
        raise SystemExit("--connections needs at least one number")
    started = time.perf_counter()
    load_start = load_average()
    runs: list[Throughput] = []
    memory: list[Memory] = []
    for db in (x.strip() for x in args.db.split(",")):
        if not db:
            continue
        print(f"## {db}: throughput, {plan.recipients():,} recipients", file=sys.stderr)
        runs.append(run_throughput(db, plan, args.pin))
        for size in plan.memory:
            print(f"## {db}: memory, {size:,} recipients", file=sys.stderr)
            memory.append(run_memory(db, size, plan, args.pin))
    load_end = load_average()
    command = "python -m bench.newsletters " + " ".join(argv)
    table, outcomes = throughput_table(runs, plan)
    print(f"Command: `{command.strip()}`  ")
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  ")
    print(f"Machine: {os.cpu_count()} CPUs; sinks {'pinned' if args.pin else 'not pinned'}  ")
    print(f"Load average (1/5/15 min) at start / end: {load_start} / {load_end}  ")
    print(f"Wall time: {time.perf_counter() - started:.0f} s  ")
    for run in runs:
        print(
            f"{run.server}: {run.recipients:,} recipients, message {run.message_bytes:,} bytes, "
            f"load {run.load_before} → {run.load_after}, {run.seconds:.0f} s  "
        )
    print()
    print(table)
    if memory:
        print()
        mem_table, mem_outcomes = memory_table(memory, args.memory_slack_mb)
        outcomes.update(mem_outcomes)
        print(mem_table)
    print()
    for name, ok in outcomes.items():
        print(f"- {_verdict(ok)}: {name}")
    if args.json:
        payload = {
            "command": command,
            "load_start": load_start,
            "load_end": load_end,
            "plan": vars(plan),
            "throughput": [
                {
                    "server": run.server,
                    "recipients": run.recipients,
                    "message_bytes": run.message_bytes,
                    "load": [run.load_before, run.load_after],
                    "series": [
                        {
                            "latency_ms": lat,
                            "what": what,
                            "connections": c,
                            "slices": s.slices,
                            "cpu_seconds": s.cpu_seconds,
                        }
                        for (lat, what, c), s in run.series.items()
                    ],
                }
                for run in runs
            ],
            "memory": [vars(m) for m in memory],
            "targets": outcomes,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if all(outcomes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
