"""Scheduled job runs, background jobs run by workers, and the files they keep."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime, utcnow
from crm.extensions import db

RUN_STATUSES = ("running", "ok", "error")


class JobRun(db.Model):
    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(80))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(10), default="running")
    result: Mapped[str] = mapped_column(sa.String(200), default="")
    error: Mapped[str] = mapped_column(sa.Text, default="")
    holder: Mapped[str] = mapped_column(sa.String(120), default="")

    __table_args__ = (
        sa.CheckConstraint("status IN ('running', 'ok', 'error')", name="status_valid"),
        # "Last run of each job" and the clean-up by age.
        sa.Index("ix_job_run_job_started", "job_id", "started_at"),
        sa.Index("ix_job_run_started", "started_at"),
    )


JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")


class BackgroundJob(db.Model):
    """A long piece of work (an import, later exports and reports) run by a worker process.

    The web request only adds the row; a worker claims it with a lease it renews through
    `heartbeat_at`, commits its progress here as it goes and its result at the end. Any web
    node reads the same row, so progress needs no file on the node that took the upload.
    """

    __tablename__ = "background_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    payload: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # The record the job works on (e.g. "import_job", 17), for its page to find the job.
    subject_type: Mapped[str] = mapped_column(sa.String(40), default="")
    subject_id: Mapped[int | None] = mapped_column()
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    progress_message: Mapped[str] = mapped_column(sa.String(200), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error: Mapped[str] = mapped_column(sa.Text, default="")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    claimed_by: Mapped[str] = mapped_column(sa.String(120), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status_valid"
        ),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The claim: the oldest queued job; the reclaim: running jobs by heartbeat.
        sa.Index("ix_background_job_status_id", "status", "id"),
        sa.Index("ix_background_job_subject", "subject_type", "subject_id"),
        sa.Index("ix_background_job_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )


class JobFile(db.Model):
    """An uploaded file kept for a job (see crm.jobs.files.DatabaseFileStore)."""

    __tablename__ = "job_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    size_bytes: Mapped[int] = mapped_column(default=0)
    # Deferred: listing files never loads their bytes.
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.Index("ix_job_file_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )
