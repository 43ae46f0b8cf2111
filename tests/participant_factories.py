"""Factory helpers for participant tests (`make_participant(session, office=..., **kwargs)`)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from crm.accounts.models import Office, User
from crm.contacts.models import Organisation
from crm.contacts.service import save_organisation
from crm.participants import service
from crm.participants.models import Participant
from tests import factories

_counter = itertools.count(1)


def make_participant(
    session: Session,
    *,
    office: Office | None = None,
    counsellor: User | None = None,
    last_name: str | None = None,
    **kwargs: Any,
) -> Participant:
    """A participant (with an office and counsellor made up if not given)."""
    n = next(_counter)
    office = office or (counsellor.office if counsellor and counsellor.office else None)
    office = office or factories.make_office(session)
    counsellor = counsellor or factories.make_user(session, role="counsellor", office=office)
    data = {
        "first_name": kwargs.pop("first_name", "Testa"),
        "last_name": last_name or f"Teilnehmerin{n}",
        "office_id": office.id,
        "counsellor_id": counsellor.id,
        "first_contact_on": kwargs.pop("first_contact_on", date(2026, 1, 5)),
        **kwargs,
    }
    return service.save_participant(session, data)


def make_partner(session: Session, name: str | None = None, **kwargs: Any) -> Organisation:
    """A partner organisation."""
    return save_organisation(
        session,
        {"name": name or f"Partner {next(_counter)} e.V.", "kind": kwargs.pop("kind", "partner")},
    )
