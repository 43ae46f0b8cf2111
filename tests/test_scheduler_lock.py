"""Scheduler leadership through the database: exactly one of several schedulers leads."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.database import reset_write_intent, set_write_intent, utcnow
from crm.jobs.leadership import LeaseTimes, RowLock, SchedulerLock
from crm.jobs.models import JobRun
from crm.jobs.periodic import JobSpec
from crm.jobs.scheduler import Leadership, run_if_leader

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ON_POSTGRES = bool(os.environ.get("CRM_TEST_DATABASE_URL"))
# The production defaults: lease 40 s, renewal every 10 s, 10 s margin before a job.
TIMES = LeaseTimes()


@pytest.fixture(scope="module")
def own_app(make_database, tmp_path_factory):
    """An app on its own migrated database whose commits are real (like the scheduler's)."""
    from flask_migrate import upgrade

    from tests.conftest import build_app

    application = build_app(make_database(), str(tmp_path_factory.mktemp("leader")))
    with application.app_context():
        upgrade()
    return application


@pytest.fixture
def lock_engine(own_app):
    """The own app's database with no lock taken."""
    from crm.extensions import db

    with own_app.app_context():
        engine = db.engine
    with engine.begin() as conn:
        conn.execute(sa.delete(SchedulerLock.__table__))
    return engine


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def lease_row(engine: sa.Engine) -> tuple[str, datetime] | None:
    table = SchedulerLock.__table__
    with engine.connect() as conn:
        row = conn.execute(sa.select(table.c.holder, table.c.expires_at)).first()
    return None if row is None else (row.holder, row.expires_at)


def test_of_two_row_lock_holders_only_one_leads_and_renews(lock_engine):
    a = RowLock(lock_engine, holder="a")
    b = RowLock(lock_engine, holder="b")
    assert a.acquire(s(0)) is True
    assert b.acquire(s(1)) is False
    assert a.acquire(s(10)) is True  # renewal pushes the lease on
    assert b.acquire(s(11)) is False
    assert b.acquire(s(49)) is False  # a's lease (renewed at 10) runs to 50
    assert a.is_leader(s(49)) is True
    assert b.is_leader(s(49)) is False


def test_a_follower_takes_over_within_a_minute_when_the_leader_freezes(lock_engine):
    a = RowLock(lock_engine, holder="a")
    b = RowLock(lock_engine, holder="b")
    assert a.acquire(s(0)) is True
    # a freezes right after renewing; b keeps trying every renewal interval.
    tries = [s(TIMES.renew.total_seconds() * n) for n in range(1, 8)]
    won_at = next(t for t in tries if b.acquire(t))
    assert won_at - T0 <= TIMES.lease + TIMES.renew <= timedelta(minutes=1)
    assert won_at - T0 > TIMES.lease
    # The old leader wakes up: its renewal fails, it is a follower and knows it.
    assert a.acquire(won_at + timedelta(seconds=1)) is False
    assert a.is_leader(won_at + timedelta(seconds=1)) is False
    assert lease_row(lock_engine)[0] == "b"


def test_a_stalled_leader_stops_leading_when_its_own_lease_runs_out(lock_engine):
    a = RowLock(lock_engine, holder="a")
    assert a.acquire(s(0)) is True
    assert a.is_leader(s(39)) is True
    assert a.is_leader(s(40)) is False


def test_the_fresh_check_wants_this_holder_and_at_least_the_margin_left(lock_engine):
    a = RowLock(lock_engine, holder="a")
    b = RowLock(lock_engine, holder="b")
    assert a.acquire(s(0)) is True  # the lease runs to 40
    assert a.still_valid(s(30)) is True  # exactly the margin left
    assert a.still_valid(s(30.5)) is False  # less than the margin: no job may start
    assert b.still_valid(s(1)) is False
    assert b.acquire(s(41)) is True
    # a's own memory says it leads until 40; the row says otherwise from 41 on.
    assert a.still_valid(s(20)) is False
    assert a.is_leader(s(20)) is False  # and it forgets its belief


def test_releasing_hands_over_at_once(lock_engine):
    a = RowLock(lock_engine, holder="a")
    b = RowLock(lock_engine, holder="b")
    assert a.acquire(s(0)) is True
    a.release()
    assert b.acquire(s(1)) is True
    assert lease_row(lock_engine)[0] == "b"


def test_lease_settings_that_would_starve_a_healthy_leader_are_refused():
    with pytest.raises(ValueError, match="renew"):
        LeaseTimes(lease=timedelta(seconds=20), renew=timedelta(seconds=10), margin=timedelta(10))
    times = LeaseTimes.from_config(
        {
            "CRM_SCHEDULER_LEASE_SECONDS": 3,
            "CRM_SCHEDULER_RENEW_SECONDS": 1,
            "CRM_SCHEDULER_LEASE_MARGIN_SECONDS": 1,
        }
    )
    assert (times.lease, times.renew, times.margin) == (
        timedelta(seconds=3),
        timedelta(seconds=1),
        timedelta(seconds=1),
    )


def test_many_contenders_for_an_expired_lease_make_exactly_one_leader(lock_engine):
    """Concurrent conditional UPDATEs (threads, own connections): one winner, no lost update."""
    old = RowLock(lock_engine, holder="old")
    assert old.acquire(s(0)) is True
    contenders = [RowLock(lock_engine, holder=f"c{n}") for n in range(8)]
    barrier = threading.Barrier(len(contenders))

    def contend(lock: RowLock) -> bool:
        barrier.wait()
        return lock.acquire(s(100))  # all after the old lease ran out

    with ThreadPoolExecutor(len(contenders)) as pool:
        results = list(pool.map(contend, contenders))
    assert results.count(True) == 1
    winner = contenders[results.index(True)]
    assert lease_row(lock_engine)[0] == winner.holder


def test_jobs_run_only_in_the_leading_scheduler(own_app, lock_engine):
    runs: list[str] = []
    job = JobSpec(id="probe", func=lambda _app: runs.append("ran"), trigger="interval")
    first = Leadership(own_app, RowLock(lock_engine, holder="first"))
    second = Leadership(own_app, RowLock(lock_engine, holder="second"))
    assert first.renew() is True
    assert second.renew() is False
    run_if_leader(job, own_app, first)
    run_if_leader(job, own_app, second)
    assert runs == ["ran"]
    first.release()
    assert second.renew() is True
    run_if_leader(job, own_app, first)
    run_if_leader(job, own_app, second)
    assert runs == ["ran", "ran"]
    second.release()


def test_a_leader_that_lost_its_lease_while_frozen_does_not_run_the_next_job(own_app, lock_engine):
    """Its own memory still says "leading"; the lease check in the job's start says no."""
    runs: list[str] = []
    job = JobSpec(id="probe", func=lambda _app: runs.append("ran"), trigger="interval")
    frozen = Leadership(own_app, RowLock(lock_engine, holder="frozen"))
    assert frozen.renew() is True
    # Meanwhile another process took over (seen from its clock the lease had run out).
    assert RowLock(lock_engine, holder="other").acquire(utcnow() + timedelta(hours=1)) is True
    assert frozen.is_leader() is True  # the stale belief
    run_if_leader(job, own_app, frozen)
    assert runs == []
    assert frozen.is_leader() is False
    with lock_engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).where(JobRun.holder == "frozen")) == 0


