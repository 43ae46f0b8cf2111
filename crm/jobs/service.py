"""Recording job runs (start, end, result, error) and reading them for the admin page."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from crm.database import rows_affected, utcnow
from crm.jobs.models import JobRun

log = logging.getLogger(__name__)
KEEP_DAYS = 30


def _engine(app: Flask) -> sa.Engine:
    from crm.extensions import db

    with app.app_context():
        return db.engine


class NotStarted(Exception):  # noqa: N818 - a decision, not a fault
    """The condition of a guarded job run did not hold at its start: the job did not run."""


def recorded(
    app: Flask,
    job_id: str,
    func: Callable[[], Any],
    holder: str = "",
    only_if: sa.ColumnElement[bool] | None = None,
) -> Any:
    """Run `func`, writing a job_run row before and after (own connection, own commits).

    A failing job is recorded with its traceback and the exception re-raised (APScheduler
    logs it). Without `only_if`, bookkeeping failures are logged and never stop the job.

    With `only_if` (the scheduler's lease check) the start row is written by one
    `INSERT … SELECT … WHERE only_if`: the check and the record of the start are one
    statement, so no run can be recorded as started by a process that had lost the lease by
    then. If the row is not written, `NotStarted` is raised and `func` does not run.
    """
    table = JobRun.__table__
    engine = _engine(app)
    run_id = None
    values = {"job_id": job_id, "started_at": utcnow(), "status": "running", "holder": holder[:120]}
    try:
        with engine.begin() as conn:
            if only_if is None:
                insert = table.insert().values(**values)
            else:
                columns = [table.c[name] for name in values]
                row = sa.select(
                    *(sa.literal(values[c.name], c.type).label(c.name) for c in columns)
                ).where(only_if)
                insert = table.insert().from_select([c.name for c in columns], row)
            run_id = conn.execute(insert.returning(table.c.id)).scalar_one_or_none()
    except sa.exc.SQLAlchemyError:
        log.exception("could not record the start of job %s", job_id)
    if only_if is not None and run_id is None:
        raise NotStarted(job_id)

    def finish(**values: Any) -> None:
        if run_id is None:
            return
        try:
            with engine.begin() as conn:
                conn.execute(
                    table.update()
                    .where(table.c.id == run_id)
                    .values(finished_at=utcnow(), **values)
                )
        except sa.exc.SQLAlchemyError:
            log.exception("could not record the end of job %s", job_id)

    try:
        result = func()
    except Exception as exc:
        finish(status="error", error="".join(traceback.format_exception(exc))[-4000:])
        raise
    finish(status="ok", result=str(result)[:200])
    return result


@dataclass
class JobStatus:
    id: str
    description: str
    schedule: str
    last: JobRun | None
    last_error: JobRun | None
    next_run: datetime | None


def next_fire(trigger: str, trigger_args: dict[str, Any], now: datetime) -> datetime | None:
    """When a job's trigger fires next (Europe/Berlin), as APScheduler computes it."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if trigger == "cron":
        trig: Any = CronTrigger(timezone="Europe/Berlin", **trigger_args)
    else:
        args = {k: v for k, v in trigger_args.items() if k != "start_date"}
        start = now.replace(second=0, microsecond=0)
        trig = IntervalTrigger(timezone="Europe/Berlin", start_date=start, **args)
    return trig.get_next_fire_time(None, now)


def job_statuses(session: Session, jobs: Any, now: datetime) -> list[JobStatus]:
    """Every job of the list with its last run, last error and next run."""
    out = []
    for job in jobs:
        last = session.scalar(
            sa.select(JobRun)
            .where(JobRun.job_id == job.id)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .limit(1)
        )
        last_error = session.scalar(
            sa.select(JobRun)
            .where(JobRun.job_id == job.id, JobRun.status == "error")
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .limit(1)
        )
        schedule = (
            "minütlich"
            if job.every_tick
            else ", ".join(f"{k}={v}" for k, v in job.trigger_args.items())
        )
        out.append(
            JobStatus(
                id=job.id,
                description=job.description,
                schedule=schedule,
                last=last,
                last_error=last_error,
                next_run=next_fire(job.trigger, job.trigger_args, now),
            )
        )
    return out


def purge_runs(session: Session, now: datetime, keep_days: int = KEEP_DAYS) -> int:
    """Delete job runs older than `keep_days`."""
    result = session.execute(
        sa.delete(JobRun).where(JobRun.started_at < now - timedelta(days=keep_days))
    )
    return rows_affected(result)
