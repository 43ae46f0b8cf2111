"""Imports as background jobs: what the web request enqueues and what a worker runs."""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale
from sqlalchemy.orm import Session

from crm.audit.service import Actor, acting_as
from crm.contacts import importer
from crm.contacts.import_models import ImportJob
from crm.jobs import queue
from crm.jobs.models import BackgroundJob

RUN = "contacts.import"
DRY_RUN = "contacts.import-dry-run"
SUBJECT = "import_job"


def enqueue(
    session: Session, job: ImportJob, *, dry_run: bool, actor: Actor, locale: str
) -> BackgroundJob:
    """Queue a dry run or (after `importer.claim_job`) a run of `job`; the caller commits.

    `actor` is written into the audit log and `locale` is the language of the job's messages:
    the worker has no request, hence no logged-in user or language.
    """
    payload = {
        "import_job_id": job.id,
        "locale": locale,
        "actor": {"user_id": actor.user_id, "label": actor.label, "ip": actor.ip},
    }
    return queue.enqueue_job(
        session,
        DRY_RUN if dry_run else RUN,
        payload,
        subject=(SUBJECT, job.id),
        created_by_id=actor.user_id,
        total=job.row_count,
    )


def _context(payload: dict[str, Any]) -> tuple[Any, Any]:
    a = payload.get("actor") or {}
    actor = Actor(a.get("user_id"), a.get("label") or "worker", a.get("ip") or "")
    return force_locale(payload.get("locale") or "de"), acting_as(actor)


def run(ctx: queue.JobContext) -> dict[str, Any]:
    """Worker: run the import (batch by batch, progress committed to the job row)."""
    locale, actor = _context(ctx.payload)
    with locale, actor:
        job = importer.execute_job(
            ctx.session, int(ctx.payload["import_job_id"]), progress=ctx.progress
        )
        return {"status": job.status, "counts": job.counts or {}, "message": job.message}


def dry_run(ctx: queue.JobContext) -> dict[str, Any]:
    """Worker: assess the file and store the report on the import job."""
    session = ctx.session
    job_id = int(ctx.payload["import_job_id"])
    locale, actor = _context(ctx.payload)
    with locale, actor:
        job = session.get(ImportJob, job_id)
        if job is None:
            return {"status": "gone"}
        try:
            importer.dry_run_job(session, job, progress=ctx.progress)
        except (importer.ImportFileError, importer.ImportRefused) as exc:
            session.rollback()
            job = session.get(ImportJob, job_id)
            assert job is not None
            job.message = exc.message
            session.commit()
            return {"status": "refused", "message": exc.message}
        job = session.get(ImportJob, job_id)
        assert job is not None
        job.message = ""
        session.commit()
        return {"status": "done", "counts": job.counts or {}}


def run_failed(session: Session, background: BackgroundJob) -> None:
    """The run's worker died for good (or the handler raised): mark the import failed."""
    job_id = (background.payload or {}).get("import_job_id")
    job = session.get(ImportJob, job_id) if job_id is not None else None
    if job is not None and job.status == "running":
        locale, actor = _context(background.payload or {})
        with locale, actor:
            importer.mark_interrupted(session, job)


def register() -> None:
    """Register the import job kinds with the queue (from `connect_signals`)."""
    queue.register(RUN, run, on_failed=run_failed)
    queue.register(DRY_RUN, dry_run)
