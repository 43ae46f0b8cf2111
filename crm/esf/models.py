"""ESF Plus participant data (Regulation (EU) 2021/1057, Annex I): at entry, at exit and six
months after the exit.

One row per participant in its own table rather than columns on `participant`: the values get
check constraints without rebuilding that table (and its trigram triggers) on SQLite, and the
special-category datum (disability) sits apart from the master data every list reads.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit.mixins import Audited
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db
from crm.followups.models import FollowUp
from crm.participants.models import Participant

# "" = not recorded yet (the completeness check lists it); "unknown" = "keine Angabe", a
# deliberate answer that counts as complete.
LABOUR_STATUSES = ("unemployed", "long_term_unemployed", "inactive", "employed", "self_employed")
ISCED_LEVELS = ("isced_0_2", "isced_3_4", "isced_5_8")
YES_NO = ("yes", "no")
UNKNOWN = "unknown"
# The yes/no questions at entry (disability apart: it needs its own consent).
ENTRY_FLAGS = (
    "third_country",
    "foreign_background",
    "minority",
    "homeless",
    "rural",
)
EXIT_RESULTS = ("job_searching", "education", "qualification", "employment")
LONG_RESULTS = ("employment", "improved", "not_reached")


def _in(column: str, values: tuple[str, ...]) -> str:
    allowed = ", ".join(f"'{v}'" for v in (*values, UNKNOWN, ""))
    return f"{column} IN ({allowed})"


class EsfRecord(Audited, TimestampMixin, db.Model):
    """A participant's ESF Plus data; created on first save."""

    __tablename__ = "esf_record"
    # Every value here is personal data: the audit log names the changed fields, never values.
    __audit_ignore__ = frozenset({"created_at", "updated_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), unique=True
    )
    # At entry
    labour_status: Mapped[str] = mapped_column(sa.String(24), default="", index=True)
    isced: Mapped[str] = mapped_column(sa.String(10), default="")
    third_country: Mapped[str] = mapped_column(sa.String(8), default="")
    foreign_background: Mapped[str] = mapped_column(sa.String(8), default="")
    minority: Mapped[str] = mapped_column(sa.String(8), default="")
    homeless: Mapped[str] = mapped_column(sa.String(8), default="")
    rural: Mapped[str] = mapped_column(sa.String(8), default="")
    # Art. 9 DSGVO: stored only with the participant's own consent for this datum.
    disability: Mapped[str] = mapped_column(sa.String(8), default="")
    disability_consent_on: Mapped[date | None] = mapped_column(sa.Date)
    # At exit (immediate results)
    exit_job_searching: Mapped[bool] = mapped_column(default=False)
    exit_education: Mapped[bool] = mapped_column(default=False)
    exit_qualification: Mapped[bool] = mapped_column(default=False)
    exit_employment: Mapped[bool] = mapped_column(default=False)
    # Six months after the exit (longer-term results), and the counsellor's follow-up for it.
    long_result: Mapped[str] = mapped_column(sa.String(12), default="")
    long_result_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    followup_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("followup.id", ondelete="SET NULL"), index=True
    )

    participant: Mapped[Participant] = relationship()
    followup: Mapped[FollowUp | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("labour_status", LABOUR_STATUSES), name="labour_status_valid"),
        sa.CheckConstraint(_in("isced", ISCED_LEVELS), name="isced_valid"),
        *(sa.CheckConstraint(_in(c, YES_NO), name=f"{c}_valid") for c in ENTRY_FLAGS),
        sa.CheckConstraint(_in("disability", YES_NO), name="disability_valid"),
        sa.CheckConstraint(
            "disability = '' OR disability_consent_on IS NOT NULL", name="disability_needs_consent"
        ),
        sa.CheckConstraint(
            "long_result IN ('', 'employment', 'improved', 'not_reached')",
            name="long_result_valid",
        ),
        sa.CheckConstraint(
            "(long_result = '') = (long_result_on IS NULL)", name="long_result_dated"
        ),
    )

    def audit_label(self) -> str:
        return f"ESF-Plus-Angaben Teilnehmende #{self.participant_id}"


# The former participant's own answers on the short survey ("" = not answered, "unknown" =
# "keine Angabe").
LINK_ANSWERS = ("yes", "no", UNKNOWN)
LINK_LANGUAGES = ("de", "en")


class EsfFollowupLink(Audited, db.Model):
    """The personal link of the short survey six months after the exit: one per participant.

    Only the SHA-256 of the signed token is kept (a leaked table gives no working links);
    sending it again replaces the token, so only the newest link works.
    """

    __tablename__ = "esf_followup_link"
    # Her answers are personal data: the log names the changed fields, never the values.
    __audit_values__ = frozenset({"language"})
    __audit_ignore__ = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    employed: Mapped[str] = mapped_column(sa.String(8), default="")
    improved: Mapped[str] = mapped_column(sa.String(8), default="")

    participant: Mapped[Participant] = relationship()

    __table_args__ = (
        sa.CheckConstraint("language IN ('de', 'en')", name="language_valid"),
        sa.CheckConstraint("employed IN ('', 'yes', 'no', 'unknown')", name="employed_valid"),
        sa.CheckConstraint("improved IN ('', 'yes', 'no', 'unknown')", name="improved_valid"),
        sa.CheckConstraint(
            "answered_at IS NOT NULL OR (employed = '' AND improved = '')",
            name="answers_need_answered_at",
        ),
    )

    def audit_label(self) -> str:
        return f"ESF-Plus-Kurzumfrage Teilnehmende #{self.participant_id}"


class EsfFollowupAttempt(db.Model):
    """One post of the short survey's public page, for the per-address limit."""

    __tablename__ = "esf_followup_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
