"""Helpers for the board, report and privacy tests: participants with known dates."""

from __future__ import annotations

from datetime import date
from typing import Any

from crm.participants import service as ps
from crm.participants.models import Participant
from tests import factories


def make_participant(
    session: Any,
    *,
    office: Any,
    counsellor: Any,
    first_name: str = "Ana",
    last_name: str = "Beispiel",
    first_contact_on: date = date(2026, 1, 5),
    channel: str = "job_fair",
    referrer: Any = None,
    sessions: tuple[tuple[date, int], ...] = (),
    exit_on: date | None = None,
    outcome: str = "",
    **fields: Any,
) -> Participant:
    """A participant saved through the service, with sessions and an optional exit."""
    p = ps.save_participant(
        session,
        {
            "first_name": first_name,
            "last_name": last_name,
            "office_id": office.id,
            "counsellor_id": counsellor.id,
            "first_contact_on": first_contact_on,
            "acquisition_channel": channel,
            "referring_organisation_id": referrer.id if referrer else None,
            **fields,
        },
    )
    for day, minutes in sessions:
        ps.add_session(session, p, held_on=day, minutes=minutes, counsellor=counsellor)
    if exit_on is not None:
        ps.record_exit(session, p, exit_on=exit_on, outcome=outcome)
    return p


def entered_on(session: Any, day: date, **kwargs: Any) -> Participant:
    """A participant whose entry falls on `day` (one 8:01 session that day)."""
    kwargs.setdefault("first_contact_on", min(day, kwargs.get("first_contact_on") or day))
    return make_participant(session, sessions=((day, 481),), **kwargs)


def office_and_counsellor(session: Any, name: str | None = None) -> tuple[Any, Any]:
    office = factories.make_office(session, name)
    counsellor = factories.make_user(session, role="counsellor", office=office)
    return office, counsellor
