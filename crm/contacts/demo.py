"""Demo contacts: the partner organisations, employers around Magdeburg, people, history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.audit.service import Actor
from crm.contacts import import_jobs, importer, lists, service
from crm.contacts.models import Organisation, Person
from crm.jobs import queue
from crm.jobs.models import BackgroundJob

# name, sector, size class, street, postcode, city, region, e-mail, tags
EMPLOYERS: tuple[tuple[str, str, str, str, str, str, str, str, list[str]], ...] = (
    (
        "Bäckerei Schäfer GmbH",
        "Lebensmittelhandwerk",
        "10-49",
        "Große Diesdorfer Straße 12",
        "39108",
        "Magdeburg",
        "Magdeburg",
        "info@baeckerei-schaefer.example",
        ["Handwerk"],
    ),
    (
        "Elbe-Pflege Schönebeck gGmbH",
        "Altenpflege",
        "50-249",
        "Friedrichstraße 44",
        "39218",
        "Schönebeck (Elbe)",
        "Salzlandkreis",
        "personal@elbe-pflege.example",
        ["Pflege", "Haus der Wirtschaft"],
    ),
    (
        "Metallbau Köhler & Söhne KG",
        "Metallbau",
        "10-49",
        "Grüner Weg 3",
        "39288",
        "Burg",
        "Jerichower Land",
        "kontakt@koehler-metallbau.example",
        ["Handwerk", "Messe"],
    ),
    (
        "Logistikzentrum Börde GmbH",
        "Logistik",
        "250+",
        "Sülzeweg 20",
        "39126",
        "Magdeburg",
        "Magdeburg",
        "jobs@lz-boerde.example",
        ["Messe"],
    ),
    (
        "Genthiner Glas- und Gebäudereinigung",
        "Gebäudereinigung",
        "10-49",
        "Brandenburger Straße 7",
        "39307",
        "Genthin",
        "Jerichower Land",
        "info@ggg-genthin.example",
        [],
    ),
    (
        "Autohaus Müller Aschersleben",
        "Kfz-Handel und -Service",
        "50-249",
        "Hecklinger Straße 81",
        "06449",
        "Aschersleben",
        "Salzlandkreis",
        "service@autohaus-mueller.example",
        ["Haus der Wirtschaft"],
    ),
    (
        "Klinikum Magdeburg-Süd",
        "Gesundheitswesen",
        "250+",
        "Birkenallee 34",
        "39130",
        "Magdeburg",
        "Magdeburg",
        "bewerbung@klinikum-sued.example",
        ["Pflege", "Messe"],
    ),
    (
        "Gärtnerei Weiß",
        "Garten- und Landschaftsbau",
        "1-9",
        "Am Mühlengraben 5",
        "39218",
        "Schönebeck (Elbe)",
        "Salzlandkreis",
        "",
        [],
    ),
    (
        "Hotel Zur Börde",
        "Gastgewerbe",
        "10-49",
        "Breiter Weg 201",
        "39104",
        "Magdeburg",
        "Magdeburg",
        "rezeption@hotel-zur-boerde.example",
        ["Gastro", "Haus der Wirtschaft"],
    ),
    (
        "Elektro Straßburg GmbH",
        "Elektrohandwerk",
        "10-49",
        "Schützenstraße 9",
        "39288",
        "Burg",
        "Jerichower Land",
        "info@elektro-strassburg.example",
        ["Handwerk"],
    ),
)

# salutation, title, first, last, e-mail local part or "", index into EMPLOYERS, function
PEOPLE = (
    ("frau", "", "Jutta", "Schäfer", "j.schaefer", 0, "Geschäftsführung"),
    ("herr", "", "Thomas", "Böhme", "t.boehme", 0, "Ansprechpartner"),
    ("frau", "", "Sabine", "Krüger", "personal", 1, "Personal"),
    ("herr", "Dr.", "Matthias", "Weißenborn", "", 1, "Geschäftsführung"),
    ("herr", "", "Jörg", "Köhler", "j.koehler", 2, "Geschäftsführung"),
    ("frau", "", "Anja", "Köhler", "a.koehler", 2, "Personal"),
    ("herr", "", "René", "Günther", "r.guenther", 3, "Personal"),
    ("frau", "", "Doreen", "Lehmann", "d.lehmann", 3, "Ansprechpartner"),
    ("frau", "", "Ilka", "Schröder", "", 4, "Geschäftsführung"),
    ("herr", "", "Steffen", "Müller", "s.mueller", 5, "Geschäftsführung"),
    ("frau", "", "Mandy", "Fuß", "m.fuss", 5, "Personal"),
    ("frau", "Prof. Dr.", "Karin", "Hoß", "k.hoss", 6, "Geschäftsführung"),
    ("herr", "", "Özgür", "Yıldız", "o.yildiz", 6, "Personal"),
    ("herr", "", "Uwe", "Weiß", "", 7, "Geschäftsführung"),
    ("frau", "", "Franziska", "Bär", "f.baer", 8, "Ansprechpartner"),
    ("herr", "", "Maik", "Strauß", "m.strauss", 9, "Geschäftsführung"),
    ("divers", "", "Kim", "Jäger", "k.jaeger", 9, "Ansprechpartner"),
    ("frau", "", "Olena", "Kovalenko", "o.kovalenko", 6, "Ansprechpartner"),
    ("herr", "", "Ahmad", "Haddad", "a.haddad", 3, "Ansprechpartner"),
    ("frau", "", "Grit", "Hübner", "g.huebner", 1, "Ansprechpartner"),
)

# employer index, occupation, count, months needed
NEEDS = (
    (1, "Pflegefachfrau/Pflegefachmann", 4, 6),
    (1, "Pflegehilfskraft", 2, 3),
    (2, "Metallbauer/in Konstruktionstechnik", 1, 2),
    (3, "Berufskraftfahrer/in (CE)", 5, 8),
    (6, "Medizinische/r Fachangestellte/r", 3, 4),
    (8, "Koch/Köchin", 2, 1),
)

# person index (or None), employer index (or None), kind, days ago, subject
ACTIVITIES = (
    (0, None, "call", 3, "Rückruf wegen Praktikumsplatz"),
    (2, None, "meeting", 12, "Vorstellung des Projekts im Haus der Wirtschaft"),
    (None, 1, "note", 20, "Bedarfsabfrage Herbst ausgewertet"),
    (4, None, "email", 40, "Unterlagen zur Anerkennung geschickt"),
    (None, 3, "fair_contact", 60, "Gespräch am Stand auf der Jobmesse Magdeburg"),
    (6, None, "call", 75, "Nachfrage Berufskraftfahrer"),
    (11, None, "presentation", 100, "Vortrag „Fachkräfte aus dem Ausland“"),
    (None, 6, "meeting", 130, "Kooperationsgespräch Pflege"),
    (9, None, "call", 150, "Erstkontakt"),
    (14, None, "email", 200, "Einladung Netzwerktreffen"),
)

_REGIONS = {
    "Magdeburg": "Magdeburg",
    "Aschersleben": "Salzlandkreis",
    "Burg": "Jerichower Land",
    "Genthin": "Jerichower Land",
    "Schönebeck": "Salzlandkreis",
}


def seed_contacts(session: Session, offices: dict[str, Any]) -> dict[str, int]:
    """Create partner organisations, employers, people, needs and activities (demo only)."""
    from crm.demo import PARTNERS  # crm.demo imports this module

    users = list(session.scalars(sa.select(User).order_by(User.id)))
    staff = [u for u in users if u.role in ("staff", "counsellor", "lead")] or users
    now = datetime.now(UTC)
    orgs = []
    for i, (kind, name, city) in enumerate(PARTNERS):
        orgs.append(
            service.save_organisation(
                session,
                {
                    "name": name,
                    "kind": kind,
                    "city": city,
                    "region": _REGIONS.get(city, ""),
                    "owner_id": staff[i % len(staff)].id if staff else None,
                    "tags": ["Netzwerkpartner"],
                },
            )
        )
    # A partner abroad: the country filter, foreign postcode and phone rules have an example.
    orgs.append(
        service.save_organisation(
            session,
            {
                "name": "Stadtverwaltung Daugavpils",
                "kind": "city_administration",
                "street": "Krišjāņa Valdemāra iela 1",
                "postcode": "LV-5401",
                "city": "Daugavpils",
                "country": "LV",
                "phone": "6540 4344",
                "owner_id": staff[0].id if staff else None,
                "tags": ["Netzwerkpartner"],
            },
        )
    )
    employers = []
    for i, (name, sector, size, street, postcode, city, region, email, tags) in enumerate(
        EMPLOYERS
    ):
        employers.append(
            service.save_organisation(
                session,
                {
                    "name": name,
                    "kind": "employer",
                    "sector": sector,
                    "size_class": size,
                    "street": street,
                    "postcode": postcode,
                    "city": city,
                    "region": region,
                    "email": email,
                    "phone": f"+49 391 {5550100 + i}",
                    "owner_id": staff[i % len(staff)].id if staff else None,
                    "tags": ["Arbeitgeber", *tags],
                },
            )
        )
    people = []
    for i, (salutation, title, first, last, local, employer, function) in enumerate(PEOPLE):
        domain = employers[employer].email.split("@")[-1] if employers[employer].email else ""
        person = service.save_person(
            session,
            {
                "salutation": salutation,
                "title": title,
                "first_name": first,
                "last_name": last,
                "email": f"{local}@{domain}" if local and domain else "",
                "phone": f"+49 391 {5550200 + i}",
                "owner_id": employers[employer].owner_id,
                "tags": ["Messe"] if i % 4 == 0 else [],
            },
        )
        service.add_affiliation(
            session,
            person,
            employers[employer],
            function=function,
            since=date(2020 + i % 5, 1 + i % 12, 1),
        )
        people.append(person)
    for employer, occupation, count, months in NEEDS:
        service.add_need(
            session,
            employers[employer],
            occupation=occupation,
            count=count,
            needed_since=(now - timedelta(days=30 * months)).date(),
            surveyed_on=(now - timedelta(days=14)).date(),
        )
    for i, (person_no, employer_no, kind, days, subject) in enumerate(ACTIVITIES):
        service.log_activity(
            session,
            kind=kind,
            occurred_at=now - timedelta(days=days, hours=i),
            user_id=staff[i % len(staff)].id if staff else None,
            subject=subject,
            duration_minutes=30 if kind in ("call", "meeting") else None,
            person=people[person_no] if person_no is not None else None,
            organisation=employers[employer_no] if employer_no is not None else None,
        )
    duplicates = _seed_duplicates(session, people, employers)
    contact_list = _seed_contact_list(session, people)
    imported = _seed_import(session, staff[0] if staff else None)
    return {
        "organisations": len(orgs) + len(employers) + duplicates["organisations"],
        "people": len(people) + duplicates["people"],
        "activities": len(ACTIVITIES),
        "contact_lists": 1,
        "contact_list_members": contact_list,
        "import_jobs": 1,
        "imported_records": imported,
    }


# A second record of Franziska Bär, entered from an old business card: same name and employer,
# an outdated address. The merge pages have a candidate pair (first in the list of people), and
# the demo campaign's delivery to the old address bounces (crm/newsletters/demo.py).
OUTDATED_EMAIL = "franziska.baer@alt.hotel-zur-boerde.example"
# The employment agency once more, typed in at a fair without its region (first in the list).
DUPLICATE_ORGANISATION = "Agentur für Arbeit Magdeburg"


def _seed_duplicates(
    session: Session, people: list[Person], employers: list[Any]
) -> dict[str, int]:
    """A duplicate person and a duplicate organisation, candidates for merging."""
    original = people[14]
    twin = service.save_person(
        session,
        {
            "salutation": original.salutation,
            "first_name": original.first_name,
            "last_name": original.last_name,
            "email": OUTDATED_EMAIL,
            "owner_id": original.owner_id,
            "tags": ["Visitenkarte"],
        },
    )
    service.add_affiliation(session, twin, employers[8], function="Ansprechpartnerin")
    agency = session.scalar(
        sa.select(Organisation).where(Organisation.name == DUPLICATE_ORGANISATION)
    )
    service.save_organisation(
        session,
        {
            "name": DUPLICATE_ORGANISATION,
            "kind": agency.kind if agency is not None else "employment_agency",
            "city": "Magdeburg",
            "owner_id": agency.owner_id if agency is not None else None,
            "tags": ["Messe"],
        },
    )
    return {"people": 1, "organisations": 1}


def _seed_contact_list(session: Session, people: list[Person]) -> int:
    """A static contact list: the contacts met at last year's job fair."""
    contact_list = lists.create_list(
        session,
        "Kontakte Jobmesse 2025",
        "Ansprechpersonen, die wir auf der Jobmesse Magdeburg 2025 gesprochen haben.",
    )
    session.flush()
    return lists.add_members(session, contact_list.id, [p.id for p in people[::3]])


