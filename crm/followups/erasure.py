"""The follow-ups domain's part of an erasure: follow-ups about the person or participant."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from crm.followups.models import FollowUp


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Follow-ups about her stay as the assignee's to-do, unlinked; texts only if confirmed."""
    column = {"person": FollowUp.person_id, "participant": FollowUp.participant_id}.get(
        plan.subject.kind
    )
    if column is None:
        return
    ids = list(session.scalars(sa.select(FollowUp.id).where(column == plan.subject.id)))
    plan.anonymise(FollowUp, ids, {column.key: None}, "followups", owned=False, order=5)
    plan.check_text(FollowUp, ids, ("subject", "note", "outcome"), _l("Follow-up"))
