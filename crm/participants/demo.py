"""Demo participants: about 40 people in counselling across the five offices, with sessions in
2026 so that some count as entered and some have left, releases, referrals and checklists."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.accounts.service import create_user
from crm.contacts.models import Organisation
from crm.participants import service
from crm.participants.models import ACQUISITION_CHANNELS

# Counsellors for the branch offices that have none among the base demo users.
EXTRA_COUNSELLORS = (
    ("beratung.aschersleben@demo.netzwerk-crm.de", "Aylin Arslan", "Aschersleben"),
    ("beratung.genthin@demo.netzwerk-crm.de", "Gregor Gentz", "Genthin"),
    ("beratung.schoenebeck@demo.netzwerk-crm.de", "Sabine Schönfeld", "Schönebeck"),
)
# first name, last name, country, profession, learned in, target field
PEOPLE = (
    ("Amal", "Haddad", "Syrien", "Bauingenieur", "Universität Damaskus", "Bauverwaltung"),
    ("Olena", "Kovalenko", "Ukraine", "Buchhalterin", "Kyjiw", "Öffentliche Verwaltung"),
    ("Rahul", "Menon", "Indien", "IT-Systemadministrator", "Kochi", "IT im öffentlichen Dienst"),
    ("Jānis", "Ozoliņš", "Lettland", "Krankenpfleger", "Riga", "Pflege"),
    ("Mariam", "Al-Khatib", "Syrien", "Apothekerin", "Aleppo", "Gesundheitswesen"),
    ("Dmytro", "Shevchenko", "Ukraine", "Elektriker", "Charkiw", "Handwerk"),
    ("Priya", "Nair", "Indien", "Softwareentwicklerin", "Bengaluru", "IT"),
    ("Ahmad", "Rahimi", "Afghanistan", "Lehrer", "Kabul", "Schule und Bildung"),
    ("Fatima", "Yilmaz", "Türkei", "Betriebswirtin", "Ankara", "Öffentliche Verwaltung"),
    ("Kateryna", "Bondarenko", "Ukraine", "Ärztin", "Lwiw", "Gesundheitswesen"),
    ("Samir", "Benali", "Marokko", "Maschinenbautechniker", "Casablanca", "Industrie"),
    ("Lucía", "Fernández", "Venezuela", "Architektin", "Caracas", "Bauverwaltung"),
    ("Oksana", "Melnyk", "Ukraine", "Erzieherin", "Odessa", "Kindertagesstätten"),
    ("Yusuf", "Abdi", "Somalia", "Kfz-Mechaniker", "Mogadischu", "Handwerk"),
    ("Anh", "Nguyen", "Vietnam", "Pflegefachkraft", "Hanoi", "Pflege"),
    ("Karim", "Haidari", "Iran", "Wirtschaftsinformatiker", "Teheran", "IT"),
    ("Irina", "Popescu", "Rumänien", "Zahnärztin", "Cluj-Napoca", "Gesundheitswesen"),
    ("Tariq", "Mansour", "Syrien", "Jurist", "Damaskus", "Öffentliche Verwaltung"),
    ("Natalia", "Kowalska", "Polen", "Physiotherapeutin", "Posen", "Gesundheitswesen"),
    ("Arjun", "Reddy", "Indien", "Elektroingenieur", "Hyderabad", "Energie"),
    ("Hanna", "Tkachenko", "Ukraine", "Verwaltungsfachangestellte", "Dnipro", "Verwaltung"),
    ("Omar", "Saleh", "Jemen", "Bauzeichner", "Sanaa", "Bauverwaltung"),
    ("Elif", "Demir", "Türkei", "Bankkauffrau", "Izmir", "Finanzverwaltung"),
    ("Ivan", "Petrenko", "Ukraine", "Schweißer", "Saporischschja", "Metallbau"),
    ("Leila", "Karimi", "Iran", "Chemikerin", "Isfahan", "Labor"),
    ("Moses", "Okafor", "Nigeria", "Bauingenieur", "Lagos", "Bauverwaltung"),
    ("Ana", "Silva", "Brasilien", "Sozialarbeiterin", "São Paulo", "Soziale Arbeit"),
    ("Ravi", "Sharma", "Indien", "Data Analyst", "Pune", "IT im öffentlichen Dienst"),
    ("Liga", "Bērziņa", "Lettland", "Krankenpflegerin", "Daugavpils", "Pflege"),
    ("Hussein", "Jaber", "Irak", "Tischler", "Bagdad", "Handwerk"),
    ("Svitlana", "Hrytsenko", "Ukraine", "Ökonomin", "Poltawa", "Öffentliche Verwaltung"),
    ("Kwame", "Mensah", "Ghana", "Agraringenieur", "Kumasi", "Landwirtschaft"),
    ("Nour", "El-Din", "Ägypten", "Tierärztin", "Kairo", "Veterinärwesen"),
    ("Marek", "Novák", "Tschechien", "Koch", "Brünn", "Gastronomie"),
    ("Zainab", "Hussaini", "Afghanistan", "Hebamme", "Herat", "Gesundheitswesen"),
    ("Viktor", "Ivanov", "Bulgarien", "Lkw-Mechatroniker", "Plowdiw", "Handwerk"),
    ("Sofia", "Gonzalez", "Kolumbien", "Psychologin", "Bogotá", "Soziale Arbeit"),
    ("Ali", "Haidar", "Syrien", "Zahntechniker", "Homs", "Gesundheitshandwerk"),
    ("Yuliia", "Savchenko", "Ukraine", "Lehrerin", "Tschernihiw", "Schule und Bildung"),
    ("Deepak", "Iyer", "Indien", "Maschinenbauingenieur", "Chennai", "Industrie"),
)
# The women among PEOPLE (the professions above are in their form); everyone else is a man.
WOMEN = frozenset(
    {
        "Olena", "Mariam", "Priya", "Fatima", "Kateryna", "Lucía", "Oksana", "Irina", "Natalia",
        "Hanna", "Elif", "Leila", "Ana", "Liga", "Svitlana", "Nour", "Zainab", "Sofia", "Yuliia",
    }
)  # fmt: skip


def _gender(first: str, rng: random.Random) -> str:
    """The gender that fits the name and profession ("Mariam, Apothekerin" read "männlich").

    Still takes the draw the demo used to make here, so every later random choice, and with it
    the rest of the demo data, stays the same.
    """
    rng.choice(("female", "male"))
    return "female" if first in WOMEN else "male"


RECOGNISING_BODIES = (
    "Landesverwaltungsamt Sachsen-Anhalt",
    "IHK FOSA",
    "Handwerkskammer Magdeburg",
    "Landesschulamt Sachsen-Anhalt",
    "",
)


def seed_participants(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """Create demo participants with sessions, exits, releases, referrals (demo only)."""
    from crm.demo import DEMO_PASSWORD  # crm.demo imports this module

    rng = random.Random(4)  # noqa: S311 - demo data, not security
    for email, name, office in EXTRA_COUNSELLORS:
        create_user(
            session,
            email=email,
            display_name=name,
            password=DEMO_PASSWORD,
            role="counsellor",
            office=offices[office],
        )
    session.flush()
    counsellors: dict[int | None, list[User]] = {}
    for u in session.scalars(sa.select(User).where(User.role == "counsellor").order_by(User.id)):
        counsellors.setdefault(u.office_id, []).append(u)
    lead = session.scalar(sa.select(User).where(User.role == "lead").order_by(User.id))
    if lead is None:
        raise ValueError("the participant demo needs a lead user (crm.demo.DEMO_USERS)")
    partners = list(
        session.scalars(
            sa.select(Organisation).where(Organisation.kind != "employer").order_by(Organisation.id)
        )
    )
    office_list = list(offices.values())
    today = date.today()
    year_start = date(today.year, 1, 5)
    counts = {"participants": 0, "counselling_sessions": 0}
    for i, (first, last, country, profession, where, target) in enumerate(PEOPLE):
        office = office_list[i % len(office_list)]
        counsellor = (counsellors.get(office.id) or [lead])[0]
        first_contact = year_start + timedelta(days=rng.randrange(0, 280))
        if first_contact > today:
            first_contact = today
        referrer = rng.choice(partners) if partners and rng.random() < 0.7 else None
        # A few recent entries lack data on purpose, so the deadline warnings show up.
        complete = i % 9 != 4
        p = service.save_participant(
            session,
            {
                "first_name": first,
                "last_name": last,
                "country_of_origin": country,
                "profession": profession,
                "profession_learned_in": where,
                "recognition_status": rng.choice(
                    ("not_started", "in_progress", "in_progress", "partial", "full")
                ),
                "recognising_body": rng.choice(RECOGNISING_BODIES),
                "language_level": rng.choice(("A2", "B1", "B1", "B2", "C1")) if complete else "",
                "target_field": target if complete else "",
                "office_id": office.id,
                "counsellor_id": counsellor.id,
                "acquisition_channel": rng.choice(ACQUISITION_CHANNELS),
                "referring_organisation_id": referrer.id if referrer else None,
                "first_contact_on": first_contact,
                "city": office.name,
                "gender": _gender(first, rng),
                "birth_year": rng.randrange(1970, 2002),
            },
        )
        counts["participants"] += 1
        if i % 4 == 0:
            # A phone call before the first session, so the timeline shows the contact log.
            service.add_contact(
                session,
                p,
                kind="call",
                happened_at=datetime.combine(first_contact, time(10, 30), tzinfo=service.BERLIN),
                duration_minutes=15,
                note="Terminabsprache für das Erstgespräch",
                user=counsellor,
            )
        # Weekly-ish sessions of 45 to 120 minutes; some stop before 8 hours.
        n_sessions = rng.choice((2, 3, 5, 6, 7, 8, 9, 10, 12))
        day = first_contact
        for _ in range(n_sessions):
            if day > today:
                break
            service.add_session(
                session,
                p,
                held_on=day,
                minutes=rng.choice((45, 60, 60, 90, 90, 120)),
                counsellor=counsellor,
            )
            counts["counselling_sessions"] += 1
            day += timedelta(days=rng.choice((5, 7, 7, 10, 14)))
        if p.entry_on and rng.random() < 0.45:
            exit_on = min(p.entry_on + timedelta(days=rng.randrange(20, 120)), today)
            outcome = rng.choice(
                ("employment", "employment", "qualification", "recognition", "moved_away", "")
            )
            service.record_exit(session, p, exit_on=exit_on, outcome=outcome)
        if partners and rng.random() < 0.5:
            partner = rng.choice(partners)
            release = service.add_release(
                session,
                p,
                organisation=partner,
                granted_on=first_contact,
                scope="Weitergabe von Kontaktdaten und Qualifikationsnachweisen zur Vermittlung",
                expires_on=first_contact + timedelta(days=365),
            )
            service.create_referral(
                session,
                p,
                organisation=partner,
                referred_on=min(release.granted_on + timedelta(days=rng.randrange(0, 30)), today),
                direction="to",
                purpose="Anerkennungsberatung" if partner.kind == "recognition" else "Vermittlung",
                status="sent",
            )
        for item in service.checklist(session, p)[: rng.randrange(0, 6)]:
            service.update_support_item(
                session,
                item,
                status=rng.choice(("done", "done", "in_progress", "not_needed")),
                due_on=first_contact + timedelta(days=rng.randrange(7, 90)),
                today=today,
            )
    _seed_close_to_entry(session, today, counts)
    session.flush()
    return counts


def _seed_close_to_entry(session: Session, today: date, counts: dict[str, int]) -> None:
    """One participant of the demo counsellor at 7:30 hours, so "Mein Tag" lists someone."""
    counsellor = session.scalar(
        sa.select(User).where(User.email == "beratung@demo.netzwerk-crm.de")
    )
    if counsellor is None or counsellor.office_id is None:
        return
    p = service.save_participant(
        session,
        {
            "first_name": "Farida",
            "last_name": "Sultani",
            "country_of_origin": "Afghanistan",
            "profession": "Krankenpflegerin",
            "recognition_status": "in_progress",
            "office_id": counsellor.office_id,
            "counsellor_id": counsellor.id,
            "acquisition_channel": "other",
            "first_contact_on": today - timedelta(days=35),
        },
    )
    counts["participants"] += 1
    for weeks_ago, minutes in ((5, 120), (3, 150), (1, 180)):
        service.add_session(
            session,
            p,
            held_on=today - timedelta(weeks=weeks_ago),
            minutes=minutes,
            counsellor=counsellor,
        )
        counts["counselling_sessions"] += 1
