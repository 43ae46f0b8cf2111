"""Reminder tick with 100,000 open follow-ups and 5,000 event series.

python -m bench.followups --db sqlite     # /tmp/crm_bench_followups.sqlite3
python -m bench.followups --db postgres   # postgresql://postgres@127.0.0.1:5432/crm_bench_followups

Creates the database afresh, migrates it, bulk-inserts the rows, then times the two queries
of one reminder tick (the count that decides whether to open the transport, and the claim of
the next due row) and prints EXPLAIN for both.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

FOLLOWUPS = 100_000
SERIES = 5_000
OCCURRENCES = 12
DUE_NOW = 40  # rows actually due and unreminded at the tick


def database_url(kind: str) -> str:
    if kind == "sqlite":
        path = os.path.join(tempfile.gettempdir(), "crm_bench_followups.sqlite3")
        if os.path.exists(path):
            os.remove(path)
        return f"sqlite:///{path}"
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql('DROP DATABASE IF EXISTS "crm_bench_followups" WITH (FORCE)')
        conn.exec_driver_sql('CREATE DATABASE "crm_bench_followups"')
    admin.dispose()
    return "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_followups"


def fill(engine: sa.Engine, now: datetime) -> None:
    from crm.events.models import Event, EventSeries
    from crm.followups.models import FollowUp

    rnd = random.Random(5)
    md = sa.MetaData()
    users = sa.Table("user_account", md, autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(
            users.insert(),
            [
                {
                    "email": f"bench{i}@example.org",
                    "display_name": f"Bench {i}",
                    "password_hash": "x",
                    "role": "staff",
                    "is_active": True,
                    "locale": "de",
                    "must_change_password": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(60)
            ],
        )
        user_ids = [r[0] for r in conn.execute(sa.select(users.c.id))]
        rows = []
        for i in range(FOLLOWUPS):
            if i < DUE_NOW:
                due, reminded = now - timedelta(minutes=rnd.randint(1, 60)), None
            elif i < FOLLOWUPS // 3:  # past, already reminded (open but overdue)
                due = now - timedelta(days=rnd.randint(1, 365))
                reminded = due
            else:
                due, reminded = now + timedelta(minutes=rnd.randint(2, 525_600)), None
            rows.append(
                {
                    "subject": f"Wiedervorlage {i}",
                    "note": "",
                    "priority": "normal",
                    "status": "open",
                    "due_at": due,
                    "has_time": True,
                    "assignee_id": rnd.choice(user_ids),
                    "outcome": "",
                    "reminded_at": reminded,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        conn.execute(FollowUp.__table__.insert(), rows)
        series_rows = [
            {
                "rrule": "FREQ=WEEKLY;INTERVAL=2",
                "start_local": datetime(2026, 1, 5, 10, 0) + timedelta(hours=i % 9),
                "duration_minutes": 90,
                "all_day": False,
                "kind": "coordination",
                "title": f"Abstimmung {i}",
                "place": "",
                "description": "",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(SERIES)
        ]
        conn.execute(EventSeries.__table__.insert(), series_rows)
        series_ids = [r[0] for r in conn.execute(sa.select(EventSeries.__table__.c.id))]
        events = []
        for sid in series_ids:
            for k in range(OCCURRENCES):
                start = now + timedelta(days=14 * k, hours=sid % 9)
                events.append(
                    {
                        "kind": "coordination",
                        "title": f"Abstimmung {sid}",
                        "starts_at": start,
                        "ends_at": start + timedelta(minutes=90),
                        "all_day": False,
                        "place": "",
                        "description": "",
                        "status": "planned",
                        "series_id": sid,
                        "occurrence_key": start,
                        "is_exception": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        conn.execute(Event.__table__.insert(), events)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")


def timed(engine: sa.Engine, stmt: sa.Select, runs: int = 30) -> tuple[float, float]:
    times = []
    with engine.connect() as conn:
        for _ in range(runs):
            t0 = time.perf_counter()
            conn.execute(stmt).all()
            times.append((time.perf_counter() - t0) * 1000)
            conn.rollback()
    return statistics.median(times), max(times)


def explain(engine: sa.Engine, stmt: sa.Select) -> str:
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + str(compiled)).all()
    return "\n".join(str(r[-1]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    os.environ.setdefault("CRM_ENV", "development")
    url = database_url(args.db)
    os.environ["DATABASE_URL"] = url
    from flask_migrate import upgrade

    from crm import create_app
    from crm.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "CRM_SCHEMA_CHECK": False})
    from crm.followups.models import FollowUp
    from crm.followups.service import _due_for_reminder

    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        upgrade()
        engine = db.engine
        t0 = time.perf_counter()
        fill(engine, now)
        print(f"filled in {time.perf_counter() - t0:.1f} s")
        count = sa.select(sa.func.count()).select_from(FollowUp).where(_due_for_reminder(now))
        claim = (
            sa.select(FollowUp.id)
            .where(_due_for_reminder(now))
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(1)
        )
        if engine.dialect.name == "postgresql":
            claim = claim.with_for_update(skip_locked=True)
        for name, stmt in (("count due", count), ("claim next due", claim)):
            median, worst = timed(engine, stmt)
            print(f"{args.db} {name}: median {median:.2f} ms, max {worst:.2f} ms")
            print(explain(engine, stmt))
        with engine.connect() as conn:
            print("due rows:", conn.execute(count).scalar())
        print("load average:", Path("/proc/loadavg").read_text().split()[0])
        engine.dispose()


if __name__ == "__main__":
    main()
