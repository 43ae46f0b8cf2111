"""Demo events and follow-ups: a fair with staff slots and a lead, series, follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.contacts.demo import OUTDATED_EMAIL
from crm.contacts.models import Affiliation, Organisation, Person
from crm.events import service
from crm.events.models import Event, EventContact, EventRegistration, Lead
from crm.events.series import BERLIN, to_utc
from crm.followups.service import create_followup


def seed_events(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """A job fair next month, an information event today, series, follow-ups (two overdue)."""
    users = {u.email.split("@")[0]: u for u in session.scalars(sa.select(User))}
    staff = users.get("assistenz")
    counsellor = users.get("beratung")
    if staff is None or counsellor is None:
        return {}
    hdw = session.scalar(
        sa.select(Organisation).where(Organisation.name.like("Haus der Wirtschaft%"))
    )
    now = datetime.now(UTC)
    today = now.astimezone(BERLIN).date()
    fair_day = today + timedelta(days=21)
    fair = service.create_event(
        session,
        service.EventData(
            kind="fair",
            title="Jobmesse Magdeburg",
            start_local=datetime.combine(fair_day, time(9)),
            end_local=datetime.combine(fair_day, time(16)),
            place="Messe Magdeburg, Halle 2",
            responsible_id=staff.id,
        ),
    )
    service.add_default_checklist(session, fair)
    service.add_slot(
        session,
        fair,
        staff,
        to_utc(datetime.combine(fair_day, time(9))),
        to_utc(datetime.combine(fair_day, time(12, 30))),
    )
    service.add_slot(
        session,
        fair,
        counsellor,
        to_utc(datetime.combine(fair_day, time(12, 30))),
        to_utc(datetime.combine(fair_day, time(16))),
    )
    # The administrator helps at the fair too, so the first login's calendar shows a duty.
    admin = users.get("admin")
    if admin is not None:
        service.add_slot(
            session,
            fair,
            admin,
            to_utc(datetime.combine(fair_day, time(10))),
            to_utc(datetime.combine(fair_day, time(13))),
        )
    service.capture_lead(
        session,
        fair,
        service.LeadData(
            first_name="Katrin",
            last_name="Wolff",
            email="k.wolff@example.org",
            organisation_name="Elbe Logistik GmbH",
            postcode="39126",
            note="Sucht zwei Berufskraftfahrer; Rückruf nach der Messe.",
        ),
        captured_by=staff,
        assignee=counsellor,
        now=now,
    )
    service.create_series(
        session,
        service.EventData(
            kind="presentation",
            title="Präsentation im Haus der Wirtschaft",
            start_local=_first_tuesday(today),
            end_local=_first_tuesday(today) + timedelta(hours=2),
            place="Haus der Wirtschaft, Magdeburg",
            organiser_id=hdw.id if hdw else None,
            responsible_id=counsellor.id,
        ),
        "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1TU",
        today=today,
        horizon_days=365,
    )
    start = datetime.combine(today + timedelta(days=(2 - today.weekday()) % 7), time(14))
    service.create_series(
        session,
        service.EventData(
            kind="coordination",
            title="Abstimmung mit dem Jobcenter",
            start_local=start,
            end_local=start + timedelta(hours=1),
            place="Jobcenter Magdeburg",
            responsible_id=counsellor.id,
        ),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        today=today,
        horizon_days=180,
    )
    # Today: an information event with the counsellor on duty, so "Mein Tag" has a duty.
    info = service.create_event(
        session,
        service.EventData(
            kind="information",
            title="Infoveranstaltung Berufsanerkennung",
            start_local=datetime.combine(today, time(15)),
            end_local=datetime.combine(today, time(17)),
            place="Geschäftsstelle Magdeburg, Raum 2",
            responsible_id=counsellor.id,
        ),
    )
    service.add_slot(
        session,
        info,
        counsellor,
        to_utc(datetime.combine(today, time(15))),
        to_utc(datetime.combine(today, time(17))),
    )
    _seed_past_events(session, today, staff, counsellor)
    for days, subject, who in (
        (-2, "Teilnahmebestätigung an die Kammer schicken", counsellor),
        (-1, "Lebenslauf für die Bewerbung durchsehen", counsellor),
        (0, "Rückruf Anerkennungsberatung", counsellor),
        (3, "Messestand bestätigen", staff),
        (10, "Flyer nachbestellen", staff),
        # The administrator has one too, so "Mein Tag" and the follow-up pages are not empty
        # for whoever logs in first with the demo data.
        (1, "Zugänge der neuen Kolleginnen prüfen", users.get("admin") or staff),
    ):
        create_followup(
            session,
            subject=subject,
            due_date=today + timedelta(days=days),
            assignee=who,
            created_by=who,
        )
    create_followup(
        session,
        subject="Monatsstatistik an die Projektleitung",
        due_date=today + timedelta(days=5),
        assignee=counsellor,
        repeat_every=1,
        repeat_unit="months",
    )
    return {"events": session.scalar(sa.select(sa.func.count()).select_from(service.Event)) or 0}


def _seed_past_events(session: Session, today, staff: User, counsellor: User) -> None:
    """Dates that are over: the events list's "past events" and the calendar's last months."""
    for days, kind, title, place, who in (
        (-45, "fair", "Ausbildungsmesse Burg", "Stadthalle Burg", staff),
        (-20, "workshop", "Workshop Bewerbungsunterlagen", "Geschäftsstelle Magdeburg", counsellor),
        (-9, "steering", "Lenkungskreis Netzwerk", "Ministerium, Magdeburg", counsellor),
    ):
        day = today + timedelta(days=days)
        event = service.create_event(
            session,
            service.EventData(
                kind=kind,
                title=title,
                start_local=datetime.combine(day, time(10)),
                end_local=datetime.combine(day, time(14)),
                place=place,
                responsible_id=who.id,
            ),
        )
        if kind == "fair":
            service.add_slot(
                session,
                event,
                who,
                to_utc(datetime.combine(day, time(10))),
                to_utc(datetime.combine(day, time(14))),
            )
            _seed_fair_attendance(session, event)
        elif kind == "workshop":
            _seed_workshop_attendance(session, event)


def _seed_fair_attendance(session: Session, fair: Event) -> None:
    """Known contacts who came (one did not) and a business card collected there as a lead:
    the figures page's data. The card is the contacts' duplicate record (tagged
    "Visitenkarte"), so the fair's page also leads to the person its twin should merge with."""
    twin = session.scalar(sa.select(Person).where(Person.email == OUTDATED_EMAIL))
    original = (
        session.scalar(
            sa.select(Person)
            .where(
                Person.first_name == twin.first_name,
                Person.last_name == twin.last_name,
                Person.id != twin.id,
            )
            .order_by(Person.id)
            .limit(1)
        )
        if twin is not None
        else None
    )
    others = list(
        session.scalars(
            sa.select(Person)
            .where(
                Person.id.in_(sa.select(Affiliation.person_id)),
                Person.id.not_in([p.id for p in (twin, original) if p is not None]),
            )
            .order_by(Person.id)
            .limit(3)
        )
    )
    people = ([original] if original is not None else []) + others
    for person, status in zip(
        people, ("attended", "attended", "attended", "no_show"), strict=False
    ):
        session.add(EventContact(event_id=fair.id, person_id=person.id, status=status))
    if twin is not None:
        employer = session.scalar(
            sa.select(Affiliation.organisation_id).where(Affiliation.person_id == twin.id).limit(1)
        )
        session.add(
            Lead(
                event_id=fair.id,
                person_id=twin.id,
                organisation_id=employer,
                note="Visitenkarte am Stand; Interesse an Praktikumsplätzen.",
                created_at=fair.ends_at,
            )
        )


