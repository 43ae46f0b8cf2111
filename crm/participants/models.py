"""Participants (Teilnehmende), counselling sessions, referrals, releases, support checklist.

A participant is a counselled person with their own name and contact fields, deliberately not
a contacts `Person`: staff and read-only users see contacts but must never see participants,
and participants are not newsletter recipients. Derived columns (`total_minutes`,
`first_session_on`, `entry_on`) are kept by `crm.participants.service.recompute_participant`.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import Office, User
from crm.audit.mixins import Audited
from crm.collation import SortName, sort_name_column
from crm.contacts.models import Organisation
from crm.database import TimestampMixin, UTCDateTime
from crm.extensions import db

RECOGNITION_STATUSES = ("not_started", "in_progress", "partial", "full", "refused")
LANGUAGE_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
GENDERS = ("female", "male", "diverse")
ACQUISITION_CHANNELS = (
    "recognition_office",
    "association_presentation",
    "job_fair",
    "jobcentre_agency",
    "language_course_provider",
    "branch_outreach",
    "website_hotline",
    "other",
)
EXIT_OUTCOMES = (
    "employment",
    "qualification",
    "recognition",
    "moved_away",
    "dropped_out",
    "other",
)
CONTACT_KINDS = ("call", "email", "meeting", "letter", "other")
REFERRAL_DIRECTIONS = ("to", "from")
REFERRAL_STATUSES = ("sent", "accepted", "declined", "completed")
SUPPORT_STATUSES = ("open", "in_progress", "done", "not_needed")
# The support items every new database starts with (key, German name); admins add more.
DEFAULT_SUPPORT_ITEM_TYPES = (
    ("housing", "Wohnung"),
    ("registration_office", "Meldebehörde / Anmeldung"),
    ("residence_permit", "Aufenthaltstitel"),
    ("recognition", "Anerkennung"),
    ("language_course", "Sprachkurs"),
    ("childcare", "Kinderbetreuung"),
    ("school", "Schule"),
    ("health_insurance", "Krankenversicherung"),
    ("bank_account", "Bankkonto"),
    ("clubs_culture", "Vereine und Kultur"),
)


def _in(column: str, values: tuple[str, ...], *, empty: bool = False) -> str:
    allowed = ", ".join(f"'{v}'" for v in values) + (", ''" if empty else "")
    return f"{column} IN ({allowed})"


def new_pseudonym() -> str:
    """A random, meaningless participant key for pseudonymised exports (e.g. TN-3f9a2c1b7e)."""
    return "TN-" + secrets.token_hex(5)


class Participant(SortName, Audited, TimestampMixin, db.Model):
    """A person in counselling, in exactly one branch office with exactly one counsellor."""

    __tablename__ = "participant"
    __sort_name_from__ = ("last_name", "first_name")
    __audit_values__ = frozenset(
        {
            "office_id",
            "counsellor_id",
            "acquisition_channel",
            "referring_organisation_id",
            "recognition_status",
            "language_level",
            "exit_outcome",
            "next_contact_on",
            "transfer_on",
        }
    )
    __audit_ignore__ = frozenset(
        {"created_at", "updated_at", "name_key", "sort_name", "total_minutes", "first_session_on"}
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(16), unique=True, default=new_pseudonym)
    # Personal data (erased/anonymised under DSGVO Art. 17).
    first_name: Mapped[str] = mapped_column(sa.String(100), default="")
    last_name: Mapped[str] = mapped_column(sa.String(100))
    # fold("first last"), then "|" and its plain-vowel form if that differs ("joerg
    # schaefer|jorg schafer", service.name_key_of): what the name search matches; kept by
    # the service. Searched by substring, through the trigram index of crm.substring (made
    # by the migrations): a B-tree index could not answer that, and on PostgreSQL it drew
    # the planner into reading all of it instead.
    name_key: Mapped[str] = mapped_column(sa.String(210), default="")
    # "last first" in German dictionary order (crm.collation): what the list sorts by.
    sort_name: Mapped[str] = sort_name_column("last_name", "first_name", length=210)
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(60), default="")
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    birth_year: Mapped[int | None] = mapped_column()
    gender: Mapped[str] = mapped_column(sa.String(10), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    # Background
    country_of_origin: Mapped[str] = mapped_column(sa.String(80), default="", index=True)
    profession: Mapped[str] = mapped_column(sa.String(200), default="")
    profession_learned_in: Mapped[str] = mapped_column(sa.String(200), default="")
    recognition_status: Mapped[str] = mapped_column(sa.String(20), default="not_started")
    recognising_body: Mapped[str] = mapped_column(sa.String(200), default="")
    language_level: Mapped[str] = mapped_column(sa.String(2), default="")
    target_field: Mapped[str] = mapped_column(sa.String(200), default="")
    # Case handling
    # Indexed through ix_participant_office_entry (office_id first).
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id"))
    # Indexed through ix_participant_counsellor_sort and ix_participant_counsellor_open.
    counsellor_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    acquisition_channel: Mapped[str] = mapped_column(sa.String(30), default="other", index=True)
    referring_organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    first_contact_on: Mapped[date] = mapped_column(sa.Date, index=True)
    # Derived from the sessions (recompute_participant): sum, first session, entry date.
    total_minutes: Mapped[int] = mapped_column(default=0)
    first_session_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    entry_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    exit_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    exit_outcome: Mapped[str] = mapped_column(sa.String(20), default="", index=True)
    exit_note: Mapped[str] = mapped_column(sa.Text, default="")
    # The placement an exit into work or qualification led to (crm.placements). use_alter:
    # placement points back at participant, and the cycle is broken by adding this FK last.
    exit_placement_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey(
            "placement.id",
            ondelete="SET NULL",
            use_alter=True,
            name="fk_participant_exit_placement_id_placement",
        ),
        index=True,
    )
    # Case planning: each date has one open follow-up for the counsellor (FollowUp.case_kind),
    # kept by crm.participants.service.plan_case_dates.
    next_contact_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    # Planned transfer (e.g. the end of the integration course) and what ends then.
    transfer_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    transfer_note: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    # Retention (DSGVO): the date from which the record is due for erasure, and when it was.
    erase_after: Mapped[date | None] = mapped_column(sa.Date, index=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    office: Mapped[Office] = relationship()
    counsellor: Mapped[User] = relationship()
    referring_organisation: Mapped[Organisation | None] = relationship()
    sessions: Mapped[list[CounsellingSession]] = relationship(
        back_populates="participant",
        cascade="all, delete-orphan",
        order_by="(CounsellingSession.held_on, CounsellingSession.id)",
    )
    referrals: Mapped[list[Referral]] = relationship(
        back_populates="participant",
        cascade="all, delete-orphan",
        order_by="(Referral.referred_on.desc(), Referral.id.desc())",
    )
    consent_releases: Mapped[list[ConsentRelease]] = relationship(
        back_populates="participant",
        cascade="all, delete-orphan",
        order_by="(ConsentRelease.granted_on.desc(), ConsentRelease.id.desc())",
    )
    support_items: Mapped[list[SupportItem]] = relationship(
        back_populates="participant", cascade="all, delete-orphan"
    )
    contacts: Mapped[list[ParticipantContact]] = relationship(
        back_populates="participant",
        cascade="all, delete-orphan",
        order_by="(ParticipantContact.happened_at.desc(), ParticipantContact.id.desc())",
    )

    __table_args__ = (
        sa.CheckConstraint(
            _in("recognition_status", RECOGNITION_STATUSES), name="recognition_valid"
        ),
        sa.CheckConstraint(_in("language_level", LANGUAGE_LEVELS, empty=True), name="level_valid"),
        sa.CheckConstraint(_in("gender", GENDERS, empty=True), name="gender_valid"),
        sa.CheckConstraint(_in("acquisition_channel", ACQUISITION_CHANNELS), name="channel_valid"),
        sa.CheckConstraint(_in("exit_outcome", EXIT_OUTCOMES, empty=True), name="outcome_valid"),
        # An outcome belongs to an exit; an exit date may wait for its outcome (deadline warning).
        sa.CheckConstraint("exit_outcome = '' OR exit_on IS NOT NULL", name="outcome_needs_exit"),
        sa.CheckConstraint("total_minutes >= 0", name="total_minutes_not_negative"),
        # List per office and counsellor, board per office and year.
        sa.Index("ix_participant_office_entry", "office_id", "entry_on"),
        sa.Index("ix_participant_office_exit", "office_id", "exit_on"),
        sa.Index("ix_participant_sort_name", "sort_name"),
        # A counsellor's list (their offices, not erased, by name): one page walks this in
        # order and the count reads it alone, instead of sorting and counting every row of the
        # office. erased_at is a column, not a partial WHERE: SQLite counts from an index only
        # if it holds every column the query names.
        sa.Index("ix_participant_office_sort", "office_id", "erased_at", "sort_name"),
        # "Mein Tag": a counsellor's own participants by name (missed deadlines, the first
        # ten found in order) and open cases close to entry (a range of total_minutes).
        sa.Index("ix_participant_counsellor_sort", "counsellor_id", "sort_name"),
        sa.Index(
            "ix_participant_counsellor_open",
            "counsellor_id",
            "exit_on",
            "entry_on",
            "total_minutes",
        ),
        # Erased rows only: every list asks for "erased_at IS NULL" (nearly all rows), and a
        # full index on erased_at made SQLite read that through it and sort every participant
        # instead of walking ix_participant_sort_name for one page.
        sa.Index(
            "ix_participant_erased_at",
            "erased_at",
            sqlite_where=sa.text("erased_at IS NOT NULL"),
            postgresql_where=sa.text("erased_at IS NOT NULL"),
        ),
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def is_entered(self) -> bool:
        return self.entry_on is not None

    @property
    def is_exited(self) -> bool:
        return self.exit_on is not None

    def audit_label(self) -> str:
        # Never the name: the audit log is readable by leads and must survive erasure.
        return f"Teilnehmende #{self.id}"


class CounsellingSession(Audited, TimestampMixin, db.Model):
    """One counselling session of a participant: date and duration in minutes."""

    __tablename__ = "counselling_session"
    __audit_values__ = frozenset({"held_on", "minutes", "counsellor_id", "participant_id"})

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("participant.id", ondelete="CASCADE"))
    held_on: Mapped[date] = mapped_column(sa.Date, index=True)
    minutes: Mapped[int] = mapped_column()
    counsellor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")

    participant: Mapped[Participant] = relationship(back_populates="sessions")
    counsellor: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("minutes > 0 AND minutes <= 1440", name="minutes_valid"),
        sa.Index("ix_counselling_session_participant_date", "participant_id", "held_on"),
    )

    def audit_label(self) -> str:
        return f"Beratungstermin #{self.id} (Teilnehmende #{self.participant_id})"


class ParticipantContact(Audited, TimestampMixin, db.Model):
    """One entry of a participant's contact log: a call, e-mail, meeting or letter.

    Not a counselling session: contacts do not count toward the 8-hour entry rule.
    """

    __tablename__ = "participant_contact"
    __audit_values__ = frozenset(
        {"kind", "happened_at", "duration_minutes", "user_id", "participant_id"}
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("participant.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int | None] = mapped_column()
    note: Mapped[str] = mapped_column(sa.Text, default="")
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    participant: Mapped[Participant] = relationship(back_populates="contacts")
    user: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("kind", CONTACT_KINDS), name="kind_valid"),
        sa.CheckConstraint(
            "duration_minutes IS NULL OR (duration_minutes > 0 AND duration_minutes <= 1440)",
            name="duration_valid",
        ),
        # The timeline: one participant's contacts, newest first.
        sa.Index("ix_participant_contact_participant_at", "participant_id", "happened_at"),
    )

    def audit_label(self) -> str:
        return f"Kontakt #{self.id} (Teilnehmende #{self.participant_id})"


class ConsentRelease(Audited, TimestampMixin, db.Model):
    """A release from confidentiality (Schweigepflichtentbindung) towards one partner.

    Valid on day d when granted_on <= d, d <= expires_on (if set) and d < revoked_on (if set).
    """

    __tablename__ = "consent_release"
    __audit_values__ = frozenset(
        {"granted_on", "expires_on", "revoked_on", "organisation_id", "participant_id", "review"}
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    # Indexed through ix_consent_release_org_participant (organisation_id first).
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE")
    )
    granted_on: Mapped[date] = mapped_column(sa.Date)
    scope: Mapped[str] = mapped_column(sa.Text, default="")
    expires_on: Mapped[date | None] = mapped_column(sa.Date)
    revoked_on: Mapped[date | None] = mapped_column(sa.Date)
    # "" = as granted; "pending" = its organisation was merged into another one, and the
    # release covers the merged organisation only once a lead or admin confirms it;
    # "renew" = not confirmed, the person has to sign a new release.
    review: Mapped[str] = mapped_column(sa.String(10), default="", server_default="", index=True)
    # The organisation the person agreed to share with, as it was named before a merge.
    agreed_organisation_name: Mapped[str] = mapped_column(
        sa.String(300), default="", server_default=""
    )

    participant: Mapped[Participant] = relationship(back_populates="consent_releases")
    organisation: Mapped[Organisation] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on >= granted_on", name="expires_after_granted"
        ),
        sa.CheckConstraint(
            "revoked_on IS NULL OR revoked_on >= granted_on", name="revoked_after_granted"
        ),
        sa.CheckConstraint("review IN ('', 'pending', 'renew')", name="review_valid"),
        # "Who may we share with partner X today?"
        sa.Index("ix_consent_release_org_participant", "organisation_id", "participant_id"),
    )

    def is_valid_on(self, day: date) -> bool:
        """True if the release covers sharing on `day` (and is not awaiting review)."""
        return (
            self.review == ""
            and self.granted_on <= day
            and (self.expires_on is None or day <= self.expires_on)
            and (self.revoked_on is None or day < self.revoked_on)
        )

    def audit_label(self) -> str:
        return f"Schweigepflichtentbindung #{self.id} (Teilnehmende #{self.participant_id})"


class Referral(Audited, TimestampMixin, db.Model):
    """A participant's case referred to (`to`) or from (`from`) a partner organisation."""

    __tablename__ = "referral"
    __audit_values__ = frozenset(
        {
            "status",
            "direction",
            "referred_on",
            "organisation_id",
            "participant_id",
            "consent_release_id",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    referred_on: Mapped[date] = mapped_column(sa.Date, index=True)
    direction: Mapped[str] = mapped_column(sa.String(4))
    purpose: Mapped[str] = mapped_column(sa.String(300), default="")
    status: Mapped[str] = mapped_column(sa.String(12), default="sent", index=True)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    # The release that allowed sending an outgoing referral (kept for the record).
    consent_release_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("consent_release.id", ondelete="SET NULL"), index=True
    )

    participant: Mapped[Participant] = relationship(back_populates="referrals")
    organisation: Mapped[Organisation] = relationship()
    consent_release: Mapped[ConsentRelease | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("direction", REFERRAL_DIRECTIONS), name="direction_valid"),
        sa.CheckConstraint(_in("status", REFERRAL_STATUSES), name="status_valid"),
    )

    def audit_label(self) -> str:
        return f"Überweisung #{self.id} (Teilnehmende #{self.participant_id})"


