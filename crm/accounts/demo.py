"""Demo absences: one counsellor away from tomorrow, so the absence pages and the start page's
"absent this week" block have content in `make run`."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import Absence, User
from crm.database import utcnow

AWAY_EMAIL = "beratung.burg@demo.netzwerk-crm.de"


def seed_absences(session: Session, offices: dict) -> dict[str, int]:
    """A vacation of Bernd Berater (Burg) from tomorrow for five days."""
    user = session.scalar(sa.select(User).where(User.email == AWAY_EMAIL))
    if user is None:
        return {"absences": 0}
    tomorrow = utcnow().astimezone(ZoneInfo("Europe/Berlin")).date() + timedelta(days=1)
    session.add(
        Absence(
            user_id=user.id,
            first_day=tomorrow,
            last_day=tomorrow + timedelta(days=4),
            kind="vacation",
            note="",
        )
    )
    session.flush()
    return {"absences": 1}
