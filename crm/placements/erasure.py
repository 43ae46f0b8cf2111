"""The placements domain's part of an erasure.

A participant: kind, firm, status and dates of her placements stay for the counts (placements
by kind in the funder's reports); the free-text note goes.
A contact person: the firms' checklists that name her as onboarding contact stay (they are the
firm's), without the link to her; their texts change only where the admin confirms a mention.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from crm.placements.models import FirmSupport, Placement


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Empty the notes of the participant's placements; unlink the person from checklists."""
    if plan.subject.kind == "person":
        ids = list(
            session.scalars(
                sa.select(FirmSupport.id).where(FirmSupport.onboarding_person_id == plan.subject.id)
            )
        )
        plan.anonymise(
            FirmSupport,
            ids,
            {"onboarding_person_id": None},
            "firm_support",
            owned=False,
            order=5,
        )
        plan.check_text(
            FirmSupport, ids, ("onboarding_contact", "note"), _l("Firm support checklist")
        )
        return
    if plan.subject.kind != "participant":
        return
    placement_ids = list(
        session.scalars(sa.select(Placement.id).where(Placement.participant_id == plan.subject.id))
    )
    plan.anonymise(Placement, placement_ids, {"note": ""}, "placements", order=20)
