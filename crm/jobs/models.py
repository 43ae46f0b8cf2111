"""One row per run of a scheduled job (written by the leading scheduler)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime
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
