"""The surveys' part of a person's erasure: her address goes from the survey links sent to
her; the firm's answer stays (it is the organisation's, not hers)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.surveys.models import SurveyRecipient


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Empty the address and the link to her on the survey recipients that name her."""
    if plan.subject.kind != "person":
        return
    ids = session.scalars(
        sa.select(SurveyRecipient.id).where(SurveyRecipient.person_id == plan.subject.id)
    )
    plan.anonymise(SurveyRecipient, ids, {"email": "", "person_id": None}, "mail", order=5)
