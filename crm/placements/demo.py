"""Demo placements: a firm's need for nursing staff with fitting participants who released
their data to it, an internship with its follow-up, a job and an apprenticeship (demo only)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.contacts import service as contacts
from crm.contacts.models import Organisation
from crm.participants import service as participants
from crm.participants.models import Participant
from crm.placements import service

NEED_OCCUPATION = "Pflegefachkraft"


def seed_placements(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """Create one matchable need and a few placements (after the participants' demo)."""
    today = date.today()
    employers = list(
        session.scalars(
            sa.select(Organisation)
            .where(Organisation.kind == "employer")
            .order_by(Organisation.id)
            .limit(3)
        )
    )
    open_cases = list(
        session.scalars(
            sa.select(Participant)
            .where(Participant.exit_on.is_(None), Participant.erased_at.is_(None))
            .order_by(Participant.id)
        )
    )
    if not employers or not open_cases:
        return {"placements": 0}
    # A hospital for the nursing need when the contacts' demo has one.
    clinic = (
        session.scalar(sa.select(Organisation).where(Organisation.name.like("Klinikum%")).limit(1))
        or employers[0]
    )
    need = contacts.add_need(
        session,
        clinic,
        occupation=NEED_OCCUPATION,
        count=3,
        needed_since=today - timedelta(days=60),
        surveyed_on=today - timedelta(days=14),
        required_language_level="B1",
        note="Bedarfsanalyse: Station für Innere Medizin",
    )
    service.save_firm_support(
        session,
        clinic,
        training_status="planned",
        training_on=today + timedelta(days=21),
        onboarding_person=None,
        # As recorded before people could be picked: the page shows it as "bisher: …".
        onboarding_contact="Pflegedienstleitung, Station 3",
    )
    nursing = [p for p in open_cases if "pfleg" in p.profession.lower()]
    for p in nursing:
        p.language_level = p.language_level or "B1"
        participants.add_release(
            session,
            p,
            organisation=clinic,
            granted_on=max(p.first_contact_on, today - timedelta(days=30)),
            scope="Weitergabe des Profils an den Arbeitgeber zur Vermittlung",
        )
    others = [p for p in open_cases if p not in nursing]
    plans = (
        ("internship", "active", today - timedelta(days=20), today + timedelta(days=40)),
        ("job", "planned", today + timedelta(days=30), None),
        ("apprenticeship", "active", today - timedelta(days=60), None),
    )
    count = 0
    for p, (kind, status, start, end) in zip(others, plans, strict=False):
        service.save_placement(
            session,
            p,
            organisation=employers[count % len(employers)],
            kind=kind,
            status=status,
            starts_on=max(start, p.first_contact_on),
            ends_on=end,
            note="Demo-Vermittlung",
            today=today,
        )
        count += 1
    session.flush()
    return {"placements": count, "matchable_needs": 1 if need.id else 0}
