"""Test data for the campaign and outbox tests: a list, subscribers, a campaign."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from crm.contacts.models import Person
from crm.database import utcnow
from crm.newsletters.models import Campaign, NewsletterList, Subscription


def make_list(session: Session) -> NewsletterList:
    token = secrets.token_hex(4)
    nl = NewsletterList(name=f"Newsletter {token}", slug=f"nl-{token}")
    session.add(nl)
    session.flush()
    return nl


def make_person(
    session: Session, email: str, first: str = "Jürgen", last: str = "Müller"
) -> Person:
    person = Person(
        salutation="herr",
        first_name=first,
        last_name=last,
        name_key=f"{last} {first}".lower(),
        email=email,
    )
    session.add(person)
    session.flush()
    return person


def subscribe(
    session: Session, nl: NewsletterList, person: Person, status: str = "confirmed"
) -> None:
    now = utcnow()
    session.add(
        Subscription(
            list_id=nl.id,
            person_id=person.id,
            status=status,
            source="paper",
            requested_at=now,
            confirmed_at=now if status in ("confirmed", "unsubscribed", "bounced") else None,
            unsubscribed_at=now if status == "unsubscribed" else None,
            bounced_at=now if status == "bounced" else None,
        )
    )
    session.flush()


def make_subscribers(
    session: Session, nl: NewsletterList, n: int, prefix: str = "p"
) -> list[Person]:
    people = []
    tag = secrets.token_hex(3)
    for i in range(n):
        person = make_person(session, f"{prefix}{i}.{tag}@example.org", first=f"Vorname{i}")
        subscribe(session, nl, person)
        people.append(person)
    return people


def make_campaign(session: Session, nl: NewsletterList, **kwargs: Any) -> Campaign:
    values: dict[str, Any] = {
        "name": "Herbst-Newsletter",
        "list_id": nl.id,
        "subject": "Neuigkeiten für {{ vorname }} – Größe & Qualität",
        "body_text": "Hallo {{ anrede }} {{ nachname }},\nes gibt Neues.\n",
        "body_html": "<p>Hallo {{ anrede }} {{ nachname }},</p><p>es gibt Neues.</p>",
    }
    values.update(kwargs)
    campaign = Campaign(**values)
    session.add(campaign)
    session.flush()
    return campaign
