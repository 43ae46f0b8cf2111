"""Inquiries (Anfragen) from the public form or the hotline, their assignment rules and the
per-address attempt counter of the public form.

An inquiry is its own record: nothing is written to people or organisations until a counsellor
converts it, so spam and unconfirmed inquiries never enter the contacts. A converted inquiry
names the participant or contact person it became (crm.intake.conversion).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import Office, User
from crm.audit.mixins import Audited
from crm.contacts.models import Person
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db
from crm.participants.models import Participant

KINDS = ("person", "firm")
TOPICS = ("recognition", "qualification", "job", "relocation", "further_education", "other")
CHANNELS = ("web", "hotline", "email", "other")
CONTACT_WAYS = ("email", "phone", "either")
# The language the inquirer wants to be answered in.
LANGUAGES = ("de", "en", "other")
# The text set the inquirer used: German, English or simple German (Leichte Sprache); the
# acknowledgement mail follows it.
FORM_LANGUAGES = ("de", "en", "simple")
STATUSES = ("new", "assigned", "in_contact", "converted", "closed")
OPEN_STATUSES = ("new", "assigned", "in_contact")
CLOSE_REASONS = ("no_reply", "not_eligible", "referred", "duplicate", "spam", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Inquiry(Audited, TimestampMixin, db.Model):
    """One inquiry with exactly one responsible user once assigned."""

    __tablename__ = "inquiry"
    # escalated_at is bookkeeping of the scheduler, not a change anybody made.
    __audit_ignore__ = frozenset({"created_at", "updated_at", "escalated_at"})
    __audit_values__ = frozenset(
        {
            "kind",
            "topic",
            "office_id",
            "channel",
            "status",
            "close_reason",
            "assigned_to_id",
            "first_response_due_at",
            "first_contact_at",
            "closed_at",
            "consent_version",
            "participant_id",
            "person_id",
            "converted_at",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    topic: Mapped[str] = mapped_column(sa.String(20), index=True)
    office_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("office.id", ondelete="SET NULL"), index=True
    )
    preferred_language: Mapped[str] = mapped_column(sa.String(10), default="de")
    contact_way: Mapped[str] = mapped_column(sa.String(10), default="email")
    form_language: Mapped[str] = mapped_column(sa.String(10), default="de")
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(50), default="")
    organisation_name: Mapped[str] = mapped_column(sa.String(200), default="")
    message: Mapped[str] = mapped_column(sa.Text, default="")
    channel: Mapped[str] = mapped_column(sa.String(10), index=True)
    # The consent wording exactly as shown, its version and when it was given.
    consent_text: Mapped[str] = mapped_column(sa.Text, default="")
    consent_version: Mapped[str] = mapped_column(sa.String(20), default="")
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(12), default="new", index=True)
    close_reason: Mapped[str] = mapped_column(sa.String(20), default="")
    close_note: Mapped[str] = mapped_column(sa.Text, default="")
    assigned_to_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the lead was mailed about the missed first-response deadline (once).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The staff member who took a hotline call; NULL for the public form.
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # A keyed hash of the sender's address, never the address itself (public form only).
    source_ip_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    # What a converted inquiry became (or was linked to as a duplicate). SET NULL: erasing or
    # deleting the record never fails on the inquiry.
    participant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="SET NULL"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    office: Mapped[Office | None] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    participant: Mapped[Participant | None] = relationship()
    person: Mapped[Person | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("kind", KINDS), name="kind_valid"),
        sa.CheckConstraint(_in("topic", TOPICS), name="topic_valid"),
        sa.CheckConstraint(_in("channel", CHANNELS), name="channel_valid"),
        sa.CheckConstraint(_in("contact_way", CONTACT_WAYS), name="contact_way_valid"),
        sa.CheckConstraint(_in("preferred_language", LANGUAGES), name="language_valid"),
        sa.CheckConstraint(_in("form_language", FORM_LANGUAGES), name="form_language_valid"),
        sa.CheckConstraint(_in("status", STATUSES), name="status_valid"),
        sa.CheckConstraint(
            "close_reason = '' OR " + _in("close_reason", CLOSE_REASONS), name="close_reason_valid"
        ),
        sa.CheckConstraint("status <> 'closed' OR close_reason <> ''", name="closed_has_reason"),
        sa.CheckConstraint(
            "status <> 'converted' OR converted_at IS NOT NULL", name="converted_has_time"
        ),
        # The queue, newest first.
        sa.Index("ix_inquiry_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    def audit_label(self) -> str:
        return f"Anfrage #{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


intake_rule_user = sa.Table(
    "intake_rule_user",
    db.metadata,
    sa.Column("rule_id", sa.ForeignKey("intake_rule.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "user_id",
        sa.ForeignKey("user_account.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class IntakeRule(Audited, TimestampMixin, db.Model):
    """Who is eligible for an office's inquiries on a topic (empty topic: every topic), taken
    in turn (round robin: `last_user_id` is who got the previous one)."""

    __tablename__ = "intake_rule"
    __audit_values__ = frozenset({"office_id", "topic", "last_user_id"})

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(sa.String(20), default="")
    last_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    office: Mapped[Office] = relationship()
    users: Mapped[list[User]] = relationship(secondary=intake_rule_user, order_by=User.id)

    __table_args__ = (
        sa.UniqueConstraint("office_id", "topic", name="uq_intake_rule_office_topic"),
        sa.CheckConstraint("topic = '' OR " + _in("topic", TOPICS), name="topic_valid"),
        {"sqlite_autoincrement": True},
    )

    def audit_label(self) -> str:
        return f"Anfrageregel #{self.id}"


class IntakeAttempt(db.Model):
    """A post of the public form, counted per (hashed) address for the limit; in the database
    so that every web node counts the same."""

    __tablename__ = "intake_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip_hash: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (
        sa.Index("ix_intake_attempt_ip_hash_at", "ip_hash", "at"),
        {"sqlite_autoincrement": True},
    )


class IntakeConsentText(Audited, db.Model):
    """One version of the public form's privacy notice and consent sentence, in German,
    English and simple German. Never changed once stored: a new wording is a new version,
    so every inquiry's `consent_version` resolves to the exact words its sender saw.

    Plain text, shown escaped; never rendered as a template.
    """

    __tablename__ = "intake_consent_text"
    __audit_values__ = frozenset({"version"})

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(20), unique=True)
    privacy_de: Mapped[str] = mapped_column(sa.Text)
    consent_de: Mapped[str] = mapped_column(sa.Text)
    privacy_en: Mapped[str] = mapped_column(sa.Text)
    consent_en: Mapped[str] = mapped_column(sa.Text)
    privacy_simple: Mapped[str] = mapped_column(sa.Text)
    consent_simple: Mapped[str] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    created_by: Mapped[User | None] = relationship()

    __table_args__ = ({"sqlite_autoincrement": True},)

    def audit_label(self) -> str:
        return f"Einwilligungstext {self.version}"
