"""Error pages render in German whatever state the database is in (issue 12, finding 4)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

from crm.accounts.models import User
from crm.extensions import db
from crm.security import public
from tests.conftest import build_app

MAINTENANCE = "Die Datenbank ist im Moment nicht erreichbar."


@contextmanager
def errors_answered(app: Flask) -> Iterator[None]:
    """Let the app answer unhandled errors with its error page, as in production."""
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        yield
    finally:
        app.testing = True
        app.config["PROPAGATE_EXCEPTIONS"] = None


def _add_route(app: Flask, path: str, endpoint: str, view) -> None:
    app.view_functions[endpoint] = view
    if endpoint not in {rule.endpoint for rule in app.url_map.iter_rules()}:
        app.url_map.add(app.url_rule_class(path, endpoint=endpoint))


def test_the_error_page_after_a_failed_flush_rolls_back_and_is_the_german_page(
    app, client_as, db_session
):
    """A public page that fails mid-flush: the session needs a rollback before anything loads.

    The page is public, so the logged-in user is not loaded before the error; the error page
    then must not load it from a session that can no longer query.
    """
    editor = client_as("staff")
    taken = editor.user.email

    @public
    def duplicate_user():
        db.session.add(User(email=taken, display_name="Doppelt", password_hash="x", role="staff"))
        db.session.flush()
        return "unreachable"

    _add_route(app, "/__test/doppelt", "core.test_duplicate_user", duplicate_user)
    with errors_answered(app):
        response = editor.get("/__test/doppelt")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Interner Fehler" in body
    assert "Internal Server Error" not in body


def _unreachable_database_url(tmp_path: Path) -> str:
    if os.environ.get("CRM_TEST_DATABASE_URL"):
        # Port 9 (discard) on the loopback: nothing listens, connecting is refused at once.
        return "postgresql+psycopg://postgres@127.0.0.1:9/crm?connect_timeout=2"
    return f"sqlite:///{tmp_path / 'no-such-directory' / 'crm.sqlite3'}"


@pytest.fixture
def outage_app(app, tmp_path) -> Flask:
    """The app on a database that cannot be reached, sharing the test app's session key."""
    instance = str(tmp_path / "instance")
    previous = os.environ.get("CRM_INSTANCE_PATH")
    broken = build_app(
        _unreachable_database_url(tmp_path),
        instance,
        SECRET_KEY=app.secret_key,
        PROPAGATE_EXCEPTIONS=False,
    )
    if previous is not None:
        os.environ["CRM_INSTANCE_PATH"] = previous
    return broken


@pytest.mark.parametrize("path", ["/", "/anmelden", "/kontakte/organisationen", "/gibt-es-nicht"])
def test_pages_answer_503_with_the_german_maintenance_page_while_the_database_is_unreachable(
    outage_app, path
):
    response = outage_app.test_client().get(path)
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert MAINTENANCE in body
    assert response.headers["Retry-After"] == "60"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_logged_in_user_gets_the_german_maintenance_page_while_the_database_is_unreachable(
    outage_app, client_as
):
    """The login cookie makes the app load the user; the error page must not try again."""
    name = outage_app.config["SESSION_COOKIE_NAME"]
    session_cookie = client_as("counsellor").get_cookie(name)
    assert session_cookie is not None
    browser = outage_app.test_client()
    browser.set_cookie(name, session_cookie.value)
    response = browser.get("/wiedervorlagen/")
    assert response.status_code == 503
    assert MAINTENANCE in response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers
