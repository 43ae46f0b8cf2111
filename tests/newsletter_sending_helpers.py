"""Test data for the campaign and outbox tests: a list, subscribers, a campaign."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
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


def prepared_campaign(
    make_database: Any, tmp_path: Path, recipients: int
) -> tuple[str, Any, list[str]]:
    """A fresh, migrated database (own engine, not the tests' rolled-back transaction) with
    one started campaign; returns url, app, addresses."""
    from flask_migrate import upgrade

    from crm.extensions import db
    from crm.newsletters import campaigns as svc
    from tests.conftest import build_app

    url = make_database()
    app = build_app(url, str(tmp_path))
    with app.app_context():
        upgrade()
        nl = make_list(db.session)
        people = make_subscribers(db.session, nl, recipients)
        campaign = make_campaign(db.session, nl)
        svc.start_campaign(db.session, campaign)
        db.session.commit()
        emails = [p.email for p in people]
        db.session.remove()
    return url, app, emails


def started_campaign(session: Session, recipients: int) -> tuple[Campaign, list[Person]]:
    """A list with `recipients` confirmed subscribers and its started campaign (committed)."""
    from crm.newsletters import campaigns as svc

    nl = make_list(session)
    people = make_subscribers(session, nl, recipients)
    campaign = make_campaign(session, nl)
    svc.start_campaign(session, campaign)
    session.commit()
    return campaign, people


def sender_process(
    url: str, server: Any, tmp_path: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """`flask crm send-outbox` as a process of its own on `url`, mailing to `server`."""
    env = {
        **os.environ,
        "CRM_ENV": "testing",
        "CRM_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": url,
        "CRM_MAIL_TRANSPORT": "smtp",
        "CRM_SMTP_HOST": server.host,
        "CRM_SMTP_PORT": str(server.port),
        "CRM_SMTP_SECURITY": "none",
        "CRM_SMTP_TIMEOUT": "10",
        "CRM_NEWSLETTER_LEASE_SECONDS": "1",
        "CRM_NEWSLETTER_BACKOFF_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "send-outbox"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
