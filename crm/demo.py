"""German demo data for a first look: users for every role, branch offices, partners."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.accounts.service import create_user
from crm.audit.service import Actor, acting_as
from crm.contacts.demo import seed_contacts
from crm.events.demo import seed_events
from crm.offices.service import create_office
from crm.participants.demo import seed_participants

DEMO_PASSWORD = "Magdeburg-Demo-2026"  # noqa: S105 - documented demo login, dev only
OFFICES = ("Magdeburg", "Aschersleben", "Burg", "Genthin", "Schönebeck")
DEMO_USERS = (
    ("admin@demo.netzwerk-crm.de", "Anna Admin", "admin", "Magdeburg"),
    ("leitung@demo.netzwerk-crm.de", "Lutz Leitung", "lead", "Magdeburg"),
    ("beratung@demo.netzwerk-crm.de", "Bettina Beratung", "counsellor", "Magdeburg"),
    ("beratung.burg@demo.netzwerk-crm.de", "Bernd Berater", "counsellor", "Burg"),
    ("assistenz@demo.netzwerk-crm.de", "Asja Assistenz", "staff", "Magdeburg"),
    ("lesen@demo.netzwerk-crm.de", "Lea Lesend", "readonly", "Schönebeck"),
)
# Outreach counselling: Bernd also counsels in Genthin.
DEMO_FURTHER_OFFICES = {"beratung.burg@demo.netzwerk-crm.de": ("Genthin",)}

# Partners named in the source documents (../shared/seeds): kind, name, city.
PARTNERS = (
    ("recognition", "Anerkennungsberatung Nord", "Magdeburg"),
    ("recognition", "Anerkennungs- und Qualifizierungsberatung Süd", "Magdeburg"),
    ("association", "Haus der Wirtschaft Magdeburg", "Magdeburg"),
    ("jobcentre", "Jobcenter Landeshauptstadt Magdeburg", "Magdeburg"),
    ("jobcentre", "Jobcenter Salzlandkreis", "Aschersleben"),
    ("jobcentre", "Jobcenter Jerichower Land", "Burg"),
    ("employment_agency", "Agentur für Arbeit Magdeburg", "Magdeburg"),
    ("education", "Kreisvolkshochschule Jerichower Land", "Genthin"),
    ("education", "Regionales Bildungszentrum Eckert gGmbH", "Magdeburg"),
    ("education", "DEKRA Akademie GmbH", "Magdeburg"),
    ("education", "Studieninstitut für kommunale Verwaltung Sachsen-Anhalt (Sikosa)", "Magdeburg"),
    ("authority", "INTERAMT – Karriereportal des öffentlichen Dienstes", "Bonn"),
    ("partner", "Weiterbildungsagentur Sachsen-Anhalt", "Magdeburg"),
    ("chamber", "Handwerkskammer Magdeburg", "Magdeburg"),
    ("chamber", "IHK Magdeburg", "Magdeburg"),
    ("association", "Kreishandwerkerschaft Magdeburg", "Magdeburg"),
    (
        "authority",
        "Landeshauptstadt Magdeburg – Dezernat für Wirtschaft (Relocation Service)",
        "Magdeburg",
    ),
    (
        "authority",
        "Ministerium für Arbeit, Soziales, Gesundheit und Gleichstellung Sachsen-Anhalt",
        "Magdeburg",
    ),
    ("partner", "IQ Netzwerk Sachsen-Anhalt", "Magdeburg"),
    ("education", "Schweriner Ausbildungszentrum e.V.", "Schwerin"),
)

# Extra seeders registered by domain modules (contacts adds the partner organisations, …).
SEEDERS: list = [seed_contacts, seed_participants, seed_events]


def _seed_newsletters(session: Session, offices: dict) -> dict[str, int]:
    from crm.newsletters.demo import seed_newsletters

    return seed_newsletters(session, offices)


SEEDERS.append(_seed_newsletters)


def _seed_placements(session: Session, offices: dict) -> dict[str, int]:
    from crm.placements.demo import seed_placements

    return seed_placements(session, offices)


SEEDERS.append(_seed_placements)


def _seed_esf(session: Session, offices: dict) -> dict[str, int]:
    from crm.esf.demo import seed_esf

    return seed_esf(session, offices)


SEEDERS.append(_seed_esf)


def _seed_surveys(session: Session, offices: dict) -> dict[str, int]:
    from crm.surveys.demo import seed_surveys

    return seed_surveys(session, offices)


SEEDERS.append(_seed_surveys)


def _seed_intake(session: Session, offices: dict) -> dict[str, int]:
    from crm.intake.demo import seed_intake

    return seed_intake(session, offices)


# Before the mail seeder: the inquiries' acknowledgements go out with the other demo mail.
SEEDERS.append(_seed_intake)


def _seed_registrations(session: Session, offices: dict) -> dict[str, int]:
    from crm.events.demo import seed_registrations

    return seed_registrations(session, offices)


SEEDERS.append(_seed_registrations)


def _seed_absences(session: Session, offices: dict) -> dict[str, int]:
    from crm.accounts.demo import seed_absences

    return seed_absences(session, offices)


SEEDERS.append(_seed_absences)


def _seed_mail(session: Session, offices: dict) -> dict[str, int]:
    from crm.outbox.demo import seed_mail

    return seed_mail(session)


# Last: it sends what the others queued (reminders, the started campaign).
SEEDERS.append(_seed_mail)


def is_empty(session: Session) -> bool:
    """True if no user exists yet."""
    return (session.scalar(sa.select(sa.func.count(User.id))) or 0) == 0


def seed(session: Session) -> dict[str, int]:
    """Insert the demo data; the caller commits."""
    with acting_as(Actor(None, "seed-demo")):
        offices = {
            name: create_office(session, name, city=name, is_head_office=i == 0)
            for i, name in enumerate(OFFICES)
        }
        for email, name, role, office_name in DEMO_USERS:
            create_user(
                session,
                email=email,
                display_name=name,
                password=DEMO_PASSWORD,
                role=role,
                office=offices[office_name],
                other_offices=[offices[o] for o in DEMO_FURTHER_OFFICES.get(email, ())],
            )
        counts = {"offices": len(offices), "users": len(DEMO_USERS)}
        for seeder in SEEDERS:
            counts.update(seeder(session, offices))
        return counts
