"""The placements domain's part of a participant's erasure: kind, firm, status and dates stay
for the counts (placements by kind in the funder's reports); the free-text note goes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.placements.models import Placement


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Empty the notes of the participant's placements."""
    if plan.subject.kind != "participant":
        return
    ids = session.scalars(
        sa.select(Placement.id).where(Placement.participant_id == plan.subject.id)
    )
    plan.anonymise(Placement, ids, {"note": ""}, "placements", order=20)
