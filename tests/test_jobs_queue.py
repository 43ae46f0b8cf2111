"""The job queue in the database: claim order, leases, reclaim, bounded attempts, handlers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.audit.service import Actor
from crm.contacts import import_jobs, importer
from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.models import Person
from crm.database import utcnow
from crm.jobs import queue
from crm.jobs.models import BackgroundJob
from crm.jobs.worker import Worker

CSV = (
    "Firma;Vorname;Nachname;E-Mail\n"
    "Acme;Anna;Alt;anna@acme.example\n"
    "Acme;Bert;Bo;bert@acme.example\n"
)


@pytest.fixture
def probe_kind():
    """A job kind whose handler records its calls (and fails when the payload says so)."""
    calls: list[dict] = []
    failed: list[int] = []

    def run(ctx: queue.JobContext):
        calls.append(ctx.payload)
        ctx.progress(1, 2, "halb")
        if ctx.payload.get("fail"):
            raise RuntimeError("kaputt")
        return {"ok": True}

    queue.register("test.probe", run, on_failed=lambda _s, job: failed.append(job.id))
    yield calls, failed
    queue._KINDS.pop("test.probe", None)


def test_jobs_are_claimed_oldest_first_and_the_empty_queue_gives_none(app_ctx, probe_kind):
    s = app_ctx
    first = queue.enqueue_job(s, "test.probe", {"n": 1})
    second = queue.enqueue_job(s, "test.probe", {"n": 2})
    s.commit()
    a = queue.claim(s, "w1", kinds=("test.probe",))
    b = queue.claim(s, "w2", kinds=("test.probe",))
    assert (a.id, b.id) == (first.id, second.id)
    assert queue.claim(s, "w3", kinds=("test.probe",)) is None
    s.expire_all()
    assert (first.status, first.claimed_by, first.attempts) == ("running", "w1", 1)


def test_a_worker_runs_a_job_records_progress_and_result(app, app_ctx, probe_kind):
    s = app_ctx
    calls, _failed = probe_kind
    job = queue.enqueue_job(s, "test.probe", {"n": 1}, subject=("thing", 7), total=2)
    s.commit()
    assert Worker(app, side_connections=False).run(once=True) == 1
    s.expire_all()
    assert calls == [{"n": 1}]
    assert (job.status, job.result, job.progress_message) == ("done", {"ok": True}, "halb")
    assert job.finished_at is not None
    assert queue.latest_for(s, "thing", 7) == job
    assert not queue.is_active(job)


def test_a_failing_handler_fails_its_job_with_the_traceback_and_calls_its_hook(
    app, app_ctx, probe_kind
):
    s = app_ctx
    _calls, failed = probe_kind
    job = queue.enqueue_job(s, "test.probe", {"fail": True})
    s.commit()
    Worker(app, side_connections=False).run(once=True)
    s.expire_all()
    assert job.status == "failed"
    assert "RuntimeError: kaputt" in job.error
    assert failed == [job.id]


def test_a_job_of_an_unknown_kind_is_never_claimed(app, app_ctx):
    s = app_ctx
    job = queue.enqueue_job(s, "test.nobody-handles-this", {})
    s.commit()
    assert Worker(app, side_connections=False).run(once=True) == 0
    s.expire_all()
    assert job.status == "queued"


def test_a_job_whose_lease_ran_out_is_queued_again_and_a_renewed_one_is_not(app_ctx, probe_kind):
    s = app_ctx
    dead = queue.enqueue_job(s, "test.probe", {})
    alive = queue.enqueue_job(s, "test.probe", {})
    s.commit()
    queue.claim(s, "dead-worker", kinds=("test.probe",))
    queue.claim(s, "live-worker", kinds=("test.probe",))
    s.execute(
        sa.update(BackgroundJob)
        .where(BackgroundJob.id == dead.id)
        .values(heartbeat_at=utcnow() - timedelta(seconds=61))
    )
    s.commit()
    assert queue.reclaim_expired(s, utcnow(), timedelta(seconds=60)) == 1
    s.expire_all()
    assert (dead.status, dead.claimed_by) == ("queued", "")
    assert (alive.status, alive.claimed_by) == ("running", "live-worker")
    # The next claim takes it again and counts the attempt.
    again = queue.claim(s, "new-worker", kinds=("test.probe",))
    assert (again.id, again.attempts) == (dead.id, 2)


def test_a_finish_by_a_worker_that_lost_its_job_changes_nothing(app_ctx, probe_kind):
    s = app_ctx
    job = queue.enqueue_job(s, "test.probe", {})
    s.commit()
    queue.claim(s, "old", kinds=("test.probe",))
    s.execute(sa.update(BackgroundJob).values(claimed_by="new"))
    s.commit()
    assert not queue.finish(s, job.id, "old", status="done")
    s.expire_all()
    assert job.status == "running"


def test_an_import_whose_worker_died_for_good_is_failed_and_what_it_wrote_removed(app_ctx):
    s = app_ctx
    job = importer.create_job(s, data=CSV.encode(), filename="x.csv", user_id=None, max_bytes=999)
    s.commit()
    importer.claim_job(s, job)
    import_jobs.enqueue(s, job, dry_run=False, actor=Actor(None, "test"), locale="de")
    s.commit()
    claimed = queue.claim(s, "dying-worker")
    # What a killed attempt leaves: committed records and their items, the job "running".
    importer.run_import(s, job)
    s.execute(
        sa.update(BackgroundJob)
        .where(BackgroundJob.id == claimed.id)
        .values(attempts=3, max_attempts=3, heartbeat_at=utcnow() - timedelta(minutes=5))
    )
    s.commit()
    assert s.scalar(sa.select(sa.func.count(Person.id))) == 2

    queue.reclaim_expired(s, utcnow())
    s.expire_all()
    background = s.get(BackgroundJob, claimed.id)
    assert background.status == "failed"
    assert "attempts" in background.error
    job = s.get(ImportJob, job.id)
    assert job.status == "failed"
    assert "unterbrochen" in job.message
    assert s.scalar(sa.select(sa.func.count(Person.id))) == 0
    assert s.scalar(sa.select(sa.func.count(ImportItem.id))) == 0


def test_finished_jobs_are_purged_after_30_days_but_waiting_ones_never(app_ctx):
    s = app_ctx
    old_done = queue.enqueue_job(s, "test.probe", {})
    old_queued = queue.enqueue_job(s, "test.probe", {})
    young_done = queue.enqueue_job(s, "test.probe", {})
    old_done.status = young_done.status = "done"
    old_done.created_at = old_queued.created_at = utcnow() - timedelta(days=31)
    s.commit()
    assert queue.purge_finished(s, utcnow()) == 1
    s.commit()
    left = set(s.scalars(sa.select(BackgroundJob.id)))
    assert left == {old_queued.id, young_done.id}


def test_the_admin_job_page_lists_background_jobs_with_their_error(client_as, db_session):
    failed = queue.enqueue_job(db_session, "contacts.import", {})
    failed.status, failed.attempts, failed.error = "failed", 3, "Traceback: Platte voll"
    queue.enqueue_job(db_session, "contacts.import-dry-run", {})
    db_session.commit()
    page = client_as("admin").get("/verwaltung/jobs").get_data(as_text=True)
    assert f'id="background-job-{failed.id}"' in page
    assert "fehlgeschlagen" in page
    assert "Traceback: Platte voll" in page
    assert "wartet" in page


@pytest.mark.slow
def test_the_pages_showing_background_jobs_are_valid_html(client_as, db_session):
    from scripts import validate_html as vnu
    from tests.test_contacts_import import BASE, upload_job
    from tests.vnu_helpers import missing_validator

    missing = missing_validator()
    if missing:
        pytest.skip(missing)
    staff = client_as("staff")
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    data = {f"col_{i}": (key or "") for i, key in enumerate(job.mapping.values())}
    assert staff.post(f"{BASE}{job.id}", data={**data, "policy": "skip", "run": "1"}).status_code
    failed = queue.enqueue_job(db_session, "contacts.import", {})
    failed.status, failed.error = "failed", "Traceback <kaputt>"
    db_session.commit()
    pages = {
        "queued import": staff.get(f"{BASE}{job.id}").get_data(as_text=True),
        "progress partial": vnu.as_document(
            staff.get(f"{BASE}{job.id}/status").get_data(as_text=True)
        ),
        "admin jobs": client_as("admin").get("/verwaltung/jobs").get_data(as_text=True),
    }
    assert "Wartet darauf" in pages["queued import"]
    messages = vnu.validate(pages)
    assert [m for m in messages if m.kind == "error"] == []
