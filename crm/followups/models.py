"""The follow-up (Wiedervorlage): something a staff member must do by a date."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import User
from crm.audit.mixins import Audited
from crm.contacts.models import Organisation, Person
from crm.database import TimestampMixin, UTCDateTime
from crm.extensions import db

PRIORITIES = ("low", "normal", "high")
STATUSES = ("open", "done", "cancelled")
REPEAT_UNITS = ("days", "weeks", "months")
# Follow-ups a participant's case dates keep (one open one per participant and kind); ""
# for every follow-up somebody created by hand.
CASE_KINDS = ("next_contact", "transfer")

# The reminder tick asks "open, not yet reminded, due by now": a partial index holds exactly
# those rows, so the tick stays an index range scan however many follow-ups are done.
_REMINDER_PENDING = "status = 'open' AND reminded_at IS NULL"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class FollowUp(Audited, TimestampMixin, db.Model):
    """A follow-up for one assignee, due on a date (optionally at a time), linked to a contact.

    `due_at` is the moment the follow-up becomes due and its reminder is sent. A follow-up
    without a time (`has_time` false) is due on its date at 08:00 Europe/Berlin, which is
    stored in `due_at`, so one indexed column answers every "what is due" question.
    """

    __tablename__ = "followup"
    __audit_values__ = frozenset(
        {
            "status",
            "priority",
            "due_at",
            "has_time",
            "assignee_id",
            "snoozed_until",
            "done_at",
            "done_by_id",
            "person_id",
            "organisation_id",
            "event_id",
            "participant_id",
            "repeat_every",
            "repeat_unit",
            "case_kind",
        }
    )
    # reminded_at is bookkeeping of the scheduler, not a change anybody made.
    __audit_ignore__ = frozenset({"created_at", "updated_at", "reminded_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    has_time: Mapped[bool] = mapped_column(default=False)
    assignee_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(sa.Text, default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who marked it done (the history names them); NULL for older ones and deleted users.
    done_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # NULL until the reminder e-mail went out; set in the transaction that claims the row.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    # Created from an event (e.g. a lead at a fair), or picked in the form.
    event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("event.id", ondelete="SET NULL"), index=True
    )
    participant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="SET NULL"), index=True
    )
    # Set when a participant's "next contact" or "planned transfer" date keeps this follow-up.
    case_kind: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    # Optional recurrence: when done, the next one is created `repeat_every` units later.
    repeat_every: Mapped[int | None] = mapped_column()
    repeat_unit: Mapped[str | None] = mapped_column(sa.String(10))

    assignee: Mapped[User] = relationship(foreign_keys=[assignee_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])
    person: Mapped[Person | None] = relationship()
    organisation: Mapped[Organisation | None] = relationship()
    event = relationship("Event")
    participant = relationship("Participant")

    __table_args__ = (
        sa.CheckConstraint(_in("priority", PRIORITIES), name="priority_valid"),
        sa.CheckConstraint(_in("status", STATUSES), name="status_valid"),
        sa.CheckConstraint("(status = 'done') = (done_at IS NOT NULL)", name="done_at_iff_done"),
        sa.CheckConstraint(
            "(repeat_every IS NULL AND repeat_unit IS NULL) OR (repeat_every > 0 AND "
            + _in("repeat_unit", REPEAT_UNITS)
            + ")",
            name="repeat_valid",
        ),
        sa.CheckConstraint(
            "case_kind = '' OR " + _in("case_kind", CASE_KINDS),
            name="case_kind_valid",
        ),
        # One open follow-up per participant and case date.
        sa.Index(
            "uq_followup_open_case",
            "participant_id",
            "case_kind",
            unique=True,
            sqlite_where=sa.text("status = 'open' AND case_kind != ''"),
            postgresql_where=sa.text("status = 'open' AND case_kind != ''"),
        ),
        # "My follow-ups": open ones of one assignee in due order, then id (SQLite's rowid ends
        # every index: a page of a group stops after its rows even when hundreds share a due
        # date; a has_time column before it made SQLite sort them all). The group counts are
        # ranges of it.
        sa.Index("ix_followup_assignee_status_due", "assignee_id", "status", "due_at"),
        sa.Index(
            "ix_followup_reminder_pending",
            "due_at",
            sqlite_where=sa.text(_REMINDER_PENDING),
            postgresql_where=sa.text(_REMINDER_PENDING),
        ),
    )

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def audit_label(self) -> str:
        return f"Wiedervorlage #{self.id}"
