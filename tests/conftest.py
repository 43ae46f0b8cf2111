"""Fixtures: app, db with per-test rollback, CSRF-aware clients, logins per role, smtp, time.

The database is SQLite in a temporary directory unless CRM_TEST_DATABASE_URL names a
PostgreSQL server; then a fresh database is created on it for this run and dropped after.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy.session import _app_ctx_id
from hypothesis import HealthCheck, Phase, settings
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import orm

os.environ["CRM_ENV"] = "testing"

import crm.models  # noqa: E402, F401 - every mapper, so a test module may import any domain first
from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402
from tests import factories  # noqa: E402

pytest_plugins = ["tests.fixtures.queries", "tests.fixtures.smtp", "tests.fixtures.cluster"]


def _admin_engine(url: sa.URL) -> sa.Engine:
    """An engine for CREATE/DROP DATABASE that keeps no connection open between uses."""
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _make_postgres_database(server_url: str) -> tuple[str, sa.URL, str]:
    """Create a uniquely named database on the server; return its URL, the server URL, name."""
    url = sa.make_url(server_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    admin = _admin_engine(url)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"crm_test_{worker}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), url, name


def _drop_postgres_database(server: sa.URL, name: str) -> None:
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, empty database for this test run."""
    server = os.environ.get("CRM_TEST_DATABASE_URL")
    if server:
        url, server_url, name = _make_postgres_database(server)
        yield url
        _dispose_built_apps()
        _drop_postgres_database(server_url, name)
    else:
        with tempfile.TemporaryDirectory(prefix="crm-test-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def make_database(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Factory for extra empty databases (migration tests, subprocess tests)."""
    created: list[tuple[sa.URL, str]] = []
    tmp = tempfile.TemporaryDirectory(prefix="crm-extra-")

    def make() -> str:
        server = os.environ.get("CRM_TEST_DATABASE_URL")
        if server:
            url, server_url, name = _make_postgres_database(server)
            created.append((server_url, name))
            return url
        return f"sqlite:///{Path(tmp.name) / (secrets.token_hex(4) + '.sqlite3')}"

    yield make
    _dispose_built_apps()
    for server_url, name in created:
        _drop_postgres_database(server_url, name)
    tmp.cleanup()


# Every app built for tests; their pooled connections are closed before databases are dropped
# (an open psycopg connection that is garbage-collected later is a ResourceWarning = error).
_BUILT_APPS: list[Flask] = []


def _dispose_built_apps() -> None:
    for application in _BUILT_APPS:
        with application.app_context():
            db.engine.dispose()
    _BUILT_APPS.clear()


@pytest.fixture(autouse=True)
def _close_idle_connections_of_built_apps() -> Iterator[None]:
    """After each test, close the pooled connections of the apps tests built.

    Each app keeps its idle connections until disposed; kept to the end of the run, the
    apps of a few hundred tests held more connections than a default PostgreSQL server
    allows (max_connections = 100). A disposed engine opens new connections when next used,
    so apps of module-scoped fixtures keep working. The session app keeps its pool.
    """
    yield
    for application in _BUILT_APPS:
        if application is not _SESSION_APP.get("app"):
            with application.app_context():
                db.engine.dispose()


_SESSION_APP: dict[str, Flask] = {}


def build_app(url: str, instance: str, **overrides: Any) -> Flask:
    """An app for tests on the given database."""
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "CRM_MAIL_TRANSPORT": "file",
        "CRM_MAIL_OUTBOX_DIR": str(Path(instance) / "outbox"),
        "SERVER_NAME": None,
    }
    config.update(overrides)
    os.environ["CRM_INSTANCE_PATH"] = instance
    application = create_app(config)
    _BUILT_APPS.append(application)
    return application


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The application on a database migrated to head (real Alembic migrations)."""
    from flask_migrate import upgrade

    application = build_app(database_url, str(tmp_path_factory.mktemp("instance")))
    application.test_client_class = CSRFClient
    _SESSION_APP["app"] = application
    with application.app_context():
        upgrade()
        # Let the one-time schema check pass now, outside the tests' open transactions.
        assert application.test_client().get("/healthz").status_code == 200
    yield application
    with application.app_context():
        db.engine.dispose()


def _session_scope() -> Any:
    try:
        return _app_ctx_id()
    except RuntimeError:
        return "test-body"


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    """A session whose work, including commits in requests, is rolled back after the test.

    No app context stays pushed during the test: each request gets its own, as in
    production (a shared one would share `g`, and with it Flask-Login's cached user).
    Tests that call services needing an app context use the `app_ctx` fixture.
    """
    with app.app_context():
        connection = db.engine.connect()
    transaction = connection.begin()
    original = db.session
    # A plain Session: Flask-SQLAlchemy's own get_bind() would ignore `bind` and open a
    # second connection, which could not see (or would wait for) this transaction.
    db.session = orm.scoped_session(
        orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
        scopefunc=_session_scope,
    )
    try:
        yield db.session
    finally:
        db.session.remove()
        db.session = original
        transaction.rollback()
        connection.close()


@pytest.fixture
def app_ctx(app: Flask, db_session: Any) -> Iterator[Any]:
    """An app context for tests that call services directly (shares the rolled-back session)."""
    with app.test_request_context():
        yield db_session


class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token with every form POST, like a browser.

    Pass `csrf=False` to send the request without one (security tests).
    """

    def _csrf_token(self) -> str:
        with self.session_transaction() as sess:
            raw = sess.setdefault("csrf_token", secrets.token_hex(20))
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def open(self, *args: Any, **kwargs: Any) -> Any:
        add_csrf = kwargs.pop("csrf", True)
        method = kwargs.get("method", "GET").upper()
        if add_csrf and method in {"POST", "PUT", "PATCH", "DELETE"}:
            data = kwargs.get("data")
            if data is None or isinstance(data, dict):
                data = dict(data or {})
                data.setdefault("csrf_token", self._csrf_token())
                kwargs["data"] = data
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask, db_session: Any) -> CSRFClient:
    """An anonymous browser."""
    return app.test_client()