# A list of fair contacts as exported from a spreadsheet: one row is refused (no name), one
# is already in the database (skipped as a duplicate).
IMPORT_FILE = (
    "Firma;Vorname;Nachname;E-Mail;PLZ;Ort\r\n"
    "Tischlerei Hartmann;Birgit;Hartmann;b.hartmann@tischlerei-hartmann.example;39112;Magdeburg\r\n"
    "Pflegedienst Lindenhof;Paul;Neumann;p.neumann@lindenhof-pflege.example;39218;Schönebeck\r\n"
    "Bäckerei Schäfer GmbH;Jutta;Schäfer;j.schaefer@baeckerei-schaefer.example;39108;Magdeburg\r\n"
    ";;;ohne-namen@example.org;;\r\n"
)


def _seed_import(session: Session, user: User | None) -> int:
    """A finished import of fair contacts, run through the import job like an upload."""
    job = importer.create_job(
        session,
        data=IMPORT_FILE.encode("utf-8"),
        filename="messekontakte-2025.csv",
        user_id=user.id if user else None,
        max_bytes=1024 * 1024,
    )
    with importer.reading(session):
        table = importer.open_table(job)
    with table:
        importer.configure_job(session, job, table, mapping=dict(job.mapping or {}), policy="skip")
    importer.claim_job(session, job)
    actor = Actor(user.id if user else None, user.display_name if user else "seed-demo")
    import_jobs.enqueue(session, job, dry_run=False, actor=actor, locale="de")
    session.commit()
    _run_queued(session, import_jobs.RUN)
    session.refresh(job)
    return int((job.counts or {}).get("create", 0))


def _run_queued(session: Session, kind: str) -> None:
    """Run the queued jobs of `kind` in this session, as the worker would (crm.jobs.worker)."""
    worker = "seed-demo"
    while (claimed := queue.claim(session, worker, kinds=(kind,))) is not None:
        handler = queue.handler_for(claimed.kind)
        background = session.get(BackgroundJob, claimed.id)
        if handler is None or background is None:
            raise RuntimeError(f"job kind {claimed.kind!r} is not registered")
        payload = dict(background.payload or {})
        session.commit()  # the handler starts without an open transaction, as in the worker

        def progress(done: int, total: int, message: str = "", job_id: int = claimed.id) -> None:
            queue.report_progress_in(session, job_id, worker, done, total, str(message))

        result = handler.run(queue.JobContext(session, claimed.id, payload, progress))
        queue.finish(session, claimed.id, worker, status="done", result=result)