def test_no_job_starts_when_the_lease_has_less_than_the_margin_left(own_app, lock_engine):
    runs: list[str] = []
    job = JobSpec(id="probe", func=lambda _app: runs.append("ran"), trigger="interval")
    leader = Leadership(own_app, RowLock(lock_engine, holder="late"))
    assert leader.renew() is True
    table = SchedulerLock.__table__
    with lock_engine.begin() as conn:  # the renewals stalled: 5 s left, margin is 10 s
        conn.execute(table.update().values(expires_at=utcnow() + timedelta(seconds=5)))
    run_if_leader(job, own_app, leader)
    assert runs == []
    assert leader.is_leader() is False
    assert leader.renew() is True  # the next heartbeat gets through: leading again
    run_if_leader(job, own_app, leader)
    assert runs == ["ran"]
    leader.release()


@pytest.mark.slow
def test_two_scheduler_processes_send_a_due_reminder_exactly_once(make_database, tmp_path):
    """Two real `python -m scheduled` processes on one database: one .eml in the outbox."""
    from flask_migrate import upgrade

    from crm.extensions import db
    from crm.followups.models import FollowUp
    from crm.followups.service import create_followup
    from tests import factories
    from tests.conftest import build_app

    url = make_database()
    outbox = tmp_path / "outbox"
    instance = tmp_path / "instance"
    instance.mkdir()
    setup = build_app(url, str(instance))
    with setup.app_context():
        upgrade()
        user = factories.make_user(db.session)
        due = datetime.now(UTC) + timedelta(seconds=4)
        from zoneinfo import ZoneInfo

        local = due.astimezone(ZoneInfo("Europe/Berlin"))
        fu = create_followup(
            db.session,
            subject="Zwei Scheduler, eine Erinnerung",
            due_date=local.date(),
            due_time=local.time().replace(microsecond=0),
            assignee=user,
        )
        db.session.commit()
        fu_id = fu.id
    env = {
        **os.environ,
        "CRM_ENV": "development",
        "DATABASE_URL": url,
        "CRM_INSTANCE_PATH": str(instance),
        "CRM_MAIL_TRANSPORT": "file",
        "CRM_MAIL_OUTBOX_DIR": str(outbox),
        "CRM_SCHEDULER_TICK_SECONDS": "1",
        # The reminder is queued by one job and delivered by the outbox sender's job.
        "CRM_OUTBOX_POLL_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    procs, logs = [], []
    for n in range(2):
        log = tmp_path / f"scheduler{n}.log"
        logs.append(log)
        with log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "scheduled"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + 60
        reminded = None
        while time.monotonic() < deadline:
            with setup.app_context():
                reminded = db.session.scalar(
                    sa.select(FollowUp.reminded_at).where(FollowUp.id == fu_id)
                )
                db.session.remove()
            if reminded is not None:
                break
            time.sleep(0.3)
        assert reminded is not None, "\n".join(p.read_text() for p in logs)
        while time.monotonic() < deadline and not list(outbox.glob("*.eml")):
            time.sleep(0.3)
        time.sleep(3)  # several more ticks of both processes: no second message
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
        with setup.app_context():
            db.engine.dispose()
    texts = [p.read_text() for p in logs]
    assert all(proc.returncode == 0 for proc in procs), texts
    assert sum("is now leading" in t for t in texts) == 1, texts
    assert all("Traceback" not in t for t in texts), texts
    messages = sorted(outbox.glob("*.eml"))
    assert len(messages) == 1, texts
    assert "Zwei Scheduler, eine Erinnerung" in messages[0].read_text()


def scheduler_env(url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a `python -m scheduled` process on the test database."""
    return {
        **os.environ,
        "CRM_ENV": "development",
        "DATABASE_URL": url,
        "CRM_INSTANCE_PATH": str(instance),
        "CRM_MAIL_TRANSPORT": "file",
        "CRM_MAIL_OUTBOX_DIR": str(instance / "outbox"),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def start_scheduler(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "scheduled"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def process_state(proc: subprocess.Popen) -> str:
    """The kernel's one-letter state of the process (`T`: stopped by a signal)."""
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def freeze(proc: subprocess.Popen, url: str) -> None:
    """SIGSTOP `proc`; on SQLite only at a moment when it holds no write transaction.

    A SQLite process frozen inside a write transaction keeps the database's one write lock:
    then no process can write anything (the whole app stops, not just its scheduler) until
    it wakes up, and no lease can help. That is SQLite's nature, not the scheduler's; the
    test retries the freeze until the leader is caught outside a write. PostgreSQL has row
    locks and needs no retry.
    """
    sqlite_path = sa.make_url(url).database if url.startswith("sqlite") else None
    for _ in range(50):
        proc.send_signal(signal.SIGSTOP)
        # The signal is delivered asynchronously: wait until the process really stands still.
        assert wait_for(lambda: process_state(proc) == "T", 5), process_state(proc)
        if sqlite_path is None:
            return
        probe = sqlite3.connect(sqlite_path, timeout=0.5, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # frozen while writing: let it finish, try again
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.2)
        finally:
            probe.close()
    pytest.fail("could not freeze the leader outside a write transaction")


@pytest.fixture
def deferred_reads() -> Iterator[None]:
    """The test's own reads must not queue for SQLite's write lock (see crm.database)."""
    token = set_write_intent(False)
    yield
    reset_write_intent(token)


def wait_for(predicate, timeout: float, step: float = 0.1):
    """Poll until `predicate()` returns something truthy; return it (or None after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


@pytest.mark.slow
def test_a_frozen_leader_is_replaced_and_after_waking_runs_no_job(
    make_database, tmp_path, deferred_reads
):
    """Two real scheduler processes; SIGSTOP the leader, later SIGCONT it.

    With a 3 s lease renewed every second, the follower must take over (and run jobs) within
    lease + renewal + slack of the freeze; the old leader, woken up, must not start a single
    job after the takeover and must log that it no longer leads.
    """
    from flask_migrate import upgrade

    from tests.conftest import build_app

    url = make_database()
    instance = tmp_path / "instance"
    instance.mkdir()
    setup = build_app(url, str(instance))
    with setup.app_context():
        upgrade()
        from crm.extensions import db

        engine = db.engine
    lease, renew = 3, 1
    env = scheduler_env(
        url,
        instance,
        CRM_SCHEDULER_TICK_SECONDS="1",
        CRM_SCHEDULER_LEASE_SECONDS=str(lease),
        CRM_SCHEDULER_RENEW_SECONDS=str(renew),
        CRM_SCHEDULER_LEASE_MARGIN_SECONDS="1",
    )
    logs = [tmp_path / f"scheduler{n}.log" for n in range(2)]
    procs = [start_scheduler(env, log) for log in logs]
    runs = JobRun.__table__

    def holder_of(proc: subprocess.Popen) -> str | None:
        row = lease_row(engine)
        return row[0] if row and row[0].split(":")[1] == str(proc.pid) else None

    def runs_by(holder: str, since: datetime) -> list[datetime]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(runs.c.started_at)
                    .where(runs.c.holder == holder, runs.c.started_at >= since)
                    .order_by(runs.c.started_at)
                ).scalars()
            )

    texts = lambda: "\n".join(log.read_text() for log in logs)  # noqa: E731
    stopped = None
    try:
        leader_holder = wait_for(lambda: lease_row(engine) and lease_row(engine)[0], 30)
        assert leader_holder, texts()
        leader = next(p for p in procs if holder_of(p))
        follower = next(p for p in procs if p is not leader)
        assert wait_for(lambda: runs_by(leader_holder, T0), 15), texts()

        freeze(leader, url)
        stopped = leader
        frozen_at = utcnow()
        new_holder = wait_for(lambda: holder_of(follower), lease + renew + 10)
        assert new_holder, texts()
        first_new = wait_for(lambda: runs_by(new_holder, frozen_at), 10)
        assert first_new, texts()
        took_over_at = first_new[0]
        # Production defaults scale the same bound to 40 + 10 s: within a minute.
        assert took_over_at - frozen_at <= timedelta(seconds=lease + renew + 3), texts()

        time.sleep(2)  # the old leader stays frozen well past the takeover
        leader.send_signal(signal.SIGCONT)
        stopped = None
        woke_at = utcnow()
        # Its coalesced ticks and its heartbeat fire at once on waking; give them time.
        assert wait_for(lambda: "is no longer leading" in logs[procs.index(leader)].read_text(), 10)
        time.sleep(2)
        assert runs_by(leader_holder, took_over_at) == [], texts()
        assert runs_by(new_holder, woke_at + timedelta(seconds=1)), texts()  # still leading
        assert lease_row(engine)[0] == new_holder
    finally:
        if stopped is not None:
            stopped.send_signal(signal.SIGCONT)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
        engine.dispose()
    assert all(proc.returncode == 0 for proc in procs), texts()
    assert "Traceback" not in texts(), texts()