class SupportItemType(TimestampMixin, db.Model):
    """A configurable item of the support checklist (housing, registration office, …)."""

    __tablename__ = "support_item_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable key for the seeded types (translated labels); "" for types admins add.
    key: Mapped[str] = mapped_column(sa.String(40), default="")
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class SupportItem(Audited, TimestampMixin, db.Model):
    """One checklist item of one participant: status, due date, note."""

    __tablename__ = "support_item"
    __audit_values__ = frozenset(
        {"status", "due_on", "type_id", "participant_id", "responsible_id"}
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("participant.id", ondelete="CASCADE"))
    type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("support_item_type.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(12), default="open")
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    done_on: Mapped[date | None] = mapped_column(sa.Date)
    # Who sees to the item (lasting support after a placement); None = the counsellor.
    responsible_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    participant: Mapped[Participant] = relationship(back_populates="support_items")
    type: Mapped[SupportItemType] = relationship(lazy="joined")
    responsible: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("status", SUPPORT_STATUSES), name="status_valid"),
        sa.UniqueConstraint("participant_id", "type_id", name="uq_support_item_participant_type"),
        # "My open items": open/in-progress items in due order.
        sa.Index("ix_support_item_status_due", "status", "due_on"),
    )

    @property
    def is_open(self) -> bool:
        return self.status in ("open", "in_progress")

    def audit_label(self) -> str:
        return f"Unterstützungspunkt #{self.id} (Teilnehmende #{self.participant_id})"
