"""Demo ESF Plus data for the demo participants: most entries filled, some "keine Angabe",
a few left empty for the completeness check, one disability with its consent (demo only)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.database import utcnow
from crm.esf import service
from crm.esf.models import ENTRY_FLAGS, EXIT_RESULTS, LABOUR_STATUSES
from crm.participants.models import Participant

ISCED = ("isced_5_8", "isced_3_4", "isced_5_8", "isced_0_2", "unknown")


def seed_esf(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """Fill the ESF Plus data of the demo participants (every fifth one left for the check)."""
    people = list(
        session.scalars(
            sa.select(Participant).where(Participant.erased_at.is_(None)).order_by(Participant.id)
        )
    )
    filled = 0
    for i, p in enumerate(people):
        if i % 5 == 4:
            continue
        data = {
            "labour_status": (*LABOUR_STATUSES, "unknown")[i % 6],
            "isced": ISCED[i % len(ISCED)],
            **{
                flag: ("no", "yes", "unknown", "no")[(i + k) % 4]
                for k, flag in enumerate(ENTRY_FLAGS)
            },
            "third_country": "yes" if i % 3 else "unknown",
        }
        consent = None
        if i == 1:
            data["disability"] = "yes"
            consent = p.first_contact_on
        service.save_entry(session, p, data, disability_consent_on=consent)
        if p.exit_on is not None:
            service.save_exit_results(
                session, p, service.default_exit_results(p.exit_outcome) or {EXIT_RESULTS[0]}
            )
            asked_on = p.exit_on + timedelta(days=183)
            if i % 2 == 0 and asked_on <= date.today():
                service.record_long_result(
                    session,
                    p,
                    "employment" if p.exit_outcome == "employment" else "not_reached",
                    asked_on,
                    now=utcnow(),
                )
        filled += 1
    return {"esf_records": filled}
