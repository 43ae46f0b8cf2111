"""The participants domain's part of an erasure: an anonymous row stays for the counts.

The participant row keeps office, counsellor, channel, referring organisation, first contact,
entry, exit and outcome, and the sessions keep date, minutes and counsellor, so the board
and the funder's reports count exactly as before; every personal field is emptied, the
pseudonym replaced. Referrals, releases, checklist items and the contact log are deleted.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.database import utcnow
from crm.participants.models import (
    ConsentRelease,
    CounsellingSession,
    Participant,
    ParticipantContact,
    Referral,
    SupportItem,
    new_pseudonym,
)

PARTICIPANT_PERSONAL_FIELDS: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "name_key": "",
    "sort_name": "",
    "email": "",
    "phone": "",
    "city": "",
    "birth_year": None,
    "gender": "",
    "notes": "",
    "country_of_origin": "",
    "profession": "",
    "profession_learned_in": "",
    "recognising_body": "",
    "language_level": "",
    "target_field": "",
    "exit_note": "",
    "transfer_note": "",
    "next_contact_on": None,
    "transfer_on": None,
    "recognition_status": "not_started",
}


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Delete her referrals, releases, checklist and contact log; anonymise sessions and row."""
    if plan.subject.kind != "participant":
        return
    pid = plan.subject.id
    for model, category, order in (
        (Referral, "referrals", 10),
        (ConsentRelease, "releases", 15),
        (SupportItem, "support", 10),
        (ParticipantContact, "contact_log", 10),
    ):
        ids = session.scalars(sa.select(model.id).where(model.participant_id == pid))
        plan.delete(model, ids, category, order=order)
    sessions = session.scalars(
        sa.select(CounsellingSession.id).where(CounsellingSession.participant_id == pid)
    )
    plan.anonymise(CounsellingSession, sessions, {"note": ""}, "sessions", order=20)
    values = {**PARTICIPANT_PERSONAL_FIELDS, "pseudonym": new_pseudonym(), "erased_at": utcnow()}
    plan.anonymise(Participant, [pid], values, "participant", order=90)