def login(client: FlaskClient, email: str, password: str = factories.PASSWORD) -> Any:
    """Log `client` in through the real login form."""
    return client.post("/anmelden", data={"email": email, "password": password})


@pytest.fixture
def client_as(app: Flask, db_session: Any) -> Any:
    """`client_as("counsellor")` gives a logged-in client for a new user of that role."""

    def make(role: str, **user_kwargs: Any) -> CSRFClient:
        user = factories.make_user(db_session, role=role, **user_kwargs)
        db_session.commit()
        c = app.test_client()
        response = login(c, user.email)
        assert response.status_code == 302, response.data
        c.user = user  # type: ignore[attr-defined]
        return c

    return make


@pytest.fixture
def admin_client(client_as: Any) -> CSRFClient:
    return client_as("admin")


@pytest.fixture
def frozen_time() -> Iterator[Any]:
    """Freeze the clock at 21.11.2026 09:00 Berlin; move it with `.shift()` or `.move_to()`."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import time_machine

    with time_machine.travel(
        datetime(2026, 11, 21, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")), tick=False
    ) as traveller:
        yield traveller


def csrf_token_from(html: bytes) -> str:
    """The CSRF token of the first form in a page."""
    match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1).decode()


# --- hypothesis -------------------------------------------------------------------------------
# `ci`: a few examples per form and route, part of every `make test` on both databases.
# `fuzz`: the long campaign of `make fuzz`, remembering failures in .hypothesis/.
_HYPOTHESIS_COMMON = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
settings.register_profile(
    "ci",
    max_examples=4,
    database=None,
    phases=[Phase.generate, Phase.target, Phase.shrink],
    **_HYPOTHESIS_COMMON,
)
settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("CRM_FUZZ_EXAMPLES", "50")), **_HYPOTHESIS_COMMON
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
