"""Factory helpers with overridable defaults (`make_user(session, role=..., **kwargs)`).

The one place that creates test records: users and offices, organisations and people,
participants, newsletter lists. Records go through the services where the app has one, so
they carry what the app adds (search text, audit entries, consent texts).
"""

from __future__ import annotations

import functools
import itertools
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from crm.accounts.models import Office, User
from crm.accounts.passwords import hash_password
from crm.contacts.models import Organisation, Person
from crm.contacts.service import add_affiliation, save_organisation, save_person
from crm.database import utcnow
from crm.events.models import Event
from crm.newsletters.models import NewsletterList
from crm.newsletters.service import create_list
from crm.participants import service as participants
from crm.participants.models import Participant

PASSWORD = "Elbe-Ufer-Radweg-2026"
_counter = itertools.count(1)


@functools.cache
def _password_hash(password: str) -> str:
    # argon2 is deliberately slow; hash each distinct test password once per run.
    return hash_password(password)


def make_office(session: Session, name: str | None = None, **kwargs: Any) -> Office:
    office = Office(name=name or f"Geschäftsstelle {next(_counter)}", **kwargs)
    session.add(office)
    session.flush()
    return office


def make_user(
    session: Session,
    *,
    role: str = "counsellor",
    email: str | None = None,
    display_name: str | None = None,
    password: str = PASSWORD,
    office: Office | None = None,
    **kwargs: Any,
) -> User:
    n = next(_counter)
    user = User(
        email=email or f"user{n}-{role}@example.org",
        display_name=display_name or f"Testperson {n}",
        password_hash=_password_hash(password),
        role=role,
        office=office,
        password_changed_at=utcnow(),
        **kwargs,
    )
    session.add(user)
    session.flush()
    return user


def make_org(session: Session, *, name: str | None = None, **data: Any) -> Organisation:
    """An organisation saved through the contacts service (fields as in its form data)."""
    return save_organisation(session, {"name": name or f"Firma {next(_counter)}", **data})


def make_partner(session: Session, name: str | None = None, **data: Any) -> Organisation:
    """A partner organisation (kind "partner" unless given)."""
    data.setdefault("kind", "partner")
    return make_org(session, name=name or f"Partner {next(_counter)} e.V.", **data)


def make_person(
    session: Session,
    *,
    first_name: str = "Erika",
    last_name: str | None = None,
    email: str | None = None,
    org: Organisation | None = None,
    function: str = "",
    **data: Any,
) -> Person:
    """A person saved through the contacts service; with `org`, working there as `function`.

    Without `email` the person gets a unique address; pass `email=""` for none.
    """
    n = next(_counter)
    person = save_person(
        session,
        {
            "first_name": first_name,
            "last_name": last_name or f"Muster{n}",
            "email": f"person{n}@example.org" if email is None else email,
            **data,
        },
    )
    if org is not None:
        add_affiliation(session, person, org, function=function)
    return person


def make_participant(
    session: Session,
    *,
    office: Office | None = None,
    counsellor: User | None = None,
    first_name: str = "Testa",
    last_name: str | None = None,
    first_contact_on: date = date(2026, 1, 5),
    referrer: Organisation | None = None,
    sessions: tuple[tuple[date, int], ...] = (),
    exit_on: date | None = None,
    outcome: str = "",
    **fields: Any,
) -> Participant:
    """A participant saved through the service, with counselling sessions and an exit if given.

    Office and counsellor are made up when not given (the counsellor's office first).
    """
    n = next(_counter)
    office = office or (counsellor.office if counsellor and counsellor.office else None)
    office = office or make_office(session)
    counsellor = counsellor or make_user(session, role="counsellor", office=office)
    data = {
        "first_name": first_name,
        "last_name": last_name or f"Teilnehmerin{n}",
        "office_id": office.id,
        "counsellor_id": counsellor.id,
        "first_contact_on": first_contact_on,
    }
    if referrer is not None:
        data["referring_organisation_id"] = referrer.id
    participant = participants.save_participant(session, {**data, **fields})
    for day, minutes in sessions:
        participants.add_session(
            session, participant, held_on=day, minutes=minutes, counsellor=counsellor
        )
    if exit_on is not None:
        participants.record_exit(session, participant, exit_on=exit_on, outcome=outcome)
    return participant


def make_list(
    session: Session,
    *,
    name: str | None = None,
    slug: str | None = None,
    consent_text: str = "Ich möchte den Newsletter erhalten.",
    **fields: Any,
) -> NewsletterList:
    """A newsletter list with version 1 of its consent text (through the newsletter service)."""
    n = next(_counter)
    return create_list(
        session,
        name=name or f"Newsletter {n}",
        slug=slug or f"liste-{n}",
        consent_text=consent_text,
        **fields,
    )


def make_event(
    session: Session,
    *,
    title: str = "Informationsabend Anerkennung",
    day: date | None = None,
    registration_open: bool = False,
    capacity: int | None = None,
    deadline: datetime | None = None,
    **settings: Any,
) -> Event:
    """A single-date event (18:00–20:00 Berlin), optionally open for public registration."""
    from crm.events import service as event_service

    day = day or date(2027, 3, 10)
    event = event_service.create_event(
        session,
        event_service.EventData(
            kind="information",
            title=title,
            start_local=datetime.combine(day, time(18)),
            end_local=datetime.combine(day, time(20)),
            place="IQ Beratungsstelle, Magdeburg",
        ),
    )
    event.registration_open = registration_open
    event.registration_capacity = capacity
    event.registration_deadline = deadline
    for key, value in settings.items():
        setattr(event, key, value)
    session.flush()
    return event
