"""The scheduler skeleton: one job list with stable ids, embedded exactly once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler

from crm.jobs.periodic import JOBS
from crm.jobs.scheduler import MISFIRE_GRACE_SECONDS, configure, start_embedded

ROOT = Path(__file__).resolve().parent.parent


def test_job_ids_are_unique_and_stable_slugs():
    ids = [job.id for job in JOBS]
    assert len(ids) == len(set(ids))
    assert all(i.replace("-", "").isalnum() and i == i.lower() for i in ids)


def test_every_job_coalesces_and_has_a_misfire_grace_time(app):
    scheduler = BackgroundScheduler(timezone="Europe/Berlin")
    configure(scheduler, app)
    for job in scheduler.get_jobs():
        assert job.coalesce is True
        assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS
        assert job.max_instances == 1


def test_the_mail_sender_runs_every_outbox_poll_interval_so_a_confirmation_goes_out_fast(app):
    scheduler = BackgroundScheduler(timezone="Europe/Berlin")
    configure(scheduler, app)
    job = scheduler.get_job("send-outbox")

    assert app.config["CRM_OUTBOX_POLL_SECONDS"] == 10
    assert job.trigger.interval.total_seconds() == 10


def test_embedded_scheduler_starts_only_once_per_app(app):
    first = start_embedded(app)
    try:
        assert start_embedded(app) is first
        # The scheduler runs a job worker, too; it stops with the scheduler.
        worker = app.extensions["crm_worker"]
        assert worker.thread.is_alive()
    finally:
        first.shutdown(wait=False)
        app.extensions.pop("crm_scheduler", None)
        app.extensions.pop("crm_worker", None)
    worker.thread.join(timeout=10)
    assert not worker.thread.is_alive()


def test_purge_job_deletes_idle_sessions(app, make_database, tmp_path):
    """Run the job against its own database: it commits, like in production."""
    from datetime import timedelta

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from crm.accounts.models import LoginSession
    from crm.database import utcnow
    from crm.extensions import db
    from crm.jobs.periodic import purge_expired_sessions
    from tests import factories
    from tests.conftest import build_app

    other = build_app(make_database(), str(tmp_path))
    with other.app_context():
        upgrade()
        user = factories.make_user(db.session)
        db.session.add(
            LoginSession(
                token_hash="a" * 64, user_id=user.id, last_seen_at=utcnow() - timedelta(days=2)
            )
        )
        db.session.add(LoginSession(token_hash="b" * 64, user_id=user.id))
        db.session.commit()
    assert purge_expired_sessions(other) == 1
    with other.app_context():
        assert db.session.scalar(sa.select(sa.func.count(LoginSession.id))) == 1


@pytest.mark.slow
def test_dev_server_with_reloader_starts_the_scheduler_exactly_once(tmp_path):
    """`flask crm serve` under the reloader: the watcher process must not run jobs too."""
    env = {
        **os.environ,
        "CRM_ENV": "development",
        "CRM_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*flask, "crm", "serve", "--port", port, "--reload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                text = log.read_text()
                if "embedded scheduler started" in text and "Running on" in text:
                    time.sleep(2)  # give a second (wrong) start the chance to show up
                    break
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    text = log.read_text()
    assert text.count("embedded scheduler started") == 1, text
    # The scheduler's own chatter (every job run, every wake-up) stays out of the request log.
    assert "apscheduler" not in text, text


def test_import_file_purge_job_runs_against_its_own_database(make_database, tmp_path):
    from datetime import timedelta

    from flask_migrate import upgrade

    from crm.contacts import importer
    from crm.contacts.import_models import ImportJob
    from crm.database import utcnow
    from crm.extensions import db
    from crm.jobs.files import file_store
    from crm.jobs.periodic import purge_import_files
    from tests.conftest import build_app

    other = build_app(make_database(), str(tmp_path))
    with other.app_context():
        upgrade()
        for name in ("alt.csv", "neu.csv"):
            importer.create_job(
                db.session, data=b"Firma\nAcme\n", filename=name, user_id=None, max_bytes=999
            )
        old = db.session.scalar(sa.select(ImportJob).where(ImportJob.filename == "alt.csv"))
        old.created_at = utcnow() - timedelta(days=other.config["CRM_IMPORT_KEEP_DAYS"] + 1)
        db.session.commit()
        keys = {j.filename: j.uuid for j in db.session.scalars(sa.select(ImportJob))}
        db.session.remove()
    assert purge_import_files(other) == 1
    with other.app_context():
        assert file_store().get(db.session, keys["alt.csv"]) is None
        assert file_store().get(db.session, keys["neu.csv"]) == b"Firma\nAcme\n"
        assert db.session.scalar(
            sa.select(ImportJob.file_removed_at).where(ImportJob.filename == "alt.csv")
        )
    # Nothing under the instance folder: the uploads live in the database.
    assert not (tmp_path / "imports").exists()


def test_signup_attempt_purge_job_runs_against_its_own_database(make_database, tmp_path):
    from flask_migrate import upgrade

    from crm.jobs.periodic import purge_signup_attempts
    from tests.conftest import build_app

    other = build_app(make_database(), str(tmp_path))
    with other.app_context():
        upgrade()
    assert purge_signup_attempts(other) == 0


def test_the_sign_up_purge_job_deletes_expired_sign_ups_in_its_own_database(
    make_database, tmp_path
):
    from datetime import timedelta

    from flask_migrate import upgrade

    from crm.database import utcnow
    from crm.extensions import db
    from crm.jobs.periodic import purge_newsletter_signups
    from crm.newsletters.models import Signup
    from crm.newsletters.service import create_list, request_subscription
    from tests.conftest import build_app

    assert "purge-newsletter-signups" in [job.id for job in JOBS]
    other = build_app(make_database(), str(tmp_path))
    with other.app_context():
        upgrade()
        lst = create_list(db.session, name="Liste", slug="liste", consent_text="Ja.")
        hours = other.config.get("CRM_NEWSLETTER_CONFIRM_HOURS") or 48
        for address, age in (("alt@example.org", hours + 1), ("neu@example.org", 1)):
            request_subscription(
                db.session, lst, email=address, now=utcnow() - timedelta(hours=age)
            )
        db.session.commit()
    assert purge_newsletter_signups(other) == 1
    assert purge_newsletter_signups(other) == 0
    with other.app_context():
        assert db.session.scalars(sa.select(Signup.email)).all() == ["neu@example.org"]
