"""Organisations, people, affiliations, activities, tags, qualification needs, lists."""

from __future__ import annotations

import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.accounts.models import User
from crm.audit.mixins import Audited
from crm.collation import SortName, sort_name_column
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db

# The kinds every install starts with (the migration seeds them into organisation_kind);
# admins add more there. Kept for code that names a base kind ("employer").
ORG_KINDS = (
    "employer",
    "association",
    "jobcentre",
    "employment_agency",
    "recognition",
    "education",
    "chamber",
    "authority",
    "fair_organiser",
    "partner",
    "other",
)
SALUTATIONS = ("frau", "herr", "divers", "")
ACTIVITY_KINDS = ("call", "email", "meeting", "note", "presentation", "fair_contact")
SIZE_CLASSES = ("1-9", "10-49", "50-249", "250+")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


organisation_tag = sa.Table(
    "organisation_tag",
    db.metadata,
    sa.Column(
        "organisation_id",
        sa.ForeignKey("organisation.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag_id", sa.ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True),
)

person_tag = sa.Table(
    "person_tag",
    db.metadata,
    sa.Column("person_id", sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(db.Model):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)


class OrganisationKind(TimestampMixin, db.Model):
    """A kind of organisation admins can add, rename and deactivate (never delete in use)."""

    __tablename__ = "organisation_kind"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable: organisations, saved audiences and imports refer to the key, never the label.
    key: Mapped[str] = mapped_column(sa.String(30), unique=True)
    label: Mapped[str] = mapped_column(sa.String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")


class Organisation(SortName, Audited, TimestampMixin, db.Model):
    """An employer, association, partner agency, education provider, chamber …"""

    __tablename__ = "organisation"
    __sort_name_from__ = ("name",)
    __audit_values__ = frozenset({"kind", "sector", "size_class", "region", "owner_id", "country"})
    __audit_ignore__ = frozenset(
        {
            "created_at",
            "updated_at",
            "search_text",
            "name_key",
            "sort_name",
            "last_contact_at",
            "phone_e164",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # German dictionary order of the name (crm.collation): what the list sorts by.
    sort_name: Mapped[str] = sort_name_column("name", length=200)
    name_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    # A key of organisation_kind (a foreign key, so the database refuses unknown kinds and
    # the deletion of a kind still in use).
    kind: Mapped[str] = mapped_column(
        sa.ForeignKey("organisation_kind.key"), index=True, default="employer"
    )
    sector: Mapped[str] = mapped_column(sa.String(120), default="")
    size_class: Mapped[str] = mapped_column(sa.String(10), default="")
    region: Mapped[str] = mapped_column(sa.String(120), default="", index=True)
    street: Mapped[str] = mapped_column(sa.String(200), default="")
    postcode: Mapped[str] = mapped_column(sa.String(16), default="", index=True)
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    country: Mapped[str] = mapped_column(
        sa.String(2), default="DE", server_default="DE", index=True
    )
    # As typed; phone_e164 is the same number normalised (empty if it could not be read),
    # kept by the service and used to match duplicates.
    phone: Mapped[str] = mapped_column(sa.String(60), default="")
    phone_e164: Mapped[str] = mapped_column(
        sa.String(16), default="", server_default="", index=True
    )
    email: Mapped[str] = mapped_column(sa.String(254), default="", index=True)
    website: Mapped[str] = mapped_column(sa.String(300), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Folded (Müller → mueller) name, e-mail and place for search; kept by the service.
    search_text: Mapped[str] = mapped_column(sa.Text, default="")

    owner: Mapped[User | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=organisation_tag, order_by=Tag.name)
    affiliations: Mapped[list[Affiliation]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )
    needs: Mapped[list[QualificationNeed]] = relationship(
        back_populates="organisation",
        cascade="all, delete-orphan",
        order_by="QualificationNeed.surveyed_on.desc()",
    )

    __table_args__ = (sa.Index("ix_organisation_sort_name", "sort_name"),)

    def audit_label(self) -> str:
        return f"Organisation #{self.id}"


def new_token_nonce() -> str:
    """A fresh random nonce for a row's public links."""
    return secrets.token_urlsafe(12)


class Person(SortName, Audited, TimestampMixin, db.Model):
    """A contact person (at one or more organisations)."""

    __tablename__ = "person"
    __sort_name_from__ = ("last_name", "first_name")
    __audit_values__ = frozenset({"salutation", "language", "owner_id", "country"})
    __audit_ignore__ = frozenset(
        {
            "created_at",
            "updated_at",
            "search_text",
            "name_key",
            "sort_name",
            "last_contact_at",
            "token_nonce",
            "phone_e164",
            "mobile_e164",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    salutation: Mapped[str] = mapped_column(sa.String(10), default="")
    title: Mapped[str] = mapped_column(sa.String(40), default="")
    first_name: Mapped[str] = mapped_column(sa.String(100), default="")
    last_name: Mapped[str] = mapped_column(sa.String(100))
    name_key: Mapped[str] = mapped_column(sa.String(210), index=True)
    # "last first" in German dictionary order (crm.collation): what the list sorts by.
    sort_name: Mapped[str] = sort_name_column("last_name", "first_name", length=210)
    email: Mapped[str] = mapped_column(sa.String(254), default="", index=True)
    email_alt: Mapped[str] = mapped_column(sa.String(254), default="", index=True)
    phone: Mapped[str] = mapped_column(sa.String(60), default="")
    mobile: Mapped[str] = mapped_column(sa.String(60), default="")
    # E.164 forms of phone and mobile (see Organisation.phone_e164).
    phone_e164: Mapped[str] = mapped_column(
        sa.String(16), default="", server_default="", index=True
    )
    mobile_e164: Mapped[str] = mapped_column(
        sa.String(16), default="", server_default="", index=True
    )
    # Where the person lives or works; the default region for reading their numbers.
    country: Mapped[str] = mapped_column(sa.String(2), default="DE", server_default="DE")
    language: Mapped[str] = mapped_column(sa.String(8), default="de")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    search_text: Mapped[str] = mapped_column(sa.Text, default="")
    # Random, per row: every public link about the person (unsubscribe, web version) carries
    # it, so a link can only ever act on the row it was made for. Empty for people created
    # before links carried it (their old two-part links keep working).
    token_nonce: Mapped[str] = mapped_column(
        sa.String(22), default=new_token_nonce, server_default=""
    )

    owner: Mapped[User | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=person_tag, order_by=Tag.name)
    affiliations: Mapped[list[Affiliation]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint(_in("salutation", SALUTATIONS), name="salutation_valid"),
        sa.Index("ix_person_sort_name", "sort_name"),
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.title, self.first_name, self.last_name) if p)

    def audit_label(self) -> str:
        return f"Person #{self.id}"


class Affiliation(Audited, TimestampMixin, db.Model):
    """A person works at an organisation in a function, from/until."""

    __tablename__ = "affiliation"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    function: Mapped[str] = mapped_column(sa.String(120), default="")
    since: Mapped[date | None] = mapped_column(sa.Date)
    until: Mapped[date | None] = mapped_column(sa.Date)

    person: Mapped[Person] = relationship(back_populates="affiliations")
    organisation: Mapped[Organisation] = relationship(back_populates="affiliations")

    __table_args__ = (sa.Index("ix_affiliation_person_org", "person_id", "organisation_id"),)


# The vocational level a need asks for: unskilled/helper, vocational training (skilled worker),
# master craftsman or technician, university degree. "" stands for "not said".
QUALIFICATION_LEVELS = ("helper", "skilled", "master", "academic")


class QualificationNeed(Audited, TimestampMixin, db.Model):
    """What a firm is looking for (recorded e.g. in the half-yearly needs survey)."""

    __tablename__ = "qualification_need"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    occupation: Mapped[str] = mapped_column(sa.String(200))
    count: Mapped[int] = mapped_column(default=1)
    needed_since: Mapped[date | None] = mapped_column(sa.Date)
    surveyed_on: Mapped[date] = mapped_column(sa.Date, default=date.today)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    # The CEFR level the firm asks for ("" = none named); matching compares participants to it.
    required_language_level: Mapped[str] = mapped_column(
        sa.String(2), default="", server_default=""
    )
    # When the firm needs the people ("now", "6m", "12m", "later"; "" = not said), as the needs
    # survey asks it.
    time_frame: Mapped[str] = mapped_column(sa.String(10), default="", server_default="")
    # The vocational level the firm asks for (QUALIFICATION_LEVELS; "" = not said).
    qualification_level: Mapped[str] = mapped_column(sa.String(10), default="", server_default="")
    # The survey answer this need came from (None: entered by hand).
    survey_response_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey_response.id", ondelete="SET NULL"), index=True
    )

    organisation: Mapped[Organisation] = relationship(back_populates="needs")

    __table_args__ = (
        sa.CheckConstraint("count >= 0", name="count_not_negative"),
        sa.CheckConstraint(
            "required_language_level IN ('', 'A1', 'A2', 'B1', 'B2', 'C1', 'C2')",
            name="required_level_valid",
        ),
        sa.CheckConstraint(
            "qualification_level IN ('', "
            + ", ".join(f"'{v}'" for v in QUALIFICATION_LEVELS)
            + ")",
            name="qualification_level_valid",
        ),
        # The needs of a period, and the open needs newest first (matching).
        sa.Index("ix_qualification_need_surveyed_on_id", "surveyed_on", "id"),
    )


class Activity(Audited, TimestampMixin, db.Model):
    """A dated interaction: call, e-mail, meeting, note, presentation, fair contact."""

    __tablename__ = "activity"
    __audit_values__ = frozenset(
        {
            "kind",
            "occurred_at",
            "duration_minutes",
            "user_id",
            "person_id",
            "organisation_id",
            "followup_id",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_minutes: Mapped[int | None] = mapped_column()
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("person.id", ondelete="CASCADE"))
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE")
    )
    # The follow-up whose completion this note records (`followups.service.mark_done`): the
    # history shows its subject and outcome only to those who may see that follow-up. NULL for
    # every other activity and for notes written before the link existed. No relationship:
    # contacts do not import the follow-ups domain; `followups.service.hidden_done_notes`
    # reads the few follow-ups a timeline page links to.
    followup_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("followup.id", ondelete="SET NULL")
    )

    user: Mapped[User | None] = relationship()
    person: Mapped[Person | None] = relationship()
    organisation: Mapped[Organisation | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("kind", ACTIVITY_KINDS), name="kind_valid"),
        sa.CheckConstraint(
            "person_id IS NOT NULL OR organisation_id IS NOT NULL", name="has_subject"
        ),
        sa.CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes >= 0", name="duration_not_negative"
        ),
        # Timelines read "newest first for this person/organisation": one index each, with
        # the id so PostgreSQL answers the timeline page from the index alone (SQLite has the
        # rowid in every index anyway).
        sa.Index("ix_activity_person_time", "person_id", "occurred_at", "id"),
        sa.Index("ix_activity_org_time", "organisation_id", "occurred_at", "id"),
        # Counts an organisation timeline's overlap (own activities with its own people).
        sa.Index("ix_activity_org_person", "organisation_id", "person_id"),
        # Deleting a follow-up sets its notes' link to NULL: partial, because all but a few of
        # the activities have none.
        sa.Index(
            "ix_activity_followup_id",
            "followup_id",
            sqlite_where=sa.text("followup_id IS NOT NULL"),
            postgresql_where=sa.text("followup_id IS NOT NULL"),
        ),
    )


class ContactList(TimestampMixin, db.Model):
    """A static list of people (newsletter audiences, invitation lists)."""

    __tablename__ = "contact_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")


class ContactListMember(db.Model):
    __tablename__ = "contact_list_member"

    list_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contact_list.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DistinctPair(db.Model):
    """Two records staff checked on the duplicates page and found to be different (namesakes,
    colleagues): the pair is no longer offered. Ids of either kind, so no foreign keys; the
    contacts service removes a pair when either record is merged away, deleted or erased."""

    __tablename__ = "contact_distinct_pair"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    first_id: Mapped[int] = mapped_column(index=True)
    second_id: Mapped[int] = mapped_column(index=True)
    marked_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("kind", "first_id", "second_id"),
        sa.CheckConstraint("kind IN ('person', 'organisation')", name="kind_valid"),
        sa.CheckConstraint("first_id < second_id", name="ordered"),
    )
