"""The job queue in the database: enqueue, claim with a lease, heartbeat, reclaim, finish.

Several workers share the queue: on PostgreSQL the claim takes the oldest queued row with
`FOR UPDATE SKIP LOCKED`, so two workers never take the same job; on SQLite every writing
transaction starts with `BEGIN IMMEDIATE` (crm.database), so the short claim transaction is
already exclusive. A worker renews its lease through `heartbeat_at`; a running job whose
heartbeat is older than the lease (its worker died) goes back to the queue, until it has
been tried `max_attempts` times and is failed.

Domains register a handler per job kind (`register`) in their own `connect_signals()`;
this package never imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.database import reset_write_intent, set_write_intent, utcnow, write_intent
from crm.jobs.models import ACTIVE_STATUSES, BackgroundJob

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
KEEP_DAYS = 30


@dataclass
class JobContext:
    """What a handler gets: the session (no transaction open), the job's id and payload,
    and `progress(done, total, message)`, which commits the progress to the job row."""

    session: Session
    job_id: int
    payload: dict[str, Any]
    progress: Callable[..., None]


Handler = Callable[[JobContext], dict[str, Any] | None]
FailureHook = Callable[[Session, BackgroundJob], None]


@dataclass
class _Kind:
    run: Handler
    on_failed: FailureHook | None = None


_KINDS: dict[str, _Kind] = {}


@dataclass
class Claimed:
    """A job this worker holds, with the values it was claimed with."""

    id: int
    kind: str
    attempts: int
    extra: dict[str, Any] = field(default_factory=dict)


def register(kind: str, run: Handler, *, on_failed: FailureHook | None = None) -> None:
    """Run jobs of `kind` with `run`; `on_failed` cleans up when a job fails for good.

    Registering the same kind again replaces the handler (create_app may run twice).
    """
    _KINDS[kind] = _Kind(run, on_failed)


def handler_for(kind: str) -> _Kind | None:
    """The registered handler of a kind, if any."""
    return _KINDS.get(kind)


def enqueue_job(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    subject: tuple[str, int] | None = None,
    created_by_id: int | None = None,
    total: int = 0,
    max_attempts: int = 3,
) -> BackgroundJob:
    """Add a queued job (flushed, not committed: the caller commits with its own change)."""
    job = BackgroundJob(
        kind=kind,
        status="queued",
        payload=payload or {},
        subject_type=subject[0] if subject else "",
        subject_id=subject[1] if subject else None,
        progress_total=total,
        created_by_id=created_by_id,
        max_attempts=max_attempts,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def latest_for(session: Session, subject_type: str, subject_id: int) -> BackgroundJob | None:
    """The newest job working on a record (for its page to show progress)."""
    return session.scalar(
        sa.select(BackgroundJob)
        .where(BackgroundJob.subject_type == subject_type, BackgroundJob.subject_id == subject_id)
        .order_by(BackgroundJob.id.desc())
        .limit(1)
    )


def is_active(job: BackgroundJob | None) -> bool:
    """True while a job waits for or runs in a worker."""
    return job is not None and job.status in ACTIVE_STATUSES


def has_work(session: Session, now: datetime, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Whether a job waits or lost its worker, read without taking SQLite's write lock.

    An idle worker polls every second; only when this says yes does it open the (writing)
    claim transaction.
    """
    token = set_write_intent(False)
    try:
        found = session.scalar(
            sa.select(BackgroundJob.id)
            .where(
                sa.or_(
                    BackgroundJob.status == "queued",
                    sa.and_(
                        BackgroundJob.status == "running",
                        BackgroundJob.heartbeat_at < now - lease,
                    ),
                )
            )
            .limit(1)
        )
    finally:
        session.rollback()
        reset_write_intent(token)
    return found is not None


def reclaim_expired(session: Session, now: datetime, lease: timedelta = DEFAULT_LEASE) -> int:
    """Put running jobs whose worker stopped renewing the lease back in the queue (or fail them).

    Commits. Jobs out of attempts are failed and their kind's `on_failed` hook runs.
    """
    expired = list(
        session.scalars(
            sa.select(BackgroundJob)
            .where(BackgroundJob.status == "running", BackgroundJob.heartbeat_at < now - lease)
            .order_by(BackgroundJob.id)
            .with_for_update(skip_locked=True)
        )
    )
    for job in expired:
        log.warning("job %s (%s) lost its worker %s", job.id, job.kind, job.claimed_by)
        if job.attempts >= job.max_attempts:
            job.status = "failed"
            job.finished_at = now
            job.error = f"worker {job.claimed_by} stopped; attempts used up"[:4000]
            kind = handler_for(job.kind)
            if kind is not None and kind.on_failed is not None:
                kind.on_failed(session, job)
        else:
            job.status = "queued"
        job.claimed_by = ""
    session.commit()
    return len(expired)


