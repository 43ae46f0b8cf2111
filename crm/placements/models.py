"""Placements (Vermittlungen): a participant placed with a firm in a job, an apprenticeship,
an internship, a qualification measure or a recognition/adaptation qualification."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.audit.mixins import Audited
from crm.contacts.models import Organisation, Person, QualificationNeed
from crm.database import TimestampMixin
from crm.extensions import db
from crm.followups.models import FollowUp
from crm.participants.models import Participant

PLACEMENT_KINDS = ("job", "apprenticeship", "internship", "qualification", "recognition")
PLACEMENT_STATUSES = ("planned", "active", "ended", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Placement(Audited, TimestampMixin, db.Model):
    """One placement of a participant with a firm, optionally filling one of its needs."""

    __tablename__ = "placement"
    __audit_values__ = frozenset(
        {
            "participant_id",
            "organisation_id",
            "need_id",
            "kind",
            "status",
            "starts_on",
            "ends_on",
            "followup_id",
        }
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    need_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("qualification_need.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="planned", index=True)
    starts_on: Mapped[date] = mapped_column(sa.Date, index=True)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    # The counsellor's reminder before an internship ends (kept by the placements service).
    followup_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("followup.id", ondelete="SET NULL"), index=True
    )

    participant: Mapped[Participant] = relationship(foreign_keys=[participant_id])
    organisation: Mapped[Organisation] = relationship()
    need: Mapped[QualificationNeed | None] = relationship()
    followup: Mapped[FollowUp | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(_in("kind", PLACEMENT_KINDS), name="kind_valid"),
        sa.CheckConstraint(_in("status", PLACEMENT_STATUSES), name="status_valid"),
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
        # An internship is for a limited period: its end is part of the agreement.
        sa.CheckConstraint("kind != 'internship' OR ends_on IS NOT NULL", name="internship_ends"),
    )

    def audit_label(self) -> str:
        # Never the participant's name: the audit log outlives erasure.
        return f"Vermittlung #{self.id} (Teilnehmende #{self.participant_id})"


TRAINING_STATUSES = ("", "planned", "held")


class FirmSupport(Audited, TimestampMixin, db.Model):
    """The firm's side of lasting support after a placement: intercultural training and the
    onboarding contact (one row per organisation, created on first save)."""

    __tablename__ = "firm_support"
    __audit_values__ = frozenset(
        {"training_status", "training_on", "organisation_id", "onboarding_person_id"}
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), unique=True
    )
    # "" = not planned; "planned" with the planned date; "held" with the date it was held.
    training_status: Mapped[str] = mapped_column(sa.String(10), default="")
    training_on: Mapped[date | None] = mapped_column(sa.Date)
    # Who at the firm looks after newly placed people in their first weeks: a person of the
    # firm (its people page, phone and e-mail stay current in one place).
    onboarding_person_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    # The free text this was recorded as before people could be picked; kept as it was and
    # shown ("bisher: …") while no person is linked. The form no longer writes it.
    onboarding_contact: Mapped[str] = mapped_column(sa.String(200), default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")

    organisation: Mapped[Organisation] = relationship()
    onboarding_person: Mapped[Person | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "training_status IN ('', 'planned', 'held')", name="training_status_valid"
        ),
    )

    def audit_label(self) -> str:
        return f"Begleitung Unternehmen #{self.organisation_id}"
