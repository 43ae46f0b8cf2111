"""`python -m bench.reports`: the funder report, the ESF Plus table and matching (issue 17).

python -m bench.reports                        # SQLite (bench/data/reports.sqlite3)
python -m bench.reports --db sqlite,postgres   # and PostgreSQL (crm_bench_reports)
python -m bench.reports --fresh --requests 30 --runs 2

On top of bench/participants.py's 10,000 participants and 200,000 sessions (its generator,
in a database of its own): 5,000 firms, one needs survey with 10 rounds of 5,000 answers whose
needs rows became qualification needs, 5,000 placements at 2,000 of the firms, ESF Plus
records and releases from confidentiality. Deterministic (random.Random(SEED + 17)), bulk
inserts only. Each page is requested through the WSGI app (Flask test client, logged-in admin,
who sees every office), interleaved with a bare route; the target is p95 within 10x the bare
route's p95 of the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench import generate, participants
from bench.contacts import BARE_RULE, QueryCounter, bench_app, ensure_admin, login, percentile
from bench.memory import vm_hwm_mb

# Bump when the generator below changes so cached databases are rebuilt.
DATA_VERSION = 1
SEED = participants.SEED + 17
FIRMS = 5_000
PLACEMENT_FIRMS = 2_000
PLACEMENTS = 5_000
ROUNDS = 10
RESPONSES_PER_ROUND = 5_000
RELEASE_SHARE = 0.3
RELEASE_FIRMS = 200
TARGET_RATIO = 10.0
HEADER = "| database | scenario | median ms | p95 ms | queries | p95 / bare p95 | target (≤ 10×) |"
CHUNK = 10_000
PERIOD = (date(2024, 1, 1), date(2026, 12, 31))
# Rows this module generates, deleted before it generates them again (children first).
TABLES = (
    "placement",
    "esf_record",
    "consent_release",
    "qualification_need",
    "survey_response",
    "survey_recipient",
    "survey_round",
    "survey_version",
    "survey",
)
QUESTIONS = [
    {
        "key": "q1",
        "kind": "needs",
        "text_de": "Welche Fachkräfte suchen Sie, wie viele und bis wann?",
        "text_en": "Which skilled workers do you need, how many and by when?",
    },
    {
        "key": "q2",
        "kind": "yesno",
        "text_de": "Können Sie sich vorstellen, Fachkräfte aus dem Ausland einzustellen?",
        "text_en": "Would you consider hiring skilled workers from abroad?",
    },
]


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[i : i + CHUNK])


def _next_id(conn: sa.Connection, table: str) -> int:
    return int(conn.scalar(sa.text(f"SELECT coalesce(max(id), 0) FROM {table}")) or 0) + 1  # noqa: S608 - fixed names


def _firms(rng: random.Random, first_id: int, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for i in range(FIRMS):
        name = f"Bench-Firma {i:05d} {rng.choice(generate.LEGAL)}".strip()
        city = rng.choice(participants.PLACES)
        rows.append(
            {
                "id": first_id + i,
                "name": name,
                "name_key": name.lower(),
                "kind": "employer",
                "sector": "",
                "size_class": "",
                "region": "Sachsen-Anhalt" if rng.random() < 0.5 else "",
                "street": "",
                "postcode": "",
                "city": city,
                "phone": "",
                "email": "",
                "website": "",
                "notes": "",
                "search_text": name.lower(),
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _survey(
    conn: sa.Connection, md: sa.MetaData, rng: random.Random, firm_ids: list[int], now: datetime
) -> dict[int, list[int]]:
    """One survey, one version, ROUNDS rounds answered by every firm; returns needs by firm."""
    t = md.tables
    survey_id = conn.execute(
        t["survey"]
        .insert()
        .values(
            title="Fachkräftebedarf",
            intro_de="",
            intro_en="",
            questions=QUESTIONS,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key[0]
    version_id = conn.execute(
        t["survey_version"]
        .insert()
        .values(
            survey_id=survey_id,
            number=1,
            title="Fachkräftebedarf",
            intro_de="",
            intro_en="",
            questions=QUESTIONS,
            created_at=now,
        )
    ).inserted_primary_key[0]
    needs_by_firm: dict[int, list[int]] = {}
    recipient_id = _next_id(conn, "survey_recipient")
    response_id = _next_id(conn, "survey_response")
    need_id = _next_id(conn, "qualification_need")
    span = (participants.END - PERIOD[0]).days
    for r in range(ROUNDS):
        closes_on = PERIOD[0] + timedelta(days=30 + span * r // ROUNDS)
        sent_at = datetime.combine(closes_on - timedelta(days=28), datetime.min.time(), UTC)
        round_id = conn.execute(
            t["survey_round"]
            .insert()
            .values(
                survey_id=survey_id,
                version_id=version_id,
                name=f"Bedarfsanalyse {r + 1}",
                closes_on=closes_on,
                status="closed",
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        recipients, responses, needs = [], [], []
        for org_id in firm_ids[:RESPONSES_PER_ROUND]:
            answered = sent_at + timedelta(days=rng.randrange(1, 28))
            token = hashlib.sha256(f"bench-{round_id}-{org_id}".encode()).hexdigest()
            recipients.append(
                {
                    "id": recipient_id,
                    "round_id": round_id,
                    "organisation_id": org_id,
                    "person_id": None,
                    "email": f"bedarf{org_id}@bench.netzwerk-crm.de",
                    "token_hash": token,
                    "invited_at": sent_at,
                    "reminded_at": None,
                    "responded_at": answered,
                }
            )
            rows = [
                {
                    "occupation": rng.choice(participants.OCCUPATIONS),
                    "count": str(rng.randint(1, 5)),
                    "time_frame": rng.choice(("now", "6m", "12m", "later", "")),
                }
                for _ in range(rng.choice((0, 0, 1, 1, 2)))
            ]
            responses.append(
                {
                    "id": response_id,
                    "round_id": round_id,
                    "organisation_id": org_id,
                    "recipient_id": recipient_id,
                    "answers": {"q1": rows, "q2": rng.choice(("yes", "no", ""))},
                    "status": "final",
                    "submitted_at": answered,
                    "created_at": answered,
                    "updated_at": answered,
                }
            )
            for row in rows:
                needs.append(
                    {
                        "id": need_id,
                        "organisation_id": org_id,
                        "occupation": row["occupation"],
                        "count": int(row["count"]),
                        "needed_since": None,
                        "surveyed_on": answered.date(),
                        "note": f"Bedarfsanalyse {r + 1}",
                        "required_language_level": rng.choice(("", "B1", "B1", "B2", "C1")),
                        "time_frame": row["time_frame"],
                        "survey_response_id": response_id,
                        "created_at": answered,
                        "updated_at": answered,
                    }
                )
                needs_by_firm.setdefault(org_id, []).append(need_id)
                need_id += 1
            recipient_id += 1
            response_id += 1
        _insert(conn, t["survey_recipient"], recipients)
        _insert(conn, t["survey_response"], responses)
        _insert(conn, t["qualification_need"], needs)
    return needs_by_firm


def _esf_rows(rng: random.Random, people: list[Any], now: datetime) -> list[dict[str, Any]]:
    """ESF Plus data for 90 % of the entered participants, results for those who left."""
    from crm.esf.models import ENTRY_FLAGS, ISCED_LEVELS, LABOUR_STATUSES, LONG_RESULTS

    rows = []
    for pid, entry_on, exit_on, _outcome in people:
        if entry_on is None or rng.random() >= 0.9:
            continue
        row: dict[str, Any] = {
            "participant_id": pid,
            "labour_status": rng.choice((*LABOUR_STATUSES, "unknown")),
            "isced": rng.choice((*ISCED_LEVELS, "")),
            "disability": "",
            "disability_consent_on": None,
            "exit_job_searching": False,
            "exit_education": False,
            "exit_qualification": False,
            "exit_employment": False,
            "long_result": "",
            "long_result_on": None,
            "followup_id": None,
            "created_at": now,
            "updated_at": now,
        }
        for flag in ENTRY_FLAGS:
            row[flag] = rng.choice(("yes", "no", "no", "unknown"))
        if rng.random() < 0.2:
            row["disability"] = rng.choice(("yes", "no"))
            row["disability_consent_on"] = entry_on
        if exit_on is not None:
            row[
                f"exit_{rng.choice(('job_searching', 'education', 'qualification', 'employment'))}"
            ] = True
            later = exit_on + timedelta(days=183)
            if later <= participants.END:
                row["long_result"] = rng.choice(LONG_RESULTS)
                row["long_result_on"] = later
        rows.append(row)
    return rows


def ensure_data(url: str, *, fresh: bool) -> None:
    """The participants' data (bench/participants.py), then this bench's rows, once."""
    participants.ensure_data(url, fresh=fresh)
    engine = sa.create_engine(generate.driver_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_reports_meta (version INTEGER)")
        version = conn.scalar(sa.text("SELECT max(version) FROM bench_reports_meta"))
        have = conn.scalar(sa.text("SELECT count(*) FROM survey_response"))
        placed = conn.scalar(sa.text("SELECT count(*) FROM placement"))
    if (version, have, placed) == (DATA_VERSION, ROUNDS * RESPONSES_PER_ROUND, PLACEMENTS):
        engine.dispose()
        return
    rng = random.Random(SEED)
    md = sa.MetaData()
    md.reflect(engine, only=(*TABLES, "organisation", "participant"))
    t = md.tables
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(t[table].delete())
        conn.execute(
            t["organisation"].delete().where(t["organisation"].c.name.like("Bench-Firma %"))
        )
        first = _next_id(conn, "organisation")
        firms = _firms(rng, first, now)
        _insert(conn, t["organisation"], firms)
        firm_ids = [f["id"] for f in firms]
        needs_by_firm = _survey(conn, md, rng, firm_ids, now)
        people = conn.execute(
            sa.text("SELECT id, entry_on, exit_on, exit_outcome FROM participant ORDER BY id")
        ).all()
        people = [
            (
                pid,
                date.fromisoformat(e) if isinstance(e, str) else e,
                date.fromisoformat(x) if isinstance(x, str) else x,
                o,
            )
            for pid, e, x, o in people
        ]
        _insert(conn, t["esf_record"], _esf_rows(rng, people, now))
        # Releases: 30 % of the participants, each towards 1-3 of the network's partner firms.
        releases = []
        for pid, entry_on, _exit_on, _o in people:
            if rng.random() >= RELEASE_SHARE:
                continue
            granted = entry_on or PERIOD[0]
            for org_id in rng.sample(firm_ids[:RELEASE_FIRMS], rng.randint(1, 3)):
                releases.append(
                    {
                        "participant_id": pid,
                        "organisation_id": org_id,
                        "granted_on": granted,
                        "scope": "Vermittlung",
                        "expires_on": None if rng.random() < 0.7 else granted + timedelta(days=730),
                        "revoked_on": None,
                        "review": "",
                        "agreed_organisation_name": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        _insert(conn, t["consent_release"], releases)
        placements = []
        span = (participants.END - PERIOD[0]).days
        for _ in range(PLACEMENTS):
            pid = rng.choice(people)[0]
            org_id = rng.choice(firm_ids[:PLACEMENT_FIRMS])
            kind = rng.choice(
                ("job", "job", "apprenticeship", "internship", "qualification", "recognition")
            )
            starts = PERIOD[0] + timedelta(days=rng.randrange(span))
            ends = starts + timedelta(days=rng.choice((30, 90, 180, 365)))
            need_ids = needs_by_firm.get(org_id, [])
            placements.append(
                {
                    "participant_id": pid,
                    "organisation_id": org_id,
                    "need_id": rng.choice(need_ids) if need_ids and rng.random() < 0.3 else None,
                    "kind": kind,
                    "status": rng.choice(("planned", "active", "active", "ended", "cancelled")),
                    "starts_on": starts,
                    "ends_on": ends if kind == "internship" or rng.random() < 0.3 else None,
                    "note": "",
                    "followup_id": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        _insert(conn, t["placement"], placements)
        if conn.dialect.name == "postgresql":
            for table in (*TABLES, "organisation"):
                conn.exec_driver_sql(
                    f"SELECT setval('{table}_id_seq', (SELECT coalesce(max(id), 1) FROM {table}))"
                )
        conn.exec_driver_sql("DELETE FROM bench_reports_meta")
        conn.execute(sa.text("INSERT INTO bench_reports_meta VALUES (:v)"), {"v": DATA_VERSION})
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (*TABLES, "organisation"):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"report data generated in {time.perf_counter() - t0:.1f} s", flush=True)


@dataclass
class Result:
    name: str
    median: float
    p95: float
    queries: int


def scenarios(app: Any) -> list[tuple[str, str]]:
    """The pages under test; the need and the participant are picked by a fixed rule."""
    from crm.extensions import db as sqla

    with app.app_context():
        # The need of a partner firm (one with releases) with the most recent survey answer.
        need_id = sqla.session.scalar(
            sa.text(
                "SELECT n.id FROM qualification_need n WHERE n.organisation_id IN "
                "(SELECT organisation_id FROM consent_release) "
                "ORDER BY n.surveyed_on DESC, n.id DESC LIMIT 1"
            )
        )
        # A participant still in counselling with a release (the lowest id).
        participant_id = sqla.session.scalar(
            sa.text(
                "SELECT min(p.id) FROM participant p WHERE p.exit_on IS NULL "
                "AND p.id IN (SELECT participant_id FROM consent_release)"
            )
        )
        # The same page without the section (a participant who left): what matching adds.
        left_id = sqla.session.scalar(
            sa.text("SELECT min(id) FROM participant WHERE exit_on IS NOT NULL")
        )
        sqla.session.remove()
    start, end = (d.isoformat() for d in PERIOD)
    return [
        ("bare route", BARE_RULE),
        (
            "funder report 2024-2026",
            f"/auswertung/foerderbericht?zeitraum=custom&von={start}&bis={end}",
        ),
        ("ESF Plus table 2024-2026", f"/auswertung/esf-plus?von={start}&bis={end}"),
        ("need with ranked suggestions", f"/teilnehmende/vermittlungen/bedarf/{need_id}"),
        ("participant with fitting needs", f"/teilnehmende/{participant_id}"),
        ("participant who left (no matching; reference)", f"/teilnehmende/{left_id}"),
    ]


def run(db: str, *, requests: int, warmup: int, fresh: bool) -> list[Result]:
    """Generate (once) and time every scenario, interleaved request by request."""
    url = participants.resolve(db, "reports")
    ensure_data(url, fresh=fresh)
    app = bench_app(url)
    ensure_admin(app)
    client = login(app)
    from crm.extensions import db as sqla

    with app.app_context():
        counter = QueryCounter(sqla.engine)
    pages = scenarios(app)
    times: dict[str, list[float]] = {name: [] for name, _ in pages}
    queries: dict[str, int] = {}
    for i in range(warmup + requests):
        for name, path in pages:
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
        Result(name, statistics.median(v), percentile(v, 95), queries[name])
        for name, v in times.items()
    ]


def table(db: str, results: Sequence[Result]) -> list[str]:
    """Markdown rows: median, p95, queries, the ratio to the bare route's p95 and the verdict."""
    bare = next(r for r in results if r.name == "bare route")
    lines = []
    for r in results:
        ratio = r.p95 / bare.p95 if bare.p95 else float("inf")
        verdict = "pass" if ratio <= TARGET_RATIO else "**miss**"
        if r is bare:
            verdict = "baseline"
        lines.append(
            f"| {db} | {r.name} | {r.median:.1f} | {r.p95:.1f} | {r.queries} | "
            f"{ratio:.1f}× | {verdict} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    from bench.__main__ import load_average, machine

    print(machine(), "load", load_average(), flush=True)
    for db in args.db.split(","):
        for run_no in range(1, args.runs + 1):
            results = run(
                db, requests=args.requests, warmup=args.warmup, fresh=args.fresh and run_no == 1
            )
            print(f"\nrun {run_no}, {db}, load {load_average()}")
            print(HEADER)
            print("|---|---|---:|---:|---:|---:|---|")
            print("\n".join(table(db, results)), flush=True)
    # The peak of this process (data generation included), as every bench reports it.
    print("load after", load_average(), f"VmHWM {vm_hwm_mb():.0f} MB")


if __name__ == "__main__":
    main()
