"""The retention review: participants due for erasure, waiting for an admin's decision."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import User
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db
from crm.participants.models import Participant

REVIEW_STATUSES = ("pending", "approved", "postponed", "done")


class RetentionReview(TimestampMixin, db.Model):
    """One participant marked due for erasure (retention period after exit has passed).

    The nightly job marks (pending) and erases what an admin approved; nothing is erased
    without that review. Holds ids and dates only, never names.
    """

    __tablename__ = "retention_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), unique=True
    )
    due_on: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Postponed reviews come back on this date.
    postponed_until: Mapped[date | None] = mapped_column(sa.Date)

    participant: Mapped[Participant] = relationship()
    decided_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'postponed', 'done')", name="status_valid"
        ),
        sa.Index("ix_retention_review_status_due", "status", "due_on"),
    )


class RetentionSetting(db.Model):
    """An admin's value for one retention rule (crm.privacy.retention); absent = default."""

    __tablename__ = "retention_setting"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (sa.CheckConstraint("value > 0", name="value_positive"),)


LEGAL_BASES = ("request", "consent_withdrawn", "objection", "unlawful", "retention")


class ErasureRecord(db.Model):
    """The log of one erasure (Art. 17): who, when, why and which rows, never the values.

    Kept after the erasure: restoring a backup must re-apply every erasure logged after it,
    and `row_ids` ({table: [ids]}) says which rows that is without naming the person.
    """

    __tablename__ = "erasure_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[int] = mapped_column()
    requested_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    legal_basis: Mapped[str] = mapped_column(sa.String(20))
    # Category keys of what was erased (see crm.privacy.erasure.CATEGORY_LABELS).
    categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    row_ids: Mapped[dict[str, list[int]]] = mapped_column(sa.JSON, default=dict)
    # The linked notes the admin confirmed, as "table:id:column" (re-applied the same way).
    mention_keys: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    files_removed: Mapped[int] = mapped_column(default=0)
    mentions_changed: Mapped[int] = mapped_column(default=0)

    requested_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "legal_basis IN ('request', 'consent_withdrawn', 'objection', 'unlawful', 'retention')",
            name="legal_basis_valid",
        ),
        sa.Index("ix_erasure_record_subject", "subject_type", "subject_id"),
    )


class RetentionKeep(db.Model):
    """An admin's decision to keep a record a review rule lists (until `keep_until`).

    Ids and dates only: which record, until when, who decided.
    """

    __tablename__ = "retention_keep"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[int] = mapped_column()
    keep_until: Mapped[date] = mapped_column(sa.Date)
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("subject_type", "subject_id", name="uq_retention_keep_subject"),
        sa.CheckConstraint("subject_type IN ('person', 'participant')", name="subject_type_valid"),
    )
