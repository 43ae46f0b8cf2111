"""Scheduler leadership through the database: exactly one of several schedulers leads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduled.jobs import JobSpec
from scheduled.lock import LEASE, AdvisoryLock, RowLock, SchedulerLock
from scheduled.runner import Leadership, run_if_leader

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ON_POSTGRES = bool(os.environ.get("CRM_TEST_DATABASE_URL"))


@pytest.fixture(scope="module")
def lock_database(make_database):
    """One fresh database for this module holding only the scheduler_lock table."""
    engine = sa.create_engine(make_database())
    SchedulerLock.__table__.create(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def lock_engine(lock_database):
    """The lock database with no lock taken."""
    with lock_database.begin() as conn:
        conn.execute(sa.delete(SchedulerLock.__table__))
    return lock_database


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_of_two_row_lock_holders_only_one_leads_and_renews(lock_engine):
    a = RowLock(lock_engine, holder="a")
    b = RowLock(lock_engine, holder="b")
    assert a.acquire(s(0)) is True
    assert b.acquire(s(1)) is False
    assert a.acquire(s(15)) is True  # renewal pushes the lease on
    assert b.acquire(s(16)) is False
    assert b.acquire(s(59)) is False  # a's lease (renewed at 15) runs to 60
    assert a.is_leader(s(59)) is True
    assert b.is_leader(s(59)) is False


def test_a_follower_takes_over_within_a_minute_when_the_leader_dies(lock_engine):
    a = RowLock(lock_engine, holder="a")
    b = RowLock(lock_engine, holder="b")
    assert a.acquire(s(0)) is True
    # a dies right after renewing; b keeps trying every 15 s.
    tries = [s(15 * n) for n in range(1, 6)]
    won_at = next(t for t in tries if b.acquire(t))
    assert won_at - T0 <= timedelta(minutes=1)
    assert won_at - T0 > LEASE
    # The old leader comes back: it is a follower now and knows it.
    assert a.acquire(won_at + timedelta(seconds=1)) is False
    assert a.is_leader(won_at + timedelta(seconds=1)) is False


def test_a_stalled_leader_stops_leading_when_its_own_lease_runs_out(lock_engine):
    a = RowLock(lock_engine, holder="a")
    assert a.acquire(s(0)) is True
    assert a.is_leader(s(44)) is True
    assert a.is_leader(s(45)) is False


def test_releasing_hands_over_at_once(lock_engine):
    a = RowLock(lock_engine, holder="a")
    b = RowLock(lock_engine, holder="b")
    assert a.acquire(s(0)) is True
    a.release()
    assert b.acquire(s(1)) is True
    with lock_engine.connect() as conn:
        holders = conn.execute(sa.select(SchedulerLock.__table__.c.holder)).scalars().all()
    assert holders == ["b"]


@pytest.mark.skipif(not ON_POSTGRES, reason="advisory locks exist on PostgreSQL only")
def test_advisory_lock_one_leader_and_takeover_when_its_connection_dies(lock_database):
    engine = lock_database
    a, b = AdvisoryLock(engine, key=4242), AdvisoryLock(engine, key=4242)
    try:
        assert a.acquire() is True
        assert a.acquire() is True  # renewing: still holding
        assert b.acquire() is False
        a.release()
        assert b.acquire() is True
        assert a.acquire() is False
        # The leader's session is killed (crash, network): the server frees the lock.
        assert b._conn is not None
        pid = b._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        deadline = time.monotonic() + 10
        while not a.acquire() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert a.is_leader()
        assert b.acquire() is False  # notices the lost connection and follows
        assert b.is_leader() is False
    finally:
        for lock in (a, b):
            lock.release()
            lock.dispose()


def test_jobs_run_only_in_the_leading_scheduler(app, lock_engine):
    runs: list[str] = []
    job = JobSpec(id="probe", func=lambda _app: runs.append("ran"), trigger="interval")
    first = Leadership(app, RowLock(lock_engine, holder="first"))
    second = Leadership(app, RowLock(lock_engine, holder="second"))
    assert first.renew() is True
    assert second.renew() is False
    run_if_leader(job, app, first)
    run_if_leader(job, app, second)
    assert runs == ["ran"]
    first.release()
    assert second.renew() is True
    run_if_leader(job, app, first)
    run_if_leader(job, app, second)
    assert runs == ["ran", "ran"]
    second.release()


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
