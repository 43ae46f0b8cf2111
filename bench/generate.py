"""Deterministic German contact data for the benchmark: organisations, people, activities.

The same seed and scale give the same rows on every run and on both databases (no wall clock:
all dates lie in the five years before END). Rows are built in Python with the app's own
derived-column functions (search text, duplicate keys, last contact) and inserted with
SQLAlchemy Core executemany in chunks; on PostgreSQL the activities go in with COPY.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

SEED = 20261121
# Version of the generated data: bump when the generator changes so cached databases are rebuilt.
DATA_VERSION = 2
BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/crm_bench"

END = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
YEARS = 5
START = END - timedelta(days=365 * YEARS + 1)

FULL_ORGANISATIONS = 50_000
FULL_PEOPLE = 50_000
FULL_ACTIVITIES = 1_000_000
STAFF_USERS = 24
CHUNK = 20_000

# --- vocabulary -------------------------------------------------------------------------------

# (city, postcode(s), district); real postcodes of Saxony-Anhalt.
PLACES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "Magdeburg",
        ("39104", "39106", "39108", "39110", "39112", "39114", "39116", "39118", "39120"),
        "Landeshauptstadt Magdeburg",
    ),
    ("Schönebeck (Elbe)", ("39218",), "Salzlandkreis"),
    ("Burg", ("39288",), "Jerichower Land"),
    ("Genthin", ("39307",), "Jerichower Land"),
    ("Aschersleben", ("06449",), "Salzlandkreis"),
    ("Halberstadt", ("38820",), "Harz"),
    ("Wernigerode", ("38855",), "Harz"),
    ("Staßfurt", ("39418",), "Salzlandkreis"),
    ("Quedlinburg", ("06484",), "Harz"),
    ("Bernburg (Saale)", ("06406",), "Salzlandkreis"),
    ("Haldensleben", ("39340",), "Börde"),
    ("Wolmirstedt", ("39326",), "Börde"),
    ("Oschersleben (Bode)", ("39387",), "Börde"),
    ("Barleben", ("39179",), "Börde"),
    ("Calbe (Saale)", ("39240",), "Salzlandkreis"),
    ("Egeln", ("39435",), "Salzlandkreis"),
    ("Gommern", ("39245",), "Jerichower Land"),
    ("Möckern", ("39291",), "Jerichower Land"),
    ("Zerbst/Anhalt", ("39261",), "Anhalt-Bitterfeld"),
    ("Köthen (Anhalt)", ("06366",), "Anhalt-Bitterfeld"),
    ("Stendal", ("39576",), "Stendal"),
    ("Tangermünde", ("39590",), "Stendal"),
    ("Blankenburg (Harz)", ("38889",), "Harz"),
    ("Thale", ("06502",), "Harz"),
    ("Dessau-Roßlau", ("06844", "06846"), "Dessau-Roßlau"),
    ("Halle (Saale)", ("06108", "06110", "06112"), "Halle (Saale)"),
)
# Magdeburg and the offices' towns hold most firms.
PLACE_WEIGHTS = (30, 8, 6, 4, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 2, 3, 1, 1, 1, 3, 5)
# Adjective forms for firm names ("Schönebecker Maschinenbau").
PLACE_ADJECTIVES = (
    "Magdeburger",
    "Schönebecker",
    "Burger",
    "Genthiner",
    "Aschersleber",
    "Halberstädter",
    "Wernigeröder",
    "Staßfurter",
    "Quedlinburger",
    "Bernburger",
    "Haldensleber",
    "Börde-",
    "Elbe-",
    "Harzer",
    "Altmärker",
    "Anhaltische",
)
STREETS = (
    "Breiter Weg",
    "Otto-von-Guericke-Straße",
    "Ernst-Reuter-Allee",
    "Große Diesdorfer Straße",
    "Schönebecker Straße",
    "Halberstädter Straße",
    "Lübecker Straße",
    "Am Brückfeld",
    "Hauptstraße",
    "Bahnhofstraße",
    "Goethestraße",
    "Schillerstraße",
    "Lindenweg",
    "Friedensstraße",
    "Magdeburger Straße",
    "Marktplatz",
    "Gartenstraße",
    "Industriestraße",
    "Gewerbepark Nord",
    "Am Fuchsberg",
    "Große Straße",
    "Thälmannstraße",
    "Straße der Einheit",
    "Müllerstraße",
    "Weißenfelser Weg",
    "Kühnauer Straße",
)
SURNAMES = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Schulze",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Schubert",
    "Vogel",
    "Friedrich",
    "Günther",
    "Berger",
    "Winkler",
    "Böhm",
    "Lorenz",
    "Baumann",
    "Franke",
    "Albrecht",
    "Schuster",
    "Ludwig",
    "Krämer",
    "Jäger",
    "Sommer",
    "Groß",
    "Seidel",
    "Heinrich",
    "Brandt",
    "Schreiber",
    "Dietrich",
    "Kühn",
    "Pohl",
    "Engel",
    "Voigt",
    "Sauer",
    "Pfeiffer",
    "Schönfeld",
    "Gößling",
    "Nowak",
    "Kowalski",
    "Yılmaz",
    "Öztürk",
    "Şahin",
    "Nguyen",
    "Popescu",
    "Ivanova",
    "Al-Hassan",
)
MALE = (
    "Thomas",
    "Michael",
    "Andreas",
    "Stefan",
    "Frank",
    "Jürgen",
    "Björn",
    "Jörg",
    "Günter",
    "Uwe",
    "Sören",
    "Matthias",
    "Torsten",
    "Sven",
    "René",
    "André",
    "Lukas",
    "Jonas",
    "Paul",
    "Felix",
    "Hans-Peter",
    "Karl-Heinz",
    "Ömer",
    "Mehmet",
    "Ahmad",
    "Tomasz",
)
FEMALE = (
    "Sabine",
    "Petra",
    "Claudia",
    "Anja",
    "Katrin",
    "Bärbel",
    "Jördis",
    "Anna",
    "Lena",
    "Marie",
    "Sophie",
    "Hannah",
    "Jana",
    "Franziska",
    "Doreen",
    "Mandy",
    "Käthe",
    "Anna-Lena",
    "Ayşe",
    "Fatma",
    "Olena",
    "Małgorzata",
    "Zoë",
    "Chloé",
)
TITLES = ("",) * 17 + ("Dr.", "Dr.", "Prof. Dr.")
TRADES = (
    ("Bäckerei", "Lebensmittelhandwerk"),
    ("Fleischerei", "Lebensmittelhandwerk"),
    ("Tischlerei", "Handwerk"),
    ("Elektro", "Handwerk"),
    ("Sanitär- und Heizungsbau", "Handwerk"),
    ("Dachdeckerei", "Bau"),
    ("Malerbetrieb", "Bau"),
    ("Autohaus", "Kfz"),
    ("Kfz-Werkstatt", "Kfz"),
    ("Pflegedienst", "Pflege"),
    ("Steuerbüro", "Beratung"),
    ("Spedition", "Logistik"),
    ("Gaststätte", "Gastgewerbe"),
    ("Hotel", "Gastgewerbe"),
    ("Friseursalon", "Dienstleistung"),
    ("Zahnarztpraxis", "Gesundheit"),
    ("Apotheke", "Gesundheit"),
    ("Gärtnerei", "Landwirtschaft"),
)
INDUSTRIES = (
    ("Maschinenbau", "Metall und Elektro"),
    ("Stahlbau", "Metall und Elektro"),
    ("Anlagenbau", "Metall und Elektro"),
    ("Kunststofftechnik", "Chemie"),
    ("Logistik", "Logistik"),
    ("Softwarehaus", "IT"),
    ("IT-Service", "IT"),
    ("Wohnungsbau", "Bau"),
    ("Tiefbau", "Bau"),
    ("Pflegeheim", "Pflege"),
    ("Klinikum", "Gesundheit"),
    ("Verkehrsbetriebe", "Verkehr"),
    ("Stadtwerke", "Energie"),
    ("Landmaschinen", "Landwirtschaft"),
    ("Nahrungsmittel", "Ernährung"),
    ("Glas- und Gebäudereinigung", "Dienstleistung"),
)
LEGAL = ("GmbH",) * 6 + ("GmbH & Co. KG", "e.K.", "AG", "UG (haftungsbeschränkt)", "", "", "")
PARTNER_KINDS = (
    ("jobcentre", "Jobcenter", "Arbeitsmarkt"),
    ("employment_agency", "Agentur für Arbeit", "Arbeitsmarkt"),
    ("education", "Volkshochschule", "Bildung"),
    ("education", "Sprachschule Deutsch plus", "Bildung"),
    ("education", "Bildungswerk der Wirtschaft", "Bildung"),
    ("chamber", "Kreishandwerkerschaft", "Kammern"),
    ("association", "Unternehmerverband", "Verbände"),
    ("recognition", "Anerkennungsberatung", "Beratung"),
    ("authority", "Ausländerbehörde", "Verwaltung"),
    ("fair_organiser", "Messe- und Veranstaltungs-GmbH", "Messen"),
    ("partner", "Migrationsberatung", "Beratung"),
    ("other", "Förderverein", "Sonstiges"),
)
FUNCTIONS = (
    "Geschäftsführung",
    "Personal",
    "Ansprechpartner",
    "Ausbildungsleitung",
    "Inhaberin",
    "Inhaber",
    "Teamleitung",
    "Sachbearbeitung",
    "Beratung",
)
TAGS = (
    "Haus der Wirtschaft",
    "Jobmesse Magdeburg",
    "Messe Chance Halle",
    "Fachkräftebedarf",
    "Anerkennung",
    "Sprachkurs",
    "Newsletter",
    "Ausbildung",
    "Praktikum",
    "Pflege",
    "Handwerk",
    "IT",
    "Willkommenskultur",
    "Netzwerktreffen",
    "Unternehmerfrühstück",
    "Förderprogramm",
    "IQ Netzwerk",
    "Welcome Center",
    "Einstiegsqualifizierung",
    "Berufssprachkurs",
    "Großunternehmen",
    "Kleinbetrieb",
    "Bedarfsabfrage 2025",
    "Bedarfsabfrage 2026",
    "VIP",
)
OCCUPATIONS = (
    "Pflegefachfrau/-mann",
    "Elektroniker/in",
    "Berufskraftfahrer/in",
    "Koch/Köchin",
    "Anlagenmechaniker/in SHK",
    "Fachinformatiker/in",
    "Erzieher/in",
    "Maurer/in",
    "Bäcker/in",
    "Zerspanungsmechaniker/in",
)
SUBJECTS = {
    "call": (
        "Telefonat zum Fachkräftebedarf",
        "Rückruf wegen Praktikumsplatz",
        "Telefonat: Anerkennung des Abschlusses",
        "Nachfrage Bewerbungsstand",
    ),
    "email": (
        "Einladung zum Netzwerktreffen",
        "Unterlagen zum Anerkennungsverfahren",
        "Stellenprofil übermittelt",
        "Rückmeldung zum Sprachkurs",
    ),
    "meeting": (
        "Betriebsbesuch",
        "Beratungsgespräch vor Ort",
        "Netzwerktreffen Haus der Wirtschaft",
        "Gespräch mit der Geschäftsführung",
    ),
    "note": ("Notiz", "Bedarf aktualisiert", "Ansprechpartner gewechselt", "Wiedervorlage"),
    "presentation": (
        "Vorstellung des Welcome Centers",
        "Präsentation Förderprogramm",
        "Infoveranstaltung Einstiegsqualifizierung",
    ),
    "fair_contact": (
        "Kontakt auf der Jobmesse Magdeburg",
        "Messe Chance Halle",
        "Karrieretag Hochschule Magdeburg-Stendal",
    ),
}
KIND_WEIGHTS = {
    "call": 35,
    "email": 30,
    "meeting": 14,
    "note": 12,
    "presentation": 4,
    "fair_contact": 5,
}
SENTENCES = (
    "Der Betrieb sucht zum Frühjahr zwei Fachkräfte.",
    "Frau Weiß bittet um Rückruf nächste Woche.",
    "Herr Groß hat die Unterlagen zur Anerkennung erhalten.",
    "Gespräch über Möglichkeiten der Einstiegsqualifizierung geführt.",
    "Die Bewerberin spricht Deutsch auf B2-Niveau.",
    "Praktikum ab dem 1. März vereinbart.",
    "Termin für den Betriebsbesuch in Schönebeck abgestimmt.",
    "Interesse an der Jobmesse im Herbst.",
    "Ansprechpartnerin ist bis Ende des Monats im Urlaub.",
    "Förderung über das Jobcenter wird geprüft.",
    "Fragen zur Aufenthaltserlaubnis an die Ausländerbehörde weitergeleitet.",
    "Übersetzung der Zeugnisse liegt vor.",
    "Kein aktueller Bedarf, erneut im Sommer nachfragen.",
    "Einladung zum Unternehmerfrühstück angenommen.",
    "Sprachkurs in Magdeburg beginnt nach den Osterferien.",
    "Größere Umstrukturierung im Betrieb, Bedarf unklar.",
)
# Added to a firm name that exists already at the same postcode.
NAME_EXTRAS = (
    "Nord",
    "Süd",
    "Ost",
    "West",
    "am Markt",
    "an der Elbe",
    "im Harz",
    "Service",
    "Technik",
    "Süd-Ost",
    "Altstadt",
    "Neustadt",
    "Buckau",
    "Sudenburg",
    "Stadtfeld",
    "Rothensee",
    "Börde",
    "Team",
    "und Partner",
    "& Söhne",
    "& Töchter",
    "Meisterbetrieb",
)
FREE_MAIL = ("gmx.de", "web.de", "t-online.de", "posteo.de", "gmail.com", "freenet.de")

# Activity share of an organisation: a few partners and big employers have thousands.
TIERS = ((10, 400, 60), (90, 40, 12))  # (how many, activity weight, people weight)


# --- plan and generated data -----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    organisations: int
    people: int
    activities: int

    @classmethod
    def for_scale(cls, scale: float) -> Plan:
        return cls(
            organisations=max(200, round(FULL_ORGANISATIONS * scale)),
            people=max(200, round(FULL_PEOPLE * scale)),
            activities=max(2_000, round(FULL_ACTIVITIES * scale)),
        )


@dataclass
class Data:
    """All rows as dicts (or tuples for activities), ids assigned here."""

    users: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    organisations: list[dict[str, Any]] = field(default_factory=list)
    people: list[dict[str, Any]] = field(default_factory=list)
    affiliations: list[dict[str, Any]] = field(default_factory=list)
    organisation_tags: list[dict[str, Any]] = field(default_factory=list)
    person_tags: list[dict[str, Any]] = field(default_factory=list)
    needs: list[dict[str, Any]] = field(default_factory=list)
    activities: list[tuple[Any, ...]] = field(default_factory=list)
    big_organisation_ids: list[int] = field(default_factory=list)


ACTIVITY_COLUMNS = (
    "id",
    "kind",
    "occurred_at",
    "duration_minutes",
    "user_id",
    "subject",
    "text",
    "person_id",
    "organisation_id",
    "created_at",
    "updated_at",
)


def _slug(text: str) -> str:
    from crm.contacts.normalize import fold

    return "-".join("".join(c if c.isalnum() else " " for c in fold(text)).split())


def _moment(rng: random.Random, *, recent_bias: float = 1.4) -> datetime:
    """A weekday working-hours moment in the five years before END, more of them recently."""
    days = int((rng.random() ** recent_bias) * 365 * YEARS)
    day = END - timedelta(days=days)
    if day.weekday() >= 5:
        day -= timedelta(days=day.weekday() - 4)
    return day.replace(hour=rng.randint(6, 15), minute=rng.randrange(0, 60, 5))


def build(plan: Plan, seed: int = SEED) -> Data:
    """All rows for `plan`, deterministically from `seed`."""
    from crm.contacts.normalize import organisation_key, person_key
    from crm.contacts.service import organisation_search_text, person_search_text

    rng = random.Random(seed)
    data = Data()
    users = list(range(1, STAFF_USERS + 1))
    for uid in users:
        first = rng.choice(FEMALE + MALE)
        last = rng.choice(SURNAMES)
        data.users.append(
            {
                "id": uid,
                "email": f"{_slug(first)}.{_slug(last)}.{uid}@bench.netzwerk-crm.de",
                "display_name": f"{first} {last}",
                # Not a valid argon2 hash: these staff accounts cannot log in.
                "password_hash": "!bench",
                "role": rng.choice(("counsellor", "counsellor", "staff", "lead")),
                "is_active_flag": True,
                "locale": "de",
                "must_change_password": False,
                "created_at": START,
                "updated_at": START,
            }
        )
    data.tags = [{"id": i, "name": name} for i, name in enumerate(TAGS, 1)]
    place_cum = _cumulative(PLACE_WEIGHTS)

    # Organisations: the big ones are spread over the id range, not all at the front.
    n_orgs = plan.organisations
    tier_of: dict[int, int] = {}
    big_ids = rng.sample(range(1, n_orgs + 1), sum(t[0] for t in TIERS))
    offset = 0
    for tier, (count, _a, _p) in enumerate(TIERS):
        for oid in big_ids[offset : offset + count]:
            tier_of[oid] = tier
        offset += count
    data.big_organisation_ids = big_ids[: TIERS[0][0]]
    domains: set[str] = set()
    org_keys: set[tuple[str, str]] = set()
    org_ns: dict[int, SimpleNamespace] = {}
    for oid in range(1, n_orgs + 1):
        city, postcodes, region = rng.choices(PLACES, cum_weights=place_cum)[0]
        tier = tier_of.get(oid)
        roll = rng.random()
        legal = ""
        if tier == 0 or roll < 0.06:
            kind, base, sector = rng.choice(PARTNER_KINDS)
            core = f"{base} {city.split(' (')[0]}"
            size = "50-249" if tier == 0 else rng.choice(("1-9", "10-49", "50-249"))
        elif roll < 0.55:
            trade, sector = rng.choice(TRADES)
            core, legal = f"{trade} {rng.choice(SURNAMES)}", rng.choice(LEGAL)
            kind = "employer"
            size = rng.choice(("1-9", "1-9", "10-49"))
        elif roll < 0.85:
            industry, sector = rng.choice(INDUSTRIES)
            core = f"{rng.choice(PLACE_ADJECTIVES)} {industry}".replace("- ", "-")
            legal = rng.choice(LEGAL)
            kind = "employer"
            size = rng.choice(("10-49", "50-249", "250+"))
        else:
            a, b = rng.sample(SURNAMES, 2)
            core = f"{a} & {b} {rng.choice(('Steuerberatung', 'Rechtsanwälte', 'Ingenieure'))}"
            kind, sector, size = "employer", "Beratung", rng.choice(("1-9", "10-49"))
        postcode = rng.choice(postcodes)
        # Mostly distinct firms; about 1 % keep a name and postcode that exist already, as
        # real data has duplicates (which the duplicate check and the import must meet).
        name = f"{core} {legal}".strip()
        if rng.random() >= 0.01:
            tries = 0
            while (organisation_key(name), postcode) in org_keys:
                tries += 1
                extra = rng.choice(NAME_EXTRAS if tries < 4 else SURNAMES + FEMALE + MALE)
                core = f"{core} {extra}"
                name = f"{core} {legal}".strip()
        org_keys.add((organisation_key(name), postcode))
        domain = organisation_key(name).replace(" und ", " ").replace(" ", "-")[:40] + ".de"
        while domain in domains:
            domain = domain[:-3] + f"-{rng.randint(2, 999)}.de"
        domains.add(domain)
        created = _moment(rng, recent_bias=0.8)
        org = {
            "id": oid,
            "name": name,
            "kind": kind,
            "sector": sector,
            "size_class": size,
            "region": region,
            "street": f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
            "postcode": postcode,
            "city": city,
            "phone": f"+49 {rng.choice(('391', '3928', '3921', '3933', '3473', '3941'))} "
            f"{rng.randint(100000, 9999999)}",
            "email": f"info@{domain}",
            "website": f"https://www.{domain}",
            "notes": "",
            "owner_id": rng.choice(users) if rng.random() < 0.8 else None,
            "last_contact_at": None,
            "created_at": created,
            "updated_at": created,
        }
        ns = SimpleNamespace(**org)
        org["name_key"] = organisation_key(name)
        org["search_text"] = organisation_search_text(ns)  # type: ignore[arg-type]
        org_ns[oid] = ns
        data.organisations.append(org)
        for tag_id in rng.sample(range(1, len(TAGS) + 1), rng.choice((0, 0, 1, 1, 2, 3))):
            data.organisation_tags.append({"organisation_id": oid, "tag_id": tag_id})
        if kind == "employer" and rng.random() < 0.1:
            for _ in range(rng.randint(1, 2)):
                surveyed = _moment(rng).date()
                data.needs.append(
                    {
                        "organisation_id": oid,
                        "occupation": rng.choice(OCCUPATIONS),
                        "count": rng.randint(1, 5),
                        "needed_since": surveyed - timedelta(days=rng.randint(0, 200)),
                        "surveyed_on": surveyed,
                        "note": "",
                        "created_at": created,
                        "updated_at": created,
                    }
                )

    # People: mostly one organisation, some two, a few none; big organisations have many.
    org_ids = list(range(1, n_orgs + 1))
    people_cum = _cumulative([TIERS[tier_of[o]][2] if o in tier_of else 1 for o in org_ids])
    org_people: dict[int, list[int]] = {}
    person_orgs: dict[int, list[int]] = {}
    emails: set[str] = set()
    aff_id = 0
    for pid in range(1, plan.people + 1):
        female = rng.random() < 0.5
        first = rng.choice(FEMALE if female else MALE)
        last = rng.choice(SURNAMES)
        if rng.random() < 0.05:
            last = f"{last}-{rng.choice(SURNAMES)}"
        roll = rng.random()
        orgs: list[int] = []
        if roll < 0.95:
            orgs.append(rng.choices(org_ids, cum_weights=people_cum)[0])
            if roll < 0.10:
                second = rng.choice(org_ids)
                if second != orgs[0]:
                    orgs.append(second)
        if orgs and rng.random() < 0.85:
            domain = org_ns[orgs[0]].email.split("@", 1)[1]
        else:
            domain = rng.choice(FREE_MAIL)
        local = f"{_slug(first)}.{_slug(last)}".replace("-", "")[:50]
        email = f"{local}@{domain}"
        n = 1
        while email in emails:
            n += 1
            email = f"{local}{n}@{domain}"
        emails.add(email)
        created = _moment(rng, recent_bias=0.8)
        person = {
            "id": pid,
            "salutation": "frau" if female else "herr",
            "title": rng.choice(TITLES),
            "first_name": first,
            "last_name": last,
            "email": email,
            "email_alt": "",
            "phone": f"+49 {rng.randint(30, 399)} {rng.randint(100000, 9999999)}",
            "mobile": f"+49 1{rng.randint(50, 79)} {rng.randint(1000000, 99999999)}"
            if rng.random() < 0.4
            else "",
            "language": rng.choice(("de",) * 8 + ("en", "ar", "uk", "tr")),
            "notes": "",
            "owner_id": rng.choice(users) if rng.random() < 0.6 else None,
            "last_contact_at": None,
            "created_at": created,
            "updated_at": created,
        }
        if rng.random() < 0.02:
            person["salutation"] = rng.choice(("divers", ""))
        ns = SimpleNamespace(**person)
        person["name_key"] = person_key(first, last)
        person["search_text"] = person_search_text(ns, [org_ns[o] for o in orgs])  # type: ignore[arg-type]
        data.people.append(person)
        person_orgs[pid] = orgs
        for oid in orgs:
            org_people.setdefault(oid, []).append(pid)
            aff_id += 1
            since = _moment(rng, recent_bias=0.7).date()
            data.affiliations.append(
                {
                    "id": aff_id,
                    "person_id": pid,
                    "organisation_id": oid,
                    "function": rng.choice(FUNCTIONS),
                    "since": since if rng.random() < 0.7 else None,
                    "until": None,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        for tag_id in rng.sample(range(1, len(TAGS) + 1), rng.choice((0, 0, 0, 1, 2))):
            data.person_tags.append({"person_id": pid, "tag_id": tag_id})

    # Activities: organisation chosen by tier weight; about half are with one of its people.
    activity_cum = _cumulative([TIERS[tier_of[o]][1] if o in tier_of else 1 for o in org_ids])
    kinds = list(KIND_WEIGHTS)
    kind_cum = _cumulative(KIND_WEIGHTS.values())
    org_last: dict[int, datetime] = {}
    person_last: dict[int, datetime] = {}
    loners = [pid for pid, orgs in person_orgs.items() if not orgs]
    for aid in range(1, plan.activities + 1):
        oid: int | None = rng.choices(org_ids, cum_weights=activity_cum)[0]
        pid: int | None = None
        people = org_people.get(oid, ())
        roll = rng.random()
        if people and roll < 0.55:
            pid = rng.choice(people)
            if roll < 0.3:
                oid = None  # logged on the person only; the timeline still shows it
        elif loners and roll > 0.99:
            pid, oid = rng.choice(loners), None
        kind = rng.choices(kinds, cum_weights=kind_cum)[0]
        when = _moment(rng)
        duration = rng.choice((5, 10, 15, 30, 45, 60, 90)) if kind in ("call", "meeting") else None
        text = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
        data.activities.append(
            (
                aid,
                kind,
                when,
                duration,
                rng.choice(users),
                rng.choice(SUBJECTS[kind]),
                text,
                pid,
                oid,
                when,
                when,
            )
        )
        touched = set(person_orgs[pid]) if pid else set()
        if oid:
            touched.add(oid)
        for o in touched:
            if org_last.get(o) is None or org_last[o] < when:
                org_last[o] = when
        if pid and (person_last.get(pid) is None or person_last[pid] < when):
            person_last[pid] = when
    for org in data.organisations:
        org["last_contact_at"] = org_last.get(org["id"])
    for person in data.people:
        person["last_contact_at"] = person_last.get(person["id"])
    return data


def _cumulative(weights: Sequence[int] | Any) -> list[int]:
    total, out = 0, []
    for w in weights:
        total += w
        out.append(total)
    return out


# --- database ---------------------------------------------------------------------------------


def resolve_url(db: str, scale: float = 1.0) -> str:
    """'sqlite' → a cached file under bench/data, 'postgres' → the default server URL.

    Each scale has its own file or database, so a quick run does not evict the full one.
    """
    suffix = "" if scale == 1.0 else "_s" + f"{scale:g}".replace(".", "_")
    if db == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{DATA_DIR / f'bench{suffix}.sqlite3'}"
    if db in ("postgres", "postgresql"):
        url = os.environ.get("CRM_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        u = sa.make_url(url)
        return u.set(database=f"{u.database}{suffix}").render_as_string(hide_password=False)
    return db


def driver_url(url: str) -> str:
    """The URL with the psycopg 3 driver for PostgreSQL (as the app's config does)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _admin_engine(url: str) -> tuple[sa.Engine, str]:
    u = sa.make_url(driver_url(url))
    return sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT"), u.database


def create_database(url: str, *, fresh: bool = False) -> None:
    """Make sure the database exists (and is empty if `fresh`)."""
    if url.startswith("sqlite"):
        path = sa.make_url(url).database
        if fresh and path:
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
        return
    admin, name = _admin_engine(url)
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and fresh:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


def copy_database(url: str, suffix: str) -> str:
    """A throw-away copy of the database (for the import run); returns its URL."""
    if url.startswith("sqlite"):
        import sqlite3

        path = sa.make_url(url).database
        target = f"{Path(path).with_suffix('')}-{suffix}.sqlite3"
        for extra in ("", "-wal", "-shm"):
            Path(target + extra).unlink(missing_ok=True)
        src = sqlite3.connect(path)
        dst = sqlite3.connect(target)
        src.backup(dst)
        src.close()
        dst.close()
        return f"sqlite:///{target}"
    admin, name = _admin_engine(url)
    copy = f"{name}_{suffix}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        # TEMPLATE needs no other sessions on the source.
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    admin.dispose()
    return sa.make_url(driver_url(url)).set(database=copy).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Remove a copy made by copy_database."""
    if url.startswith("sqlite"):
        create_database(url, fresh=True)
        return
    admin, name = _admin_engine(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def make_app(url: str, **overrides: Any) -> Any:
    """The CRM app on `url` in the testing environment (no mail, per-process secret)."""
    os.environ["CRM_ENV"] = "testing"
    instance = DATA_DIR / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    os.environ["CRM_INSTANCE_PATH"] = str(instance)
    from crm import create_app

    config = {
        "SQLALCHEMY_DATABASE_URI": driver_url(url),
        "CRM_MAIL_TRANSPORT": "file",
        "CRM_MAIL_OUTBOX_DIR": str(instance / "outbox"),
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "SESSION_COOKIE_NAME": "crm_session",
        "CRM_HSTS": False,
    }
    config.update(overrides)
    return create_app(config)


def upgrade(url: str) -> None:
    """Migrate the database to head with the project's Alembic migrations."""
    from flask_migrate import upgrade as alembic_upgrade

    app = make_app(url)
    with app.app_context():
        alembic_upgrade()
        from crm.extensions import db

        db.engine.dispose()


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) or 0  # noqa: S608 - constant
            for t in ("organisation", "person", "activity", "affiliation")
        }