def _seed_workshop_attendance(session: Session, workshop: Event) -> None:
    """Public registrations of a past workshop: three came, one did not, one cancelled."""
    for name, status, organisation in (
        ("Samira Nouri", "attended", "Stadtwerke Burg"),
        ("Oleksandr Bondar", "attended", ""),
        ("Mariam Tesfaye", "attended", "Kita Sonnenschein"),
        ("Pedro Alves", "no_show", ""),
        ("Hana Novak", "cancelled", ""),
    ):
        email = name.lower().replace(" ", ".") + "@example.org"
        session.add(
            EventRegistration(
                event_id=workshop.id,
                name=name,
                email=email,
                email_key=email,
                organisation=organisation,
                status=status,
                queued_at=workshop.starts_at - timedelta(days=7),
                checked_in_at=workshop.starts_at if status == "attended" else None,
                cancelled_at=workshop.starts_at - timedelta(days=1)
                if status == "cancelled"
                else None,
            )
        )


def _first_tuesday(today) -> datetime:
    """10:00 on the first Tuesday of the next quarter month (Jan, Apr, Jul, Oct)."""
    month = ((today.month - 1) // 3 + 1) * 3 + 1
    year = today.year + (month > 12)
    month = month - 12 if month > 12 else month
    first = datetime(year, month, 1, 10, 0)
    return first + timedelta(days=(1 - first.weekday()) % 7)


def seed_registrations(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """A workshop in two weeks with public registration open: its seats taken, one person on
    the waiting list, one of them a known contact (linked)."""
    from crm.events import registration as reg

    now = datetime.now(UTC)
    day = now.astimezone(BERLIN).date() + timedelta(days=14)
    workshop = service.create_event(
        session,
        service.EventData(
            kind="workshop",
            title="Workshop: Bewerben in Deutschland",
            start_local=datetime.combine(day, time(10)),
            end_local=datetime.combine(day, time(13)),
            place="IQ Beratungsstelle Magdeburg, Raum 1.12",
            description=(
                "Lebenslauf, Anschreiben und Vorstellungsgespräch: ein Vormittag mit "
                "Übungen für Fachkräfte mit ausländischem Berufsabschluss."
            ),
        ),
    )
    reg.save_settings(
        workshop,
        reg.Settings(
            open=True,
            capacity=4,
            deadline=to_utc(datetime.combine(day - timedelta(days=2), time(12))),
            ask_organisation=True,
            ask_dietary=True,
        ),
    )
    known = session.scalar(sa.select(Person).where(Person.email != "").order_by(Person.id))
    people = [
        ("Amina Haddad", "amina.haddad@example.org", "", "vegetarisch"),
        ("Dmytro Koval", "dmytro.koval@example.org", "Stadtwerke Burg", ""),
        ("Lucía Fernández", "lucia.fernandez@example.org", "", ""),
        ("Tran Van Minh", "tran.minh@example.org", "", "kein Schweinefleisch"),
        ("Goran Petrović", "goran.petrovic@example.org", "", ""),
    ]
    if known is not None:
        people[2] = (known.full_name, known.email, "", "")
    for name, email, organisation, dietary in people:
        reg.register(
            session,
            workshop.id,
            reg.RegistrationData(
                name=name,
                email=email,
                organisation=organisation,
                dietary=dietary,
                share_consent=bool(organisation),
            ),
            now=now - timedelta(days=1),
            consent_text=(
                "Ich bin einverstanden, dass mein Name und meine Organisation in der "
                "Teilnehmendenliste an die Mitveranstalter dieser Veranstaltung weitergegeben "
                "werden."
            ),
            # Demo data queues no mail: these addresses belong to nobody.
            mail=None,
        )
    past = _past_information_evening(session, now)
    return {"registrations": len(people) + past}


def _past_information_evening(session: Session, now: datetime) -> int:
    """An information evening last week: two attendees checked in, one did not come, so the
    thank-you mail and the attendance figures have something to show."""
    from crm.events import registration as reg

    day = now.astimezone(BERLIN).date() - timedelta(days=7)
    event = service.create_event(
        session,
        service.EventData(
            kind="information",
            title="Infoabend: Anerkennung ausländischer Abschlüsse",
            start_local=datetime.combine(day, time(17)),
            end_local=datetime.combine(day, time(19)),
            place="IQ Beratungsstelle Magdeburg, Raum 1.12",
        ),
    )
    reg.save_settings(event, reg.Settings(open=True, capacity=20, deadline=None))
    rows = [
        reg.register(
            session,
            event.id,
            reg.RegistrationData(name=name, email=email),
            now=event.starts_at - timedelta(days=5),
            consent_text="",
            mail=None,
        ).registration
        for name, email in (
            ("Samir Aziz", "samir.aziz@example.org"),
            ("Olena Bondar", "olena.bondar@example.org"),
            ("Keita Mamadou", "keita.mamadou@example.org"),
        )
    ]
    for row in rows[:2]:
        reg.check_in(session, row, event.starts_at)
    reg.mark_no_shows(session, event.id, now)
    event.registration_open = False
    session.flush()
    return len(rows)
