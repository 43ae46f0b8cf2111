"""Helpers for the board, report and privacy tests: participants with known dates."""

from __future__ import annotations

from datetime import date
from typing import Any

from crm.participants.models import Participant
from tests import factories

# The board's participants: "Ana Beispiel", found at a job fair, unless a test says otherwise.
BOARD_DEFAULTS: dict[str, Any] = {
    "first_name": "Ana",
    "last_name": "Beispiel",
    "acquisition_channel": "job_fair",
}


def make_participant(session: Any, **kwargs: Any) -> Participant:
    """`factories.make_participant` with the board's defaults."""
    return factories.make_participant(session, **{**BOARD_DEFAULTS, **kwargs})


def entered_on(session: Any, day: date, **kwargs: Any) -> Participant:
    """A participant whose entry falls on `day` (one 8:01 session that day)."""
    kwargs.setdefault("first_contact_on", min(day, kwargs.get("first_contact_on") or day))
    return make_participant(session, sessions=((day, 481),), **kwargs)


def office_and_counsellor(session: Any, name: str | None = None) -> tuple[Any, Any]:
    office = factories.make_office(session, name)
    counsellor = factories.make_user(session, role="counsellor", office=office)
    return office, counsellor
