"""Surveys, their frozen versions, rounds, recipients and responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.contacts.models import Organisation
from crm.database import TimestampMixin, UTCDateTime, utcnow
from crm.extensions import db

# "section" is a heading with an optional introduction that groups the questions after it;
# it takes no answer.
QUESTION_KINDS = ("single", "multiple", "number", "text", "yesno", "needs", "section")
ROUND_STATUSES = ("draft", "sent", "closed")
RESPONSE_STATUSES = ("draft", "final")
TIME_FRAMES = ("now", "6m", "12m", "later")
# How a response came in: the firm through its personal link, or staff from a phone call.
RESPONSE_CHANNELS = ("web", "phone")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Survey(TimestampMixin, db.Model):
    """A questionnaire; `questions` is the working copy the builder edits. What was sent is
    frozen in a SurveyVersion, so editing here never changes a sent round's questions."""

    __tablename__ = "survey"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    intro_de: Mapped[str] = mapped_column(sa.Text, default="")
    intro_en: Mapped[str] = mapped_column(sa.Text, default="")
    questions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    versions: Mapped[list[SurveyVersion]] = relationship(
        back_populates="survey", order_by="SurveyVersion.number"
    )


class SurveyVersion(db.Model):
    """The questions of a survey as they were sent; never changed after it is created."""

    __tablename__ = "survey_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("survey.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(sa.String(200))
    intro_de: Mapped[str] = mapped_column(sa.Text, default="")
    intro_en: Mapped[str] = mapped_column(sa.Text, default="")
    questions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    survey: Mapped[Survey] = relationship(back_populates="versions")

    __table_args__ = (sa.UniqueConstraint("survey_id", "number"),)


class SurveyRound(TimestampMixin, db.Model):
    """One sending of a survey version to a set of organisations, open until a closing date."""

    __tablename__ = "survey_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_version.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    closes_on: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(10), default="draft")
    # The organisation filter the recipients were chosen by (None: a static contact list);
    # kept to show staff whom the round was meant for.
    audience_spec: Mapped[dict[str, list[str]] | None] = mapped_column(sa.JSON)

    survey: Mapped[Survey] = relationship()
    version: Mapped[SurveyVersion] = relationship()

    __table_args__ = (sa.CheckConstraint(_in("status", ROUND_STATUSES), name="status_valid"),)


class SurveyRecipient(db.Model):
    """The one contact person of an organisation a round's personal link goes to."""

    __tablename__ = "survey_recipient"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_round.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str] = mapped_column(sa.String(254))
    # SHA-256 of the signed link token: a leaked table gives no working links.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    round: Mapped[SurveyRound] = relationship()
    organisation: Mapped[Organisation] = relationship()

    __table_args__ = (sa.UniqueConstraint("round_id", "organisation_id"),)


class SurveyUnreached(db.Model):
    """An organisation the round's audience matched that has no current contact person with
    an e-mail address: no link goes out, staff can phone it."""

    __tablename__ = "survey_unreached"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_round.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )

    organisation: Mapped[Organisation] = relationship()

    __table_args__ = (sa.UniqueConstraint("round_id", "organisation_id"),)


class SurveyResponse(TimestampMixin, db.Model):
    """An organisation's answers in a round: a draft until the final submit locks it."""

    __tablename__ = "survey_response"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_round.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey_recipient.id", ondelete="SET NULL"), index=True
    )
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(10), default="draft")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(sa.String(10), default="web", server_default="web")
    # The staff member who entered the answers taken on the phone (None: the firm itself).
    entered_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        # One response per organisation and round, whoever of the firm answers.
        sa.UniqueConstraint("round_id", "organisation_id"),
        sa.CheckConstraint(_in("status", RESPONSE_STATUSES), name="status_valid"),
        sa.CheckConstraint(_in("channel", RESPONSE_CHANNELS), name="channel_valid"),
    )


class SurveyAttempt(db.Model):
    """One post of the public answer page, for the per-address limit."""

    __tablename__ = "survey_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
