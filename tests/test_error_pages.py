"""Error pages render in German whatever state the database is in (issue 12, finding 4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm.accounts.models import User
from crm.extensions import db
from crm.security import public
from tests.conftest import build_app

MAINTENANCE = "Die Datenbank ist im Moment nicht erreichbar."


def sibling_app(app: Flask, url: str, instance: str, **overrides: object) -> Flask:
    """Another app (own routes, own config) that accepts the test app's login cookies."""
    previous = os.environ.get("CRM_INSTANCE_PATH")
    sibling = build_app(url, instance, SECRET_KEY=app.secret_key, **overrides)
    if previous is not None:
        os.environ["CRM_INSTANCE_PATH"] = previous
    return sibling


def logged_in(sibling: Flask, client: FlaskClient) -> FlaskClient:
    """A browser on `sibling` carrying the login cookie of `client`."""
    name = sibling.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    browser = sibling.test_client()
    browser.set_cookie(name, cookie.value)
    return browser


def test_the_error_page_after_a_failed_flush_rolls_back_and_is_the_german_page(
    app, database_url, client_as, db_session, tmp_path
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

    # Its own app: a route added to the shared test app would stay for every later test.
    failing = sibling_app(
        app, database_url, str(tmp_path), PROPAGATE_EXCEPTIONS=False, CRM_SCHEMA_CHECK=False
    )
    failing.add_url_rule("/doppelt", "core.test_duplicate_user", duplicate_user)
    response = logged_in(failing, editor).get("/doppelt")
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
    url = _unreachable_database_url(tmp_path)
    return sibling_app(app, url, str(tmp_path / "instance"), PROPAGATE_EXCEPTIONS=False)


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
    browser = logged_in(outage_app, client_as("counsellor"))
    response = browser.get("/wiedervorlagen/")
    assert response.status_code == 503
    assert MAINTENANCE in response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers


def test_a_visitor_without_login_is_not_sent_to_the_staff_login_from_an_error_page(
    client, client_as, db_session
):
    # A mistyped or old public link: the start page would only be the staff login.
    visitor = client.get("/veranstaltungen/999999/gibt-es-nicht")
    assert visitor.status_code == 404
    assert "Zur Startseite" not in visitor.get_data(as_text=True)
    assert 'id="privacy-notice-link"' in visitor.get_data(as_text=True)
    staff = client_as("counsellor").get("/veranstaltungen/999999/gibt-es-nicht")
    assert staff.status_code == 404
    assert "Zur Startseite" in staff.get_data(as_text=True)
