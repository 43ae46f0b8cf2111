"""The reminder job against its own database: `flask crm run-jobs --once`, row claiming."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import orm

from crm.extensions import db
from crm.followups import service
from crm.followups.models import FollowUp
from crm.jobs.scheduler import configure
from crm.mail import read_outbox_message
from tests import factories
from tests.conftest import build_app
from tests.mail_helpers import queued

ON_POSTGRES = bool(os.environ.get("CRM_TEST_DATABASE_URL"))


@pytest.fixture
def own_app(make_database, tmp_path):
    """An app on a fresh, migrated database whose commits are real (like the scheduler's)."""
    from flask_migrate import upgrade

    application = build_app(make_database(), str(tmp_path), CRM_BASE_URL="https://crm.example.org")
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def add_due_followup(application, minutes_ago: int = 5) -> int:
    with application.app_context():
        due = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(
            ZoneInfo("Europe/Berlin")
        )
        fu = service.create_followup(
            db.session,
            subject="Jobcenter zurückrufen",
            due_date=due.date(),
            due_time=time(due.hour, due.minute),
            assignee=factories.make_user(db.session),
        )
        db.session.commit()
        return fu.id


def test_run_jobs_once_sends_the_due_reminder_into_the_outbox_once(own_app, tmp_path):
    add_due_followup(own_app)
    runner = own_app.test_cli_runner()
    first = runner.invoke(args=["crm", "run-jobs", "--once"])
    assert "send-followup-reminders: 1" in first.output, first.output
    second = runner.invoke(args=["crm", "run-jobs", "--once"])
    assert "send-followup-reminders: 0" in second.output, second.output
    # After 07:00 Berlin time the same run also sends the assignee's daily digest (once).
    outbox = tmp_path / "outbox"
    mails = [read_outbox_message(outbox, f.name) for f in sorted(outbox.glob("*.eml"))]
    reminders = [m for m in mails if str(m["Subject"]).startswith("Wiedervorlage fällig")]
    assert len(reminders) == 1
    assert len(mails) - len(reminders) <= 1
    assert "https://crm.example.org/wiedervorlagen/" in reminders[0].get_body().get_content()


def test_the_reminder_job_ticks_every_minute_unless_told_otherwise(app):
    scheduler = BackgroundScheduler(timezone="Europe/Berlin")
    configure(scheduler, app)
    job = scheduler.get_job("send-followup-reminders")
    assert job.trigger.interval == timedelta(minutes=1)
    app.config["CRM_SCHEDULER_TICK_SECONDS"] = 5
    try:
        fresh = configure(BackgroundScheduler(timezone="Europe/Berlin"), app)
        assert fresh.get_job("send-followup-reminders").trigger.interval == timedelta(seconds=5)
    finally:
        del app.config["CRM_SCHEDULER_TICK_SECONDS"]


@pytest.mark.skipif(not ON_POSTGRES, reason="SKIP LOCKED is PostgreSQL; SQLite serialises writers")
def test_a_row_claimed_by_another_process_is_skipped_not_queued_twice(own_app):
    fu_id = add_due_followup(own_app)
    with own_app.app_context():
        engine = db.engine
        holder = orm.Session(engine)
        other = orm.Session(engine)
        try:
            # The "other scheduler" holds the row, as while it queues the reminder.
            holder.scalars(sa.select(FollowUp).where(FollowUp.id == fu_id).with_for_update()).one()
            now = datetime.now(UTC)
            assert service.send_due_reminders(other, now, "https://x.test") == 0
            holder.rollback()
            assert service.send_due_reminders(other, now, "https://x.test") == 1
            assert service.send_due_reminders(other, now, "https://x.test") == 0
            assert len(queued(other, "reminder")) == 1
        finally:
            holder.close()
            other.close()
