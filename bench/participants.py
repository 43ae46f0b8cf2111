"""`python -m bench.participants`: the targets board with 10,000 participants, 200,000 sessions.

python -m bench.participants                       # SQLite (bench/data/participants.sqlite3)
python -m bench.participants --db sqlite,postgres  # and PostgreSQL (crm_bench_participants)
python -m bench.participants --fresh --requests 100

Deterministic data (random.Random(20261121)); the board for the ISO week-year 2026 is
requested through the WSGI app (Flask test client, logged in as an admin, all offices and one
office) and timed server-side; median and p95 are printed beside a bare route, and the VmHWM
of the bench process at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from bench import generate
from bench.contacts import BARE_RULE, QueryCounter, bench_app, ensure_admin, login, percentile
from bench.memory import vm_hwm_mb

SEED = 20261121
# Version of the generated data: bump when the generator changes so cached databases are rebuilt.
DATA_VERSION = 3
PARTICIPANTS = 10_000
SESSIONS = 200_000
OFFICES = ("Magdeburg", "Aschersleben", "Burg", "Genthin", "Schönebeck")
CHANNELS = (
    "recognition_office",
    "association_presentation",
    "job_fair",
    "jobcentre_agency",
    "language_course_provider",
    "branch_outreach",
    "website_hotline",
    "other",
)
OUTCOMES = ("employment", "qualification", "recognition", "moved_away", "dropped_out", "other")
TARGET_MS = 300.0
START = date(2024, 1, 1)
END = date(2026, 11, 20)
# Occupations for professions, target fields and firms' needs (matching compares them).
OCCUPATIONS = (
    "Pflegefachkraft",
    "Altenpfleger/in",
    "Elektroniker/in",
    "Koch/Köchin",
    "Erzieher/in",
    "Fachinformatiker/in",
    "Fachkraft für Lagerlogistik",
    "Bauingenieur/in",
    "Zahnmedizinische Fachangestellte",
    "Buchhalter/in",
    "Kfz-Mechatroniker/in",
    "Berufskraftfahrer/in",
    "Industriemechaniker/in",
    "Verwaltungsfachangestellte",
    "Lehrkraft",
    "Ärztin/Arzt",
)
TARGET_FIELDS = (
    "Pflege",
    "Elektrotechnik",
    "Gastronomie",
    "Erziehung",
    "Informatik",
    "Logistik",
    "Bauwesen",
    "Verwaltung",
    "Metallbau",
    "Medizin",
)
COUNTRIES = ("Syrien", "Ukraine", "Afghanistan", "Türkei", "Indien", "Vietnam", "Brasilien")
PLACES = ("Magdeburg", "Aschersleben", "Burg", "Genthin", "Schönebeck", "Halle", "Stendal")


def resolve(db: str, name: str = "participants") -> str:
    """The URL of the bench database `name` (bench/data/NAME.sqlite3 or crm_bench_NAME)."""
    if db == "sqlite":
        generate.DATA_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{generate.DATA_DIR / f'{name}.sqlite3'}"
    if db in ("postgres", "postgresql"):
        url = os.environ.get("CRM_BENCH_POSTGRES_URL", generate.DEFAULT_POSTGRES_URL)
        return (
            sa.make_url(url).set(database=f"crm_bench_{name}").render_as_string(hide_password=False)
        )
    return db


def build_rows(rng: random.Random, office_ids: list[int], user_ids: list[int], org_ids: list[int]):
    """Participants and sessions; derived columns computed as the service does."""
    from crm.participants.models import GENDERS, LANGUAGE_LEVELS, RECOGNITION_STATUSES
    from crm.participants.service import entry_date

    # The traits matching and the breakdowns read come from their own stream, so adding them
    # left the dates, counts and outcomes of the first version unchanged.
    traits = random.Random(SEED + 1)

    days = (END - START).days
    # Session counts per participant summing to SESSIONS: most 10–30, a few long cases.
    weights = [rng.choice((5, 10, 15, 20, 25, 30, 40)) for _ in range(PARTICIPANTS)]
    scale = SESSIONS / sum(weights)
    counts = [max(1, round(w * scale)) for w in weights]
    # Spread the rounding difference one session at a time (putting it all on the last person
    # could go below one session, and the total then missed SESSIONS: the cache never matched).
    diff, i = SESSIONS - sum(counts), 0
    while diff:
        step = 1 if diff > 0 else -1
        if counts[i] + step >= 1:
            counts[i] += step
            diff -= step
        i = (i + 1) % PARTICIPANTS
    participants, sessions = [], []
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    sid = 0
    for pid in range(1, PARTICIPANTS + 1):
        first = START + timedelta(days=rng.randrange(days))
        office = rng.choice(office_ids)
        n = max(1, counts[pid - 1])
        held = []
        day = first
        for _ in range(n):
            day = day + timedelta(days=rng.choice((0, 1, 3, 7, 7, 14)))
            if day > END:
                day = END
            minutes = rng.choice((15, 20, 30, 45, 60, 90))
            sid += 1
            held.append((day, minutes))
            sessions.append(
                {
                    "id": sid,
                    "participant_id": pid,
                    "held_on": day,
                    "minutes": minutes,
                    "counsellor_id": None,
                    "note": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        entry = entry_date(held)
        exit_on = outcome = None
        if entry and rng.random() < 0.6:
            exit_on = min(END, max(d for d, _ in held) + timedelta(days=rng.randrange(1, 60)))
            outcome = rng.choice(OUTCOMES)
        participants.append(
            {
                "id": pid,
                "pseudonym": f"TN-{rng.getrandbits(40):010x}",
                "first_name": rng.choice(("Ayşe", "Olena", "Mohammed", "Ana", "Wei", "Jorge")),
                "last_name": f"Bench{pid:05d}",
                "name_key": f"bench{pid:05d}",
                "email": "",
                "phone": "",
                "city": traits.choice(PLACES),
                "birth_year": 1960 + rng.randrange(45),
                "gender": traits.choice((*GENDERS, "")),
                "notes": "",
                "country_of_origin": traits.choice(COUNTRIES),
                "profession": traits.choice(OCCUPATIONS),
                "profession_learned_in": "",
                "recognition_status": traits.choice(RECOGNITION_STATUSES),
                "recognising_body": "",
                "language_level": traits.choice((*LANGUAGE_LEVELS, "")),
                "target_field": traits.choice((*TARGET_FIELDS, "")),
                "office_id": office,
                "counsellor_id": rng.choice(user_ids),
                "acquisition_channel": rng.choice(CHANNELS),
                "referring_organisation_id": rng.choice(org_ids) if rng.random() < 0.7 else None,
                "first_contact_on": first,
                "total_minutes": sum(m for _, m in held),
                "first_session_on": min(d for d, _ in held),
                "entry_on": entry,
                "exit_on": exit_on,
                "exit_outcome": outcome or "",
                "exit_note": "",
                "created_at": now,
                "updated_at": now,
            }
        )
    return participants, sessions


def ensure_data(url: str, *, fresh: bool) -> None:
    generate.create_database(url, fresh=fresh)
    generate.upgrade(url)
    engine = sa.create_engine(generate.driver_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_participants_meta (version INTEGER)")
        version = conn.scalar(sa.text("SELECT max(version) FROM bench_participants_meta"))
        have = conn.scalar(sa.text("SELECT count(*) FROM participant"))
        have_s = conn.scalar(sa.text("SELECT count(*) FROM counselling_session"))
    if (version, have, have_s) == (DATA_VERSION, PARTICIPANTS, SESSIONS):
        engine.dispose()
        return
    rng = random.Random(SEED)
    md = sa.MetaData()
    md.reflect(
        engine,
        only=("office", "user_account", "organisation", "participant", "counselling_session"),
    )
    t0 = time.perf_counter()
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    with engine.begin() as conn:
        for table in ("counselling_session", "participant"):
            conn.execute(md.tables[table].delete())
        office_ids = []
        for name in OFFICES:
            existing = conn.scalar(sa.text("SELECT id FROM office WHERE name = :n"), {"n": name})
            if existing is None:
                existing = conn.execute(
                    md.tables["office"]
                    .insert()
                    .values(
                        name=name,
                        is_head_office=name == "Magdeburg",
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]
            office_ids.append(existing)
        user_ids = []
        for i in range(20):
            email = f"berater{i}@bench.netzwerk-crm.de"
            uid = conn.scalar(sa.text("SELECT id FROM user_account WHERE email = :e"), {"e": email})
            if uid is None:
                uid = conn.execute(
                    md.tables["user_account"]
                    .insert()
                    .values(
                        email=email,
                        display_name=f"Beraterin {i}",
                        password_hash="!",  # noqa: S106 - no login possible
                        role="counsellor",
                        is_active=True,
                        office_id=office_ids[i % len(office_ids)],
                        locale="de",
                        must_change_password=False,
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]
            user_ids.append(uid)
        org_ids = list(conn.scalars(sa.text("SELECT id FROM organisation ORDER BY id LIMIT 50")))
        if not org_ids:
            for i in range(50):
                org_ids.append(
                    conn.execute(
                        md.tables["organisation"]
                        .insert()
                        .values(
                            name=f"Partner {i}",
                            name_key=f"partner {i}",
                            kind="partner",
                            sector="",
                            size_class="",
                            region="",
                            street="",
                            postcode="",
                            city="",
                            phone="",
                            email="",
                            website="",
                            notes="",
                            search_text=f"partner {i}",
                            created_at=now,
                            updated_at=now,
                        )
                    ).inserted_primary_key[0]
                )
        participants, sessions = build_rows(rng, office_ids, user_ids, org_ids)
        for i in range(0, len(participants), 5000):
            conn.execute(md.tables["participant"].insert(), participants[i : i + 5000])
        for i in range(0, len(sessions), 20000):
            conn.execute(md.tables["counselling_session"].insert(), sessions[i : i + 20000])
        if conn.dialect.name == "postgresql":
            for table, n in (("participant", PARTICIPANTS), ("counselling_session", SESSIONS)):
                conn.exec_driver_sql(f"SELECT setval('{table}_id_seq', {n})")
        conn.exec_driver_sql("DELETE FROM bench_participants_meta")
        conn.execute(
            sa.text("INSERT INTO bench_participants_meta VALUES (:v)"), {"v": DATA_VERSION}
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE participant")
            conn.exec_driver_sql("VACUUM ANALYZE counselling_session")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)


def run(db: str, *, requests: int, warmup: int, fresh: bool) -> list[tuple[str, float, float, int]]:
    url = resolve(db)
    ensure_data(url, fresh=fresh)
    app = bench_app(url)
    ensure_admin(app)
    client = login(app)
    from crm.extensions import db as sqla

    with app.app_context():
        counter = QueryCounter(sqla.engine)
        office_id = sqla.session.scalar(sa.text("SELECT id FROM office WHERE name = 'Magdeburg'"))
        sqla.session.remove()
    scenarios = [
        ("bare route", BARE_RULE),
        ("board 2026, all offices", "/auswertung/?jahr=2026"),
        ("board 2026, one office", f"/auswertung/?jahr=2026&geschaeftsstelle={office_id}"),
        ("board 2025, all offices", "/auswertung/?jahr=2025"),
        ("annual report 2026", "/auswertung/jahresbericht?jahr=2026"),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in scenarios}
    queries: dict[str, int] = {}
    for i in range(warmup + requests):
        for name, path in scenarios:
            counter.count = 0
            t0 = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - t0) * 1000
            assert response.status_code == 200, (path, response.status_code)
            if i >= warmup:
                times[name].append(elapsed)
                queries[name] = counter.count
    with app.app_context():
        sqla.engine.dispose()
    return [
        (name, statistics.median(v), percentile(v, 95), queries[name]) for name, v in times.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    from bench.__main__ import load_average, machine

    print(machine(), "load", load_average())
    print("| database | scenario | median ms | p95 ms | queries | target (p95 < 300 ms) |")
    print("|---|---|---:|---:|---:|---|")
    for db in args.db.split(","):
        for name, median, p95, n in run(
            db, requests=args.requests, warmup=args.warmup, fresh=args.fresh
        ):
            verdict = (
                "baseline" if name == "bare route" else ("pass" if p95 < TARGET_MS else "**miss**")
            )
            print(f"| {db} | {name} | {median:.1f} | {p95:.1f} | {n} | {verdict} |", flush=True)
    # The peak of this process (data generation included), as every bench reports it.
    print("load after", load_average(), f"VmHWM {vm_hwm_mb():.0f} MB")


if __name__ == "__main__":
    main()
