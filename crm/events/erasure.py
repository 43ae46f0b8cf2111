"""The events domain's part of an erasure: invitations, fair leads and event registrations
of the person."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.events.models import EventContact, EventRegistration, Lead


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Her invitations, leads and linked registrations are deleted (the lead's follow-up is
    the follow-ups' part)."""
    if plan.subject.kind != "person":
        return
    pid = plan.subject.id
    for model in (EventContact, Lead, EventRegistration):
        ids = session.scalars(sa.select(model.id).where(model.person_id == pid))
        plan.delete(model, ids, "events", order=10)
