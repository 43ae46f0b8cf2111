"""Events (Termine), series, staff slots, checklists, contacts, leads, calendar tokens."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import User
from crm.audit.mixins import Audited
from crm.contacts.models import Organisation, Person
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db

KINDS = (
    "fair",
    "presentation",
    "coordination",
    "information",
    "workshop",
    "steering",
    "conference",
    "other",
)
# What an event page offers depends on its kind, and is decided here only (the views and
# templates ask `Event.has_fair_sections` / `Event.has_minutes`): booth duty, fair leads and
# the booth checklist category belong to fairs; minutes (Protokoll) to the meetings where
# something is agreed with partners (the 14-day coordination with the job centre, the
# quarterly presentation, the steering committee).
FAIR_KINDS = frozenset({"fair"})
MINUTES_KINDS = frozenset({"coordination", "presentation", "steering", "conference", "other"})
EVENT_STATUSES = ("planned", "cancelled")
CHECKLIST_CATEGORIES = ("materials", "registration", "booth", "other")
# Checklist categories only a fair offers for new items (existing items keep theirs).
FAIR_CHECKLIST_CATEGORIES = frozenset({"booth"})
CONTACT_STATUSES = ("invited", "registered", "attended", "no_show")
REGISTRATION_STATUSES = ("registered", "waitlisted", "cancelled", "attended", "no_show")
# Statuses that hold a seat (capacity counts them).
SEAT_STATUSES = ("registered", "attended", "no_show")
REGISTRATION_LANGUAGES = ("de", "en")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class EventSeries(TimestampMixin, db.Model):
    """A recurring event: an RFC 5545 RRULE expanded in Europe/Berlin wall-clock time.

    `start_local` is the first occurrence's local date and time (floating, no zone): the
    rule is expanded on local time, so a 10:00 presentation stays at 10:00 across daylight
    saving changes. Occurrences are materialised as Event rows up to `materialised_until`.
    """

    __tablename__ = "event_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    rrule: Mapped[str] = mapped_column(sa.String(500))
    start_local: Mapped[datetime] = mapped_column(sa.DateTime(timezone=False))
    duration_minutes: Mapped[int] = mapped_column(default=60)
    all_day: Mapped[bool] = mapped_column(default=False)
    kind: Mapped[str] = mapped_column(sa.String(20), default="other")
    title: Mapped[str] = mapped_column(sa.String(200))
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    organiser_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    responsible_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    materialised_until: Mapped[date | None] = mapped_column(sa.Date, index=True)

    organiser: Mapped[Organisation | None] = relationship()
    responsible: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("kind", KINDS), name="kind_valid"),
        sa.CheckConstraint("duration_minutes >= 0", name="duration_not_negative"),
    )


class Event(TimestampMixin, db.Model):
    """One dated event: a single date, or one occurrence of a series.

    An occurrence keeps `occurrence_key`, the UTC moment its rule generated (RECURRENCE-ID):
    moving or cancelling it sets `is_exception`, and regeneration never touches it again.
    """

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="other")
    title: Mapped[str] = mapped_column(sa.String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(default=False)
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(10), default="planned")
    organiser_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    responsible_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    series_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("event_series.id", ondelete="SET NULL")
    )
    occurrence_key: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_exception: Mapped[bool] = mapped_column(default=False)
    # Public registration (crm.events.registration): off until staff open it.
    registration_open: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Seats; NULL is unlimited.
    registration_capacity: Mapped[int | None] = mapped_column()
    registration_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ask_organisation: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    ask_dietary: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    ask_accessibility: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    organiser: Mapped[Organisation | None] = relationship()
    responsible: Mapped[User | None] = relationship()
    series: Mapped[EventSeries | None] = relationship()
    slots: Mapped[list[StaffSlot]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="StaffSlot.starts_at"
    )
    checklist: Mapped[list[ChecklistItem]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="ChecklistItem.id"
    )

    __table_args__ = (
        sa.CheckConstraint(_in("kind", KINDS), name="kind_valid"),
        sa.CheckConstraint(_in("status", EVENT_STATUSES), name="status_valid"),
        sa.CheckConstraint("ends_at >= starts_at", name="ends_after_start"),
        sa.UniqueConstraint("series_id", "occurrence_key", name="uq_event_series_occurrence"),
        sa.Index("ix_event_starts_at", "starts_at"),
        sa.CheckConstraint(
            "registration_capacity IS NULL OR registration_capacity >= 0",
            name="registration_capacity_not_negative",
        ),
    )

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def has_fair_sections(self) -> bool:
        """Booth duty, leads and the booth checklist category apply (see FAIR_KINDS)."""
        return self.kind in FAIR_KINDS

    @property
    def has_minutes(self) -> bool:
        """The event page keeps minutes for this kind of event (see MINUTES_KINDS)."""
        return self.kind in MINUTES_KINDS

    @property
    def checklist_categories(self) -> tuple[str, ...]:
        """The categories a new checklist item of this event may have."""
        if self.has_fair_sections:
            return CHECKLIST_CATEGORIES
        return tuple(c for c in CHECKLIST_CATEGORIES if c not in FAIR_CHECKLIST_CATEGORIES)


class EventMinutes(Audited, db.Model):
    """The minutes (Protokoll) of an event: what was agreed, who does what by when.

    A row of its own so that every change is in the audit log (the text may name people,
    so the log keeps only that it changed) and the event row stays as it is.
    """

    __tablename__ = "event_minutes"
    __audit_values__ = frozenset({"event_id"})
    __audit_ignore__ = frozenset({"updated_at", "updated_by_id", "version"})

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("event.id", ondelete="CASCADE"), unique=True
    )
    text: Mapped[str] = mapped_column(sa.Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Counts the saves: a save based on an older version would overwrite a colleague's words.
    version: Mapped[int] = mapped_column(default=1)

    updated_by: Mapped[User | None] = relationship()

    # Audit entries carry the id: a new row must never reuse an old one's.
    __table_args__ = ({"sqlite_autoincrement": True},)

    def audit_label(self) -> str:
        return f"Protokoll zu Termin #{self.event_id}"


class StaffSlot(db.Model):
    """A staff member on duty at an event for a time slot (Standdienst)."""

    __tablename__ = "staff_slot"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(sa.String(200), default="")

    event: Mapped[Event] = relationship(back_populates="slots")
    user: Mapped[User] = relationship()

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # "Who is on duty when" (conflicts, digest, feed): per user in time order.
        sa.Index("ix_staff_slot_user_time", "user_id", "starts_at"),
    )


class ChecklistItem(db.Model):
    """One preparation item of an event (materials, registration, booth, other)."""

    __tablename__ = "checklist_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(sa.String(20), default="other")
    label: Mapped[str] = mapped_column(sa.String(200))
    done: Mapped[bool] = mapped_column(default=False)

    event: Mapped[Event] = relationship(back_populates="checklist")

    __table_args__ = (sa.CheckConstraint(_in("category", CHECKLIST_CATEGORIES), "category_valid"),)


class EventContact(Audited, db.Model):
    """A person invited to, registered for, attending or missing an event."""

    __tablename__ = "event_contact"
    __audit_values__ = frozenset({"status", "event_id"})

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(12), default="invited")
    # When the personal invitation mail was queued: one invitation per person and event.
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("event_id", "person_id", name="uq_event_contact"),
        sa.CheckConstraint(_in("status", CONTACT_STATUSES), name="status_valid"),
    )


class Lead(Audited, db.Model):
    """A contact made at an event (fair), with the follow-up created for it."""

    __tablename__ = "lead"
    __audit_values__ = frozenset({"event_id", "followup_id"})

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    followup_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("followup.id", ondelete="SET NULL"), index=True
    )
    captured_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship()
    organisation: Mapped[Organisation | None] = relationship()
    followup = relationship("FollowUp")
    captured_by: Mapped[User | None] = relationship()


class CalendarToken(db.Model):
    """A user's secret iCal feed token, stored as a SHA-256 hash.

    Tokens do not expire (calendar clients poll for years); they are revoked when the user
    regenerates or revokes them, or is deactivated. The clean-up job deletes revoked rows.
    """

    __tablename__ = "calendar_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    user: Mapped[User] = relationship()


class DigestSent(db.Model):
    """The daily digest went to this user on this (Berlin) day: the primary key makes it once."""

    __tablename__ = "digest_sent"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    digest_sent_on: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventRegistration(Audited, TimestampMixin, db.Model):
    """A public registration for an event: a seat, a place on the waiting list, or cancelled.

    Its own record: it is linked to a contacts person only when the e-mail address names
    exactly one, so registrations never create contacts by themselves.
    """

    __tablename__ = "event_registration"
    __audit_values__ = frozenset({"event_id", "status", "person_id", "consent_version"})
    # reminded_at/thanked_at are the mail jobs' bookkeeping, not a change anybody made.
    __audit_ignore__ = frozenset(
        {"created_at", "updated_at", "cancel_token_hash", "reminded_at", "thanked_at"}
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254))
    # The address in lower case: one registration per address and event.
    email_key: Mapped[str] = mapped_column(sa.String(254), index=True)
    organisation: Mapped[str] = mapped_column(sa.String(200), default="")
    dietary: Mapped[str] = mapped_column(sa.String(500), default="")
    accessibility: Mapped[str] = mapped_column(sa.String(500), default="")
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    # Consent to the attendee list being shared with co-organisers, with the wording shown.
    share_consent: Mapped[bool] = mapped_column(default=False)
    consent_text: Mapped[str] = mapped_column(sa.Text, default="")
    consent_version: Mapped[str] = mapped_column(sa.String(20), default="")
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(12), default="registered")
    # The place in the queue: when the seat (or waiting-list place) was asked for.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of the nonce in the personal cancel link; a new link replaces it.
    cancel_token_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    source_ip_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    # When the reminder the day before and the thank-you after the event were queued (once each).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    thanked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship()
    person: Mapped[Person | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("event_id", "email_key", name="uq_event_registration_email"),
        sa.CheckConstraint(_in("status", REGISTRATION_STATUSES), name="status_valid"),
        sa.CheckConstraint(_in("language", REGISTRATION_LANGUAGES), name="language_valid"),
        # The list and the waiting list of an event, in queue order.
        sa.Index("ix_event_registration_event_status", "event_id", "status", "queued_at"),
        {"sqlite_autoincrement": True},
    )

    def audit_label(self) -> str:
        return f"Anmeldung #{self.id}"


class RegistrationAttempt(db.Model):
    """A post of a public registration page, counted per (hashed) address for the limit."""

    __tablename__ = "registration_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip_hash: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (
        sa.Index("ix_registration_attempt_ip_hash_at", "ip_hash", "at"),
        {"sqlite_autoincrement": True},
    )
