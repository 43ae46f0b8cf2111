"""The mail outbox: one row per message the app sends that is not a campaign delivery.

Campaign deliveries keep their own table (`newsletter_delivery`, one row per recipient,
built at send time). Every other message (follow-up reminders, digests, double-opt-in
confirmations, test sends and whatever later features send) is built when its cause is
written and stored here as RFC 5322 bytes, in the same transaction as that cause; the
sender delivers it. Both tables share one lifecycle:

    queued → sending (lease: claimed_at, claimed_by) → sent (message_id, sent_at)
                                                    → queued again (deferred, next_attempt_at)
                                                    → failed (the server's answer)
           → cancelled (by an admin, or when the person is erased)
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime, utcnow
from crm.extensions import db

# What caused a message; the admin outbox page filters by it. Later features add kinds here.
MAIL_KINDS = (
    "reminder",  # follow-up reminder to the responsible user
    "digest",  # daily event digest to a user
    "confirmation",  # double-opt-in confirmation to a subscriber
    "test",  # a test send from the newsletter pages
    "notice",  # any other message to a user or contact
    "inquiry",  # acknowledgement of an inquiry to the inquirer
    "registration",  # event registration: confirmation, waiting list, moved up
)
MAIL_STATUSES = ("queued", "sending", "sent", "failed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class OutgoingMail(db.Model):
    """One queued message with its delivery state."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    # The envelope recipient (one per row) and what the admin list shows.
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    # The whole message as sent (headers and body); its Message-ID never changes, so a message
    # sent again after a crash carries the same one and the receiver can drop the duplicate.
    message: Mapped[bytes] = mapped_column(sa.LargeBinary)
    message_id: Mapped[str] = mapped_column(sa.String(255), default="")
    smtputf8: Mapped[bool] = mapped_column(default=False)
    # Whom it is about, so erasure and Art. 15 find it (either may be empty).
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(sa.String(100), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    smtp_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint(_in("status", MAIL_STATUSES), name="status_valid"),
        sa.CheckConstraint(_in("kind", MAIL_KINDS), name="kind_valid"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_time"),
        # The claim: due queued rows in id order.
        sa.Index("ix_mail_outbox_status_next", "status", "next_attempt_at", "id"),
        # Expired leases (only rows being sent are in it).
        sa.Index(
            "ix_mail_outbox_sending_claimed",
            "claimed_at",
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        ),
        # The admin list, newest first, and the purge by age.
        sa.Index("ix_mail_outbox_created", "created_at"),
        {"sqlite_autoincrement": True},
    )
