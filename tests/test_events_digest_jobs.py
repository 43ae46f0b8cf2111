"""The 07:00 digest (real SMTP server, frozen time) and the recording of job runs."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crm.events import service
from crm.events.digest import digest_for, send_daily_digests
from crm.events.series import to_utc
from crm.extensions import db
from crm.followups import service as fu_service
from crm.jobs.models import JobRun
from crm.jobs.periodic import JOBS
from crm.jobs.service import job_statuses, recorded
from tests import factories
from tests.conftest import build_app
from tests.mail_helpers import message_of, queued

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_the_digest_groups_overdue_today_and_duty_and_is_queued_once_a_day(
    app_ctx, smtp_server, frozen_time
):
    session = app_ctx
    anna = factories.make_user(session, display_name="Anna Digest")
    idle = factories.make_user(session)  # nothing to report: no mail
    mk = fu_service.create_followup
    old = mk(session, subject="Überfällig", due_date=date(2026, 11, 20), assignee=anna)
    today = mk(session, subject="Heute", due_date=date(2026, 11, 23), assignee=anna)
    mk(session, subject="Später fällig", due_date=date(2026, 11, 24), assignee=anna)
    event = service.create_event(
        session,
        service.EventData(
            kind="fair",
            title="Messe heute",
            start_local=datetime(2026, 11, 23, 9),
            end_local=datetime(2026, 11, 23, 16),
        ),
    )
    service.add_slot(
        session, event, anna, to_utc(datetime(2026, 11, 23, 10)), to_utc(datetime(2026, 11, 23, 12))
    )
    session.commit()

    content = digest_for(session, anna, berlin(2026, 11, 23, 7, 0))
    assert [f.id for f in content["overdue"]] == [old.id]
    assert [f.id for f in content["today"]] == [today.id]
    assert [s.event.title for s in content["duty"]] == ["Messe heute"]
    assert not any(digest_for(session, idle, berlin(2026, 11, 23, 7, 0)).values())

    frozen_time.move_to(berlin(2026, 11, 23, 6, 59))
    assert send_daily_digests(session, berlin(2026, 11, 23, 6, 59), "https://x") == 0
    frozen_time.move_to(berlin(2026, 11, 23, 7, 0))
    assert send_daily_digests(session, berlin(2026, 11, 23, 7, 0), "https://x") == 1
    # A catch-up run or a second scheduler later that day sends nothing more.
    assert send_daily_digests(session, berlin(2026, 11, 23, 9, 0), "https://x") == 0
    [row] = queued(session, "digest")
    assert (row.recipient, row.user_id, row.status) == (anna.email, anna.id, "queued")
    assert smtp_server.connection_count == 0  # queued with its DigestSent row, not sent inline
    message = message_of(row)
    text = message.get_body(("plain",)).get_content()
    assert "Überfällige Wiedervorlagen (1)" in text
    assert "Heute fällig (1)" in text
    assert "Später fällig" not in text
    assert "10:00–12:00 Messe heute" in text
    assert message.get_body(("html",)) is not None
    # The next day brings the next digest.
    assert send_daily_digests(session, berlin(2026, 11, 24, 7, 0), "https://x") == 1
    assert len(queued(session, "digest")) == 2


@pytest.fixture
def own_app(make_database, tmp_path):
    """An app on its own migrated database: recorded() commits on its own connection."""
    from flask_migrate import upgrade

    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_job_runs_are_recorded_with_result_and_error(own_app):
    assert recorded(own_app, "test-job", lambda: 7, holder="h1") == 7

    def broken():
        raise RuntimeError("kaputt")

    with pytest.raises(RuntimeError):
        recorded(own_app, "test-job", broken)
    with own_app.app_context():
        runs = list(
            db.session.scalars(
                sa.select(JobRun).where(JobRun.job_id == "test-job").order_by(JobRun.id)
            )
        )
        assert [(r.status, r.result, r.holder) for r in runs] == [
            ("ok", "7", "h1"),
            ("error", "", ""),
        ]
        assert "kaputt" in runs[1].error
        assert runs[1].finished_at is not None
        db.session.rollback()


def test_the_leader_records_a_run_of_each_job_it_runs(own_app):
    from crm.jobs.periodic import JobSpec
    from crm.jobs.scheduler import Leadership, run_if_leader

    class Lock:
        holder = "test-holder"

        def is_leader(self):
            return True

        def valid_clause(self):
            return sa.true()

    job = JobSpec(id="probe", func=lambda app: "fertig", trigger="interval")
    assert run_if_leader(job, own_app, Leadership(own_app, Lock())) == "fertig"
    with own_app.app_context():
        run = db.session.scalar(sa.select(JobRun).where(JobRun.job_id == "probe"))
        assert (run.status, run.result, run.holder) == ("ok", "fertig", "test-holder")
        db.session.rollback()


def test_the_job_page_lists_every_job_with_its_next_run(client_as, db_session):
    statuses = job_statuses(db_session, JOBS, berlin(2026, 11, 23, 6, 0))
    digest = next(s for s in statuses if s.id == "send-daily-digest")
    assert digest.next_run.astimezone(BERLIN).time() == time(7, 0)
    ids = {s.id for s in statuses}
    assert {"create-series-occurrences", "send-daily-digest", "purge-tokens"} <= ids
    c = client_as("admin")
    page = c.get("/verwaltung/jobs")
    assert page.status_code == 200
    assert b"job-send-daily-digest" in page.data
    assert client_as("staff").get("/verwaltung/jobs").status_code == 403