def claim(session: Session, worker: str, *, kinds: tuple[str, ...] | None = None) -> Claimed | None:
    """Take the oldest queued job for `worker` (committed), or None if the queue is empty."""
    stmt = (
        sa.select(BackgroundJob)
        .where(BackgroundJob.status == "queued")
        .order_by(BackgroundJob.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    known = kinds if kinds is not None else tuple(_KINDS)
    stmt = stmt.where(BackgroundJob.kind.in_(known))
    job = session.scalar(stmt)
    if job is None:
        session.rollback()
        return None
    now = utcnow()
    job.status = "running"
    job.claimed_by = worker[:120]
    job.claimed_at = job.heartbeat_at = now
    job.started_at = job.started_at or now
    job.attempts += 1
    job.error = ""
    claimed = Claimed(job.id, job.kind, job.attempts)
    session.commit()
    return claimed


def _update_own(engine: sa.Engine, job_id: int, worker: str, **values: Any) -> bool:
    """Update the job row on a connection of its own (committed at once), if still ours."""
    table = BackgroundJob.__table__
    with write_intent(), engine.begin() as conn:
        result = conn.execute(
            table.update()
            .where(table.c.id == job_id, table.c.claimed_by == worker, table.c.status == "running")
            .values(heartbeat_at=utcnow(), **values)
        )
    return bool(result.rowcount)


def heartbeat(engine: sa.Engine, job_id: int, worker: str) -> bool:
    """Renew the lease; False if the job is no longer this worker's."""
    return _update_own(engine, job_id, worker)


def report_progress(
    engine: sa.Engine, job_id: int, worker: str, done: int, total: int, message: str = ""
) -> bool:
    """Commit the job's progress (and renew the lease) on a connection of its own.

    Call it outside a writing transaction: on SQLite it needs the write lock.
    """
    return _update_own(
        engine,
        job_id,
        worker,
        progress_done=max(done, 0),
        progress_total=max(total, 0),
        progress_message=message[:200],
    )


def report_progress_in(
    session: Session, job_id: int, worker: str, done: int, total: int, message: str = ""
) -> None:
    """Write the job's progress in the session's transaction (committed with the caller's)."""
    session.execute(
        sa.update(BackgroundJob)
        .where(BackgroundJob.id == job_id, BackgroundJob.claimed_by == worker)
        .values(
            heartbeat_at=utcnow(),
            progress_done=max(done, 0),
            progress_total=max(total, 0),
            progress_message=message[:200],
        )
        .execution_options(synchronize_session=False)
    )


def finish(
    session: Session,
    job_id: int,
    worker: str,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    error: str = "",
) -> bool:
    """Record a job's end (committed), unless another worker took it over meanwhile."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error[-4000:]}
    if result is not None:
        values["result"] = result
    if status == "done":
        values["progress_done"] = BackgroundJob.progress_total
    done = session.execute(
        sa.update(BackgroundJob)
        .where(
            BackgroundJob.id == job_id,
            BackgroundJob.claimed_by == worker,
            BackgroundJob.status == "running",
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return bool(done)


def release(session: Session, job_id: int, worker: str) -> None:
    """Give a claimed job back to the queue (a worker stopping before it started the work)."""
    session.execute(
        sa.update(BackgroundJob)
        .where(BackgroundJob.id == job_id, BackgroundJob.claimed_by == worker)
        .values(status="queued", claimed_by="", attempts=BackgroundJob.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def purge_finished(session: Session, now: datetime, keep_days: int = KEEP_DAYS) -> int:
    """Delete finished jobs older than `keep_days` (not committed)."""
    result = session.execute(
        sa.delete(BackgroundJob).where(
            BackgroundJob.status.not_in(ACTIVE_STATUSES),
            BackgroundJob.created_at < now - timedelta(days=keep_days),
        )
    )
    return result.rowcount or 0
