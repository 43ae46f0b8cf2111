"""Contact imports: one job per uploaded file, and what each run created or filled in.

The uploaded file is kept in the job file store (`crm.jobs.files`, the database by default)
under the job's `uuid`; its dry run and run are background jobs (`crm.contacts.import_jobs`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import User
from crm.database import TimestampMixin, UTCDateTime
from crm.extensions import db

IMPORT_STATUSES = ("uploaded", "running", "done", "failed", "undone")
DUPLICATE_POLICIES = ("skip", "update_empty", "create")
ITEM_ACTIONS = ("create", "fill")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class ImportJob(TimestampMixin, db.Model):
    """An uploaded CSV/XLSX file, its column mapping and the outcome of its run."""

    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names the stored file; random, so a file name can never be guessed or collide.
    uuid: Mapped[str] = mapped_column(sa.String(32), unique=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    size_bytes: Mapped[int] = mapped_column(default=0)
    file_kind: Mapped[str] = mapped_column(sa.String(10))  # "csv" or "xlsx"
    encoding: Mapped[str] = mapped_column(sa.String(20), default="")
    delimiter: Mapped[str] = mapped_column(sa.String(4), default="")
    sheet: Mapped[str] = mapped_column(sa.String(100), default="")
    row_count: Mapped[int] = mapped_column(default=0)
    # {header: field key or None}, in the order of the file's columns.
    mapping: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    duplicate_policy: Mapped[str] = mapped_column(sa.String(20), default="skip")
    status: Mapped[str] = mapped_column(sa.String(20), default="uploaded", index=True)
    message: Mapped[str] = mapped_column(sa.Text, default="")
    # Counts and the per-row report of the last dry run or run (see importer.ImportReport).
    counts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    report_is_dry_run: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    file_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    undone_by: Mapped[User | None] = relationship(foreign_keys=[undone_by_id])

    __table_args__ = (
        sa.CheckConstraint(_in("status", IMPORT_STATUSES), name="status_valid"),
        sa.CheckConstraint(_in("duplicate_policy", DUPLICATE_POLICIES), name="policy_valid"),
        sa.Index("ix_import_job_created_at", "created_at"),
    )


class ImportItem(db.Model):
    """One record a run created, or one existing record whose empty fields it filled.

    For "fill", `fields` holds {field: value written}, so that undo clears a field only while
    it still holds the imported value.
    """

    __tablename__ = "import_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("import_job.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(sa.String(20))
    entity_id: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(sa.String(10))
    fields: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    __table_args__ = (
        sa.CheckConstraint(_in("action", ITEM_ACTIONS), name="action_valid"),
        sa.Index("ix_import_item_job_entity", "job_id", "entity_type", "action"),
    )
