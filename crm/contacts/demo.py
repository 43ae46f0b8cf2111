"""Demo contacts: the partner organisations, employers around Magdeburg, people, history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.contacts import service

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
                "kind": "partner_abroad",
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
    return {
        "organisations": len(orgs) + len(employers),
        "people": len(people),
        "activities": len(ACTIVITIES),
    }