def _meta_matches(engine: sa.Engine, plan: Plan) -> bool:
    inspector = sa.inspect(engine)
    if "bench_meta" not in inspector.get_table_names():
        return False
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT version, organisations, people, activities FROM bench_meta")
        ).first()
    return row is not None and tuple(row) == (
        DATA_VERSION,
        plan.organisations,
        plan.people,
        plan.activities,
    )


@dataclass
class Generated:
    url: str
    plan: Plan
    reused: bool
    seconds: float
    timings: dict[str, float]
    big_organisation_ids: list[int]


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _insert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        conn.execute(table.insert(), list(chunk))


def _copy(conn: sa.Connection, table: str, columns: Sequence[str], rows: Sequence[Any]) -> None:
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def load(engine: sa.Engine, data: Data, *, fts: str = "rebuild") -> dict[str, float]:
    """Insert the rows; returns seconds per step."""
    from crm.contacts import search
    from crm.extensions import db

    t = db.metadata.tables
    dialect = engine.dialect.name
    timings: dict[str, float] = {}

    def step(name: str, fn: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        fn()
        timings[name] = time.perf_counter() - t0

    with engine.begin() as conn:
        if dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size=-1000000")
            if fts == "rebuild":
                # Drop the FTS triggers and table; rebuilt in one pass after the load.
                step("fts drop", lambda: search.drop_search_objects(conn))
        else:
            # Build the GIN indexes once after the load instead of row by row.
            step("gin drop", lambda: search.drop_search_objects(conn))
        activity_cols = [t["activity"].c[c] for c in ACTIVITY_COLUMNS]
        step("users", lambda: _insert(conn, t["user_account"], data.users))
        step("tags", lambda: _insert(conn, t["tag"], data.tags))
        step("organisations", lambda: _insert(conn, t["organisation"], data.organisations))
        step("people", lambda: _insert(conn, t["person"], data.people))
        step("affiliations", lambda: _insert(conn, t["affiliation"], data.affiliations))
        step(
            "tag links",
            lambda: (
                _insert(conn, t["organisation_tag"], data.organisation_tags),
                _insert(conn, t["person_tag"], data.person_tags),
            ),
        )
        step("needs", lambda: _insert(conn, t["qualification_need"], data.needs))
        if dialect == "postgresql":
            step(
                "activities (COPY)",
                lambda: _copy(conn, "activity", ACTIVITY_COLUMNS, data.activities),
            )
        else:
            keys = [c.key for c in activity_cols]
            step(
                "activities",
                lambda: _insert(
                    conn,
                    t["activity"],
                    [dict(zip(keys, row, strict=True)) for row in data.activities],
                ),
            )
        if dialect == "sqlite":
            if fts == "rebuild":
                step("fts rebuild", lambda: search.create_search_objects(conn))
        else:
            step("gin create", lambda: search.create_search_objects(conn))
            for table in (
                "user_account",
                "tag",
                "organisation",
                "person",
                "affiliation",
                "activity",
                "qualification_need",
            ):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
    if dialect == "postgresql":
        # What autovacuum would do on a live server: statistics and the visibility map.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            step("vacuum analyze", lambda: conn.exec_driver_sql("VACUUM ANALYZE"))
    return timings


def generate(
    db: str = "sqlite",
    scale: float = 1.0,
    *,
    reuse: bool = True,
    fts: str = "rebuild",
    log: Callable[[str], None] = print,
) -> Generated:
    """Create (or reuse) the benchmark database for `db` at `scale`; returns what was done."""
    url = resolve_url(db, scale)
    plan = Plan.for_scale(scale)
    t0 = time.perf_counter()
    create_database(url)
    engine = sa.create_engine(driver_url(url))
    try:
        if reuse and _meta_matches(engine, plan):
            c = counts(engine)
            if (c["organisation"], c["person"], c["activity"]) == (
                plan.organisations,
                plan.people,
                plan.activities,
            ):
                try:
                    upgrade(url)  # new migrations from other modules apply to the cached data
                except Exception as exc:  # e.g. a revision that was renamed before its commit
                    log(f"cannot upgrade the cached database ({exc}); generating it again")
                else:
                    big = _big_ids(engine)
                    log(f"reusing {_safe(url)}: {c}")
                    work = ensure_work(url, scale, plan, reuse=reuse, log=log)
                    return Generated(url, plan, True, time.perf_counter() - t0, work, big)
        engine.dispose()
        log(f"generating {plan} into {_safe(url)}")
        create_database(url, fresh=True)
        engine = sa.create_engine(driver_url(url))
        timings: dict[str, float] = {}
        s = time.perf_counter()
        upgrade(url)
        timings["migrate"] = time.perf_counter() - s
        s = time.perf_counter()
        data = build(plan)
        timings["build rows (Python)"] = time.perf_counter() - s
        timings.update(load(engine, data, fts=fts))
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_meta")
            conn.exec_driver_sql(
                "CREATE TABLE bench_meta (version INTEGER, organisations INTEGER, "
                "people INTEGER, activities INTEGER, big_organisation_ids TEXT)"
            )
            conn.execute(
                sa.text("INSERT INTO bench_meta VALUES (:v, :o, :p, :a, :b)"),
                {
                    "v": DATA_VERSION,
                    "o": plan.organisations,
                    "p": plan.people,
                    "a": plan.activities,
                    "b": ",".join(map(str, data.big_organisation_ids)),
                },
            )
        timings.update(ensure_work(url, scale, plan, reuse=False, log=log))
        total = time.perf_counter() - t0
        log(
            f"generated in {total:.1f} s: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        )
        return Generated(url, plan, False, total, timings, data.big_organisation_ids)
    finally:
        engine.dispose()


def _big_ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        raw = conn.scalar(sa.text("SELECT big_organisation_ids FROM bench_meta")) or ""
    return [int(x) for x in raw.split(",") if x]


def _safe(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def today() -> date:
    """The date for the README (the only wall-clock use, outside the data)."""
    return date.today()


# --- casework: participants, follow-ups, events (an additive step) ---------------------------
#
# Added to a contacts database without touching its contacts: its own meta table and version,
# so a cached contacts database gains these rows in seconds instead of being regenerated.

WORK_VERSION = 1
WORK_SEED = SEED + 15
# At scale 1.0; see bench/README.md for why these ratios.
FULL_PARTICIPANTS = 20_000
SESSIONS_PER_PARTICIPANT = 15
CONTACTS_PER_PARTICIPANT = 5
FULL_FOLLOWUPS = 100_000
FULL_EVENTS = 2_000
# The due dates lie around the day of generation (the pages group by the real "today"); the
# casework rows are made again once they are older than this, so "today" stays representative.
WORK_MAX_AGE_DAYS = 7
WORK_OFFICES = ("Magdeburg", "Aschersleben", "Burg", "Genthin", "Schönebeck")
OFFICE_WEIGHTS = (40, 15, 15, 15, 15)
COUNSELLOR_EMAIL = "bench-berater@bench.netzwerk-crm.de"
COUNSELLOR_PASSWORD = "Elbe-Ufer-Magdeburg-Beratung-2026"  # noqa: S105 - bench database only
WORK_TABLES = (
    "staff_slot",
    "event",
    "followup",
    "participant_contact",
    "support_item",
    "counselling_session",
    "participant",
)
FOLLOWUP_SUBJECTS = (
    "Rückruf wegen Praktikumsplatz",
    "Angebot nachfassen",
    "Unterlagen zur Anerkennung anfordern",
    "Termin für Betriebsbesuch vereinbaren",
    "Einladung zur Jobmesse schicken",
    "Stellenanzeige weiterleiten",
    "Sprachkurs-Anmeldung prüfen",
    "Kooperationsvereinbarung besprechen",
    "Bewerbungsunterlagen durchsehen",
    "Jobcenter: Rückmeldung abwarten",
)
EVENT_TITLES = (
    "Jobmesse",
    "Informationsveranstaltung Anerkennung",
    "Unternehmensfrühstück",
    "Netzwerktreffen",
    "Workshop Bewerbung",
    "Steuerungsrunde",
    "Fachtag Fachkräftesicherung",
    "Sprechstunde im Jobcenter",
)


@dataclass(frozen=True)
class WorkPlan:
    participants: int
    sessions: int
    contacts: int
    followups: int
    events: int

    @classmethod
    def for_scale(cls, scale: float) -> WorkPlan:
        participants = max(100, round(FULL_PARTICIPANTS * scale))
        return cls(
            participants=participants,
            sessions=participants * SESSIONS_PER_PARTICIPANT,
            contacts=participants * CONTACTS_PER_PARTICIPANT,
            followups=max(500, round(FULL_FOLLOWUPS * scale)),
            events=max(40, round(FULL_EVENTS * scale)),
        )


@dataclass
class WorkData:
    participants: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    support_items: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    slots: list[dict[str, Any]] = field(default_factory=list)


SESSION_COLUMNS = (
    "id",
    "participant_id",
    "held_on",
    "minutes",
    "counsellor_id",
    "note",
    "created_at",
    "updated_at",
)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def build_work(
    plan: WorkPlan,
    anchor: date,
    *,
    offices: Sequence[int],
    counsellors: dict[int, list[int]],
    staff: Sequence[int],
    n_people: int,
    n_orgs: int,
    item_types: Sequence[int],
    seed: int = WORK_SEED,
) -> WorkData:
    """Casework rows for `plan` around `anchor` (the generation day), deterministic from `seed`.

    `counsellors` maps an office id to the counsellors working there; `staff` are the users who
    get follow-ups and duties. Participants arrive over three years before `anchor`; those that
    arrived more than a year ago have mostly left, so each counsellor keeps an open caseload.
    """
    from crm.contacts.normalize import fold
    from crm.participants.demo import PEOPLE
    from crm.participants.models import Participant
    from crm.participants.service import entry_date

    rng = random.Random(seed)
    data = WorkData()
    office_cum = _cumulative(OFFICE_WEIGHTS[: len(offices)])
    stamp = _at(anchor, 6)
    sid = 0
    open_by_counsellor: dict[int, list[int]] = {}
    for pid in range(1, plan.participants + 1):
        office = rng.choices(offices, cum_weights=office_cum)[0]
        counsellor = rng.choice(counsellors[office])
        first, _l, country, profession, where, target = rng.choice(PEOPLE)
        last = rng.choice(PEOPLE)[1]
        age_days = int((rng.random() ** 1.3) * 365 * 3)
        first_contact = anchor - timedelta(days=age_days)
        held: list[tuple[date, int]] = []
        day = first_contact
        # Most have 5–25 sessions, a few long cases many more; the mean stays at the ratio.
        n_sessions = max(1, round(rng.expovariate(1 / SESSIONS_PER_PARTICIPANT)))
        for _ in range(n_sessions):
            if held:
                day += timedelta(days=rng.choice((1, 3, 7, 7, 14, 21)))
            if day > anchor:
                break  # a recent case has had only the sessions up to today
            minutes = rng.choice((15, 30, 30, 45, 60, 90))
            held.append((day, minutes))
        entry = entry_date(held)
        exit_on: date | None = None
        outcome = ""
        if (age_days > 365 and rng.random() < 0.9) or (age_days > 90 and rng.random() < 0.3):
            exit_on = min(anchor, max(d for d, _ in held) + timedelta(days=rng.randint(1, 60)))
            # Some exits still wait for their outcome (a deadline warning after 28 days).
            outcome = rng.choice(("employment", "qualification", "recognition", "moved_away", ""))
        complete = rng.random() < 0.85
        p = {
            "id": pid,
            "pseudonym": f"TN-{rng.getrandbits(40):010x}",
            "first_name": first,
            "last_name": last,
            "email": "",
            "phone": "",
            "city": "",
            "birth_year": 1965 + rng.randrange(40),
            "gender": rng.choice(("female", "male", "")),
            "notes": "",
            "country_of_origin": country if complete else "",
            "profession": profession,
            "profession_learned_in": where,
            "recognition_status": rng.choice(("not_started", "in_progress", "partial", "full")),
            "recognising_body": "",
            "language_level": rng.choice(("A2", "B1", "B1", "B2", "C1")) if complete else "",
            "target_field": target,
            "office_id": office,
            "counsellor_id": counsellor,
            "acquisition_channel": rng.choice(
                ("recognition_office", "job_fair", "jobcentre_agency", "website_hotline", "other")
            ),
            "referring_organisation_id": rng.randint(1, n_orgs) if rng.random() < 0.5 else None,
            "first_contact_on": first_contact,
            "total_minutes": sum(m for _, m in held),
            "first_session_on": min(d for d, _ in held),
            "entry_on": entry,
            "exit_on": exit_on,
            "exit_outcome": outcome if exit_on else "",
            "exit_note": "",
            "next_contact_on": None,
            "transfer_on": None,
            "transfer_note": "",
            "created_at": stamp,
            "updated_at": stamp,
        }
        # The app's own derived columns (as save_participant and the SortName mixin set them).
        p["name_key"] = fold(f"{first} {last}")[:210]
        p["sort_name"] = Participant.sort_name_of(last, first)
        data.participants.append(p)
        if exit_on is None:
            open_by_counsellor.setdefault(counsellor, []).append(pid)
        for held_on, minutes in held:
            sid += 1
            data.sessions.append((sid, pid, held_on, minutes, counsellor, "", stamp, stamp))
        for _ in range(rng.randint(0, 2 * CONTACTS_PER_PARTICIPANT)):
            if len(data.contacts) >= plan.contacts:
                break
            when = _at(
                first_contact + timedelta(days=rng.randint(0, max(0, age_days))),
                rng.randint(7, 16),
            )
            data.contacts.append(
                {
                    "id": len(data.contacts) + 1,
                    "participant_id": pid,
                    "kind": rng.choice(("call", "email", "meeting", "letter", "other")),
                    "happened_at": when,
                    "duration_minutes": rng.choice((None, 5, 10, 20)),
                    "note": "",
                    "user_id": counsellor,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        # The checklist: open cases have a few items, some with due dates around today.
        if exit_on is None:
            for type_id in rng.sample(list(item_types), min(len(item_types), rng.randint(0, 5))):
                status = rng.choice(("open", "open", "in_progress", "done", "not_needed"))
                due = anchor + timedelta(days=rng.randint(-30, 90)) if rng.random() < 0.6 else None
                data.support_items.append(
                    {
                        "id": len(data.support_items) + 1,
                        "participant_id": pid,
                        "type_id": type_id,
                        "status": status,
                        "due_on": due,
                        "note": "",
                        "done_on": anchor - timedelta(days=rng.randint(0, 60))
                        if status == "done"
                        else None,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
    # Follow-ups: a quarter open (spread around today), the rest done or cancelled in the past.
    for fid in range(1, plan.followups + 1):
        assignee = rng.choice(staff)
        roll = rng.random()
        status = "open" if roll < 0.25 else ("done" if roll < 0.95 else "cancelled")
        if status == "open":
            offset = rng.choice((-1, -1, 0, 1, 1, 1, 1, 1)) * int(rng.random() ** 2 * 180)
            offset += rng.choice((0, 0, 0, 1, 2, 3)) if offset == 0 else 0
        else:
            offset = -rng.randint(1, 365 * 3)
        has_time = rng.random() < 0.3
        due_day = anchor + timedelta(days=offset)
        # Date-only follow-ups are due at 08:00 Berlin (07:00 UTC in winter, close enough).
        due = _at(due_day, rng.randint(7, 15), rng.choice((0, 30))) if has_time else _at(due_day, 7)
        person = rng.randint(1, n_people) if roll < 0.5 else None
        org = rng.randint(1, n_orgs) if person is None and rng.random() < 0.4 else None
        participant = None
        mine = open_by_counsellor.get(assignee)
        if mine and person is None and org is None and rng.random() < 0.5:
            participant = rng.choice(mine)
        data.followups.append(
            {
                "id": fid,
                "subject": rng.choice(FOLLOWUP_SUBJECTS),
                "note": "",
                "priority": rng.choice(("low", "normal", "normal", "normal", "high")),
                "status": status,
                "due_at": due,
                "has_time": has_time,
                "assignee_id": assignee,
                "created_by_id": assignee if rng.random() < 0.8 else rng.choice(staff),
                "outcome": "",
                "done_at": due + timedelta(days=rng.randint(0, 5)) if status == "done" else None,
                "reminded_at": due if due < stamp else None,
                "snoozed_until": None,
                "person_id": person,
                "organisation_id": org,
                "event_id": None,
                "participant_id": participant,
                "case_kind": "",
                "repeat_every": None,
                "repeat_unit": None,
                "created_at": due - timedelta(days=rng.randint(1, 30)),
                "updated_at": stamp,
            }
        )
    # Events: three years back and a quarter ahead, a few every week; one or two staff on duty.
    for eid in range(1, plan.events + 1):
        day = anchor + timedelta(days=rng.randint(-365 * 3, 90))
        if day.weekday() >= 5:
            day -= timedelta(days=day.weekday() - 4)
        starts = _at(day, rng.randint(7, 14))
        ends = starts + timedelta(hours=rng.choice((1, 2, 3, 6)))
        data.events.append(
            {
                "id": eid,
                "kind": rng.choice(("fair", "presentation", "information", "workshop", "other")),
                "title": f"{rng.choice(EVENT_TITLES)} {rng.choice(WORK_OFFICES)}",
                "starts_at": starts,
                "ends_at": ends,
                "all_day": False,
                "place": rng.choice(WORK_OFFICES),
                "description": "",
                "status": "planned" if rng.random() < 0.95 else "cancelled",
                "organiser_id": rng.randint(1, n_orgs) if rng.random() < 0.3 else None,
                "responsible_id": rng.choice(staff),
                "series_id": None,
                "occurrence_key": None,
                "is_exception": False,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        for user in rng.sample(list(staff), rng.randint(1, 2)):
            data.slots.append(
                {
                    "id": len(data.slots) + 1,
                    "event_id": eid,
                    "user_id": user,
                    "starts_at": starts,
                    "ends_at": ends,
                    "note": "",
                }
            )
    return data


def _work_meta(engine: sa.Engine) -> tuple[Any, ...] | None:
    if "bench_meta_work" not in sa.inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT version, participants, followups, events, anchor FROM bench_meta_work")
        ).first()
    return tuple(row) if row is not None else None


def _work_matches(engine: sa.Engine, plan: WorkPlan) -> bool:
    meta = _work_meta(engine)
    if meta is None:
        return False
    version, participants, followups, events, anchor = meta
    if (version, participants, followups, events) != (
        WORK_VERSION,
        plan.participants,
        plan.followups,
        plan.events,
    ):
        return False
    age = (today() - date.fromisoformat(str(anchor))).days
    return 0 <= age <= WORK_MAX_AGE_DAYS


def _work_users(url: str, engine: sa.Engine) -> tuple[list[int], dict[int, list[int]], list[int]]:
    """Offices, counsellors per office (the bench counsellor in Magdeburg) and staff ids.

    The contacts step made 24 staff users without offices; here the counsellors among them
    get a home office, and a counsellor who can log in (for the pages) joins Magdeburg.
    """
    from crm.accounts.models import Office, User
    from crm.accounts.service import create_user, get_user_by_email
    from crm.extensions import db

    app = make_app(url)
    with app.app_context():
        session = db.session
        offices: list[Office] = []
        for i, name in enumerate(WORK_OFFICES):
            office = session.scalar(sa.select(Office).where(Office.name == name))
            if office is None:
                office = Office(name=name, is_head_office=i == 0)
                session.add(office)
                session.flush()
            offices.append(office)
        staff = list(
            session.scalars(
                sa.select(User)
                .where(User.password_hash == "!bench")  # noqa: S105 - the generated staff
                .order_by(User.id)
            )
        )
        n = 0
        for user in staff:
            if user.role == "counsellor":
                user.office_id = offices[n % len(offices)].id
                n += 1
        me = get_user_by_email(session, COUNSELLOR_EMAIL)
        if me is None:
            me = create_user(
                session,
                email=COUNSELLOR_EMAIL,
                display_name="Berta Bench",
                password=COUNSELLOR_PASSWORD,
                role="counsellor",
                office=offices[0],
            )
        session.commit()
        office_ids = [o.id for o in offices]
        by_office: dict[int, list[int]] = {oid: [] for oid in office_ids}
        for user in [*staff, me]:
            if user.role == "counsellor" and user.office_id in by_office:
                by_office[user.office_id].append(user.id)
        fallback = [u.id for u in staff if u.role in ("counsellor", "lead")] or [me.id]
        for oid, ids in by_office.items():
            if not ids:
                by_office[oid] = fallback
        staff_ids = [u.id for u in staff] + [me.id]
        db.session.remove()
        db.engine.dispose()
    return office_ids, by_office, staff_ids


def load_work(engine: sa.Engine, data: WorkData) -> dict[str, float]:
    """Replace the casework rows with `data`; returns seconds per step."""
    from crm.extensions import db

    t = db.metadata.tables
    dialect = engine.dialect.name
    timings: dict[str, float] = {}

    def step(name: str, fn: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        fn()
        timings[name] = time.perf_counter() - t0

    with engine.begin() as conn:
        for table in WORK_TABLES:
            conn.execute(t[table].delete())
        step("participants", lambda: _insert(conn, t["participant"], data.participants))
        if dialect == "postgresql":
            step(
                "sessions (COPY)",
                lambda: _copy(conn, "counselling_session", SESSION_COLUMNS, data.sessions),
            )
        else:
            step(
                "sessions",
                lambda: _insert(
                    conn,
                    t["counselling_session"],
                    [dict(zip(SESSION_COLUMNS, row, strict=True)) for row in data.sessions],
                ),
            )
        step("contact log", lambda: _insert(conn, t["participant_contact"], data.contacts))
        step("support items", lambda: _insert(conn, t["support_item"], data.support_items))
        step("follow-ups", lambda: _insert(conn, t["followup"], data.followups))
        step("events", lambda: _insert(conn, t["event"], data.events))
        step("duties", lambda: _insert(conn, t["staff_slot"], data.slots))
        if dialect == "postgresql":
            for table in WORK_TABLES:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            step(
                "casework vacuum analyze",
                lambda: [conn.exec_driver_sql(f"VACUUM ANALYZE {x}") for x in WORK_TABLES] and None,
            )
    return timings


def ensure_work(
    url: str, scale: float, plan: Plan, *, reuse: bool = True, log: Callable[[str], None] = print
) -> dict[str, float]:
    """Add (or keep) the casework rows for `scale`; returns the seconds per step ({} if kept)."""
    work = WorkPlan.for_scale(scale)
    engine = sa.create_engine(driver_url(url))
    try:
        if reuse and _work_matches(engine, work):
            log(f"reusing casework: {work}")
            return {}
        log(f"generating casework {work}")
        t0 = time.perf_counter()
        offices, counsellors, staff = _work_users(url, engine)
        with engine.connect() as conn:
            item_types = list(conn.scalars(sa.text("SELECT id FROM support_item_type ORDER BY id")))
        anchor = today()
        data = build_work(
            work,
            anchor,
            offices=offices,
            counsellors=counsellors,
            staff=staff,
            n_people=plan.people,
            n_orgs=plan.organisations,
            item_types=item_types,
        )
        timings = {"casework rows (Python)": time.perf_counter() - t0}
        timings.update(load_work(engine, data))
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_meta_work")
            conn.exec_driver_sql(
                "CREATE TABLE bench_meta_work (version INTEGER, participants INTEGER, "
                "followups INTEGER, events INTEGER, anchor TEXT)"
            )
            conn.execute(
                sa.text("INSERT INTO bench_meta_work VALUES (:v, :p, :f, :e, :a)"),
                {
                    "v": WORK_VERSION,
                    "p": work.participants,
                    "f": work.followups,
                    "e": work.events,
                    "a": anchor.isoformat(),
                },
            )
        log(
            f"casework generated in {time.perf_counter() - t0:.1f} s: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        )
        return timings
    finally:
        engine.dispose()
