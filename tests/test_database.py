"""Database setup: SQLite pragmas, concurrent writers, migrations, the schema guard."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from crm.extensions import db
from tests.conftest import build_app


@pytest.fixture
def fresh_app(make_database, tmp_path):
    """An app on a new, empty database."""
    application = build_app(make_database(), str(tmp_path))
    yield application
    with application.app_context():
        db.engine.dispose()


def _is_sqlite(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(fresh_app):
    if not _is_sqlite(fresh_app):
        pytest.skip("SQLite pragmas")
    with fresh_app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_two_concurrent_writers_never_fail_with_database_is_locked(fresh_app):
    """Read-then-write transactions from two threads at once: the classic SQLite failure."""
    with fresh_app.app_context():
        upgrade()
        engine = db.engine
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(15):
                with engine.begin() as conn:
                    n = conn.execute(sa.text("SELECT count(*) FROM office")).scalar()
                    time.sleep(0.002)  # widen the window between the read and the write
                    conn.execute(
                        sa.text(
                            "INSERT INTO office (name, is_head_office, created_at, updated_at) "
                            "VALUES (:n, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        ),
                        {"n": f"{prefix}-{i}-{n}"},
                    )
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM office")).scalar() == 30


def test_upgrade_an_empty_database_to_head_then_downgrade_one_step_and_back(fresh_app):
    with fresh_app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"user_account", "audit_entry", "login_session", "office"} <= tables
        downgrade(revision="-1")
        upgrade()
        assert set(sa.inspect(db.engine).get_table_names()) == tables


def test_the_models_and_the_migrations_describe_the_same_schema(fresh_app):
    """Autogenerate against a migrated database finds nothing: no change lacks a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with fresh_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            from crm.contacts.search import include_object

            context = MigrationContext.configure(conn, opts={"include_object": include_object})
            diff = _without_inline_sqlite_fks(conn, compare_metadata(context, db.metadata))
    assert diff == []


def _without_inline_sqlite_fks(conn: sa.Connection, diff: list) -> list:
    """The diff without the remove/add pairs of FKs that SQLite has but cannot name.

    A column added to a big table without rebuilding it (activity.followup_id) carries its
    foreign key inline (`ADD COLUMN … REFERENCES … ON DELETE …`, the only form SQLite
    allows). SQLAlchemy reads a key's name and ON DELETE only from table-level clauses, so
    autogenerate sees "unnamed, no options" there. The pair is dropped only if SQLite's own
    `PRAGMA foreign_key_list` shows exactly the model's key.
    """
    if conn.dialect.name != "sqlite":
        return diff

    def spec(fk: sa.ForeignKeyConstraint) -> tuple:
        columns = tuple(c.name for c in fk.columns)
        return (fk.table.name, columns, fk.referred_table.name, fk.elements[0].column.name)

    def in_database(fk: sa.ForeignKeyConstraint) -> bool:
        table, columns, target, target_column = spec(fk)
        ondelete = (fk.ondelete or "NO ACTION").upper()
        rows = conn.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")').mappings()
        wanted = (target, columns[0], target_column, ondelete)
        return len(columns) == 1 and any(
            (r["table"], r["from"], r["to"], r["on_delete"]) == wanted for r in rows
        )

    unnamed = {spec(op[1]) for op in diff if op[0] == "remove_fk" and op[1].name is None}
    inline = {
        spec(op[1])
        for op in diff
        if op[0] == "add_fk" and spec(op[1]) in unnamed and in_database(op[1])
    }
    return [op for op in diff if not (op[0] in ("add_fk", "remove_fk") and spec(op[1]) in inline)]


def test_an_out_of_date_schema_is_refused_with_the_command_that_fixes_it(fresh_app):
    response = fresh_app.test_client().get("/anmelden")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "flask --app wsgi db upgrade" in body
    assert "Datenbank" in body
    with fresh_app.app_context():
        upgrade()
    assert fresh_app.test_client().get("/anmelden").status_code == 200


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_timestamps_come_back_as_aware_utc(db_session):
    from datetime import UTC

    from tests import factories

    user = factories.make_user(db_session)
    db_session.commit()
    db_session.expire_all()
    assert db_session.get(type(user), user.id).created_at.tzinfo == UTC


def test_naive_datetimes_are_refused(db_session):
    from datetime import datetime

    from tests import factories

    user = factories.make_user(db_session)
    user.last_login_at = datetime(2026, 1, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(sa.exc.StatementError):
        db_session.flush()
    db_session.rollback()


def test_reads_are_not_blocked_while_another_process_holds_the_write_lock(fresh_app):
    """A long import holds SQLite's write lock; page views must still be served at once."""
    if not _is_sqlite(fresh_app):
        pytest.skip("SQLite locking")
    with fresh_app.app_context():
        upgrade()
        blocker = db.engine.connect()
    try:
        blocker.exec_driver_sql(
            "INSERT INTO office (name, is_head_office, created_at, updated_at)"
            " VALUES ('Sperre', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        started = time.monotonic()
        response = fresh_app.test_client().get("/anmelden")
        assert response.status_code == 200
        assert time.monotonic() - started < 2  # busy_timeout is 15 s: no waiting happened
    finally:
        blocker.rollback()
        blocker.close()


def test_foreign_keys_are_enforced_after_migrations_ran_in_the_same_process(app, db_session):
    """Migrations switch SQLite's foreign keys off; the pool must not hand that out later."""
    if not _is_sqlite(app):
        pytest.skip("SQLite pragma")
    assert db_session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_every_table_with_an_integer_id_never_reuses_one_on_sqlite(fresh_app):
    """AUTOINCREMENT on every such table of the migrated schema (a new table must have it)."""
    if not _is_sqlite(fresh_app):
        pytest.skip("PostgreSQL sequences never hand out a number twice")
    with fresh_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE "
                "'%' || char(10) || char(9) || 'id INTEGER NOT NULL%'"
            ).all()
    assert len(rows) > 30
    assert [name for name, sql in rows if "AUTOINCREMENT" not in sql] == []


@pytest.mark.parametrize("kind", ["person", "participant", "user"])
def test_deleting_the_highest_row_and_creating_a_new_one_gives_a_new_id(db_session, kind):
    """An erased person's id never names the next one (tokens and audit entries carry ids)."""
    from tests import factories

    make = {
        "person": factories.make_person,
        "participant": factories.make_participant,
        "user": factories.make_user,
    }[kind]
    first = make(db_session)
    db_session.flush()
    gone = first.id
    db_session.delete(first)
    db_session.flush()
    second = make(db_session)
    db_session.flush()
    assert second.id > gone
