"""Forgot password: a mailed, signed link that expires, works once and ends every session."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.accounts.models import LoginAttempt, User
from crm.accounts.passwords import verify_password
from crm.audit.models import AuditEntry
from tests import factories
from tests.conftest import login
from tests.mail_helpers import QueuedMail

NEW = "Sonnenblumen-am-Elbufer-2027"
SAME_ANSWER = "Wenn die Adresse zu einem aktiven Konto gehört"


def _request(client, email: str):
    return client.post("/passwort-vergessen", data={"email": email})


def _mails(db_session):
    return QueuedMail(db_session, "notice").messages


def _link(mail) -> str:
    text = mail.message.get_body(("plain",)).get_content()
    match = re.search(r"https?://\S+/passwort-vergessen/\S+", text)
    assert match, text
    return match.group(0)


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def _answer(response) -> str:
    """The page without what differs between any two requests (CSRF tokens)."""
    return re.sub(r'(value|content)="[^"]*"', "", response.get_data(as_text=True))


def _set(client, path: str, password: str = NEW):
    return client.post(path, data={"new": password, "confirm": password})


@pytest.fixture
def requested(app, client, db_session):
    """An active user who has asked for a link: (user, path of the link)."""
    user = factories.make_user(db_session, role="staff")
    db_session.commit()
    assert _request(client, user.email).status_code == 200
    [mail] = _mails(db_session)
    return user, _path(_link(mail))


def test_the_login_page_links_to_the_forgot_password_page(client):
    page = client.get("/anmelden").get_data(as_text=True)
    assert 'href="/passwort-vergessen"' in page
    assert "Passwort vergessen?" in page
    assert client.get("/passwort-vergessen").status_code == 200


def test_the_users_page_gives_admins_the_self_service_page_to_pass_on(admin_client):
    page = admin_client.get("/verwaltung/benutzer").get_data(as_text=True)
    hint = page.split('id="self-service-reset"')[1].split("</p>")[0]
    assert 'href="http://localhost/passwort-vergessen"' in hint
    assert "selbst" in hint


def test_unknown_inactive_and_active_addresses_get_the_same_answer(app, db_session):
    active = factories.make_user(db_session, email="aktiv@example.org")
    factories.make_user(db_session, email="inaktiv@example.org", is_active_flag=False)
    db_session.commit()
    answers = []
    for email in ("aktiv@example.org", "inaktiv@example.org", "niemand@example.org"):
        response = _request(app.test_client(), email)
        assert response.status_code == 200
        answers.append(_answer(response))
    assert SAME_ANSWER in answers[0]
    assert answers[0] == answers[1] == answers[2]
    [mail] = _mails(db_session)
    assert mail.rcpt_tos == [active.email]


def test_the_mail_is_queued_for_the_active_account_with_a_link_to_the_configured_site(
    app, client, db_session, monkeypatch
):
    # The configured address, never the request's Host header: a forged Host would send the
    # owner a valid token pointing at another site.
    monkeypatch.setitem(app.config, "CRM_BASE_URL", "https://crm.example.org/")
    user = factories.make_user(db_session, email="kathrin@example.org", display_name="Kathrin")
    db_session.commit()
    response = _request(client, " KATHRIN@Example.org ")
    assert response.status_code == 200
    [mail] = _mails(db_session)
    assert mail.rcpt_tos == [user.email]
    assert mail.row.user_id == user.id
    assert mail.row.status == "queued"
    assert mail.message["Subject"] == "Neues Passwort für netzwerk-crm festlegen"
    assert _link(mail).startswith("https://crm.example.org/passwort-vergessen/")
    assert "localhost" not in _link(mail)
    assert "60 Minuten" in mail.message.get_body(("plain",)).get_content()


def test_an_english_user_gets_the_mail_in_english(client, db_session):
    user = factories.make_user(db_session, locale="en")
    db_session.commit()
    _request(client, user.email)
    [mail] = _mails(db_session)
    assert mail.message["Subject"] == "Set a new password for netzwerk-crm"
    assert "valid for 60 minutes" in mail.message.get_body(("plain",)).get_content()


def test_the_link_sets_the_password_once_and_is_refused_after(app, requested, db_session):
    user, path = requested
    browser = app.test_client()
    assert "Neues Passwort festlegen" in browser.get(path).get_data(as_text=True)
    response = _set(browser, path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/anmelden")
    page = browser.get("/anmelden").get_data(as_text=True)
    assert "Ihr neues Passwort ist gespeichert" in page
    db_session.expire_all()
    assert verify_password(db_session.get(User, user.id).password_hash, NEW)
    assert login(app.test_client(), user.email, NEW).status_code == 302
    assert login(app.test_client(), user.email, factories.PASSWORD).status_code == 200

    again = browser.get(path)
    assert again.status_code == 404
    text = again.get_data(as_text=True)
    assert "Dieser Link ist ungültig" in text
    assert 'href="/passwort-vergessen"' in text
    assert _set(browser, path, "Ganz-anderes-Kennwort-fuer-2028").status_code == 404
    db_session.expire_all()
    assert verify_password(db_session.get(User, user.id).password_hash, NEW)


def test_the_link_expires_after_an_hour(app, db_session, frozen_time):
    user = factories.make_user(db_session)
    db_session.commit()
    _request(app.test_client(), user.email)
    path = _path(_link(_mails(db_session)[0]))
    frozen_time.shift(timedelta(minutes=59))
    assert app.test_client().get(path).status_code == 200
    frozen_time.shift(timedelta(minutes=2))
    browser = app.test_client()
    response = browser.get(path)
    assert response.status_code == 410
    assert "Dieser Link ist abgelaufen" in response.get_data(as_text=True)
    assert 'href="/passwort-vergessen"' in response.get_data(as_text=True)
    assert _set(browser, path).status_code == 410
    db_session.expire_all()
    assert verify_password(db_session.get(User, user.id).password_hash, factories.PASSWORD)


def test_a_changed_password_voids_an_earlier_link(app, client_as, db_session):
    c = client_as("counsellor")
    _request(app.test_client(), c.user.email)
    path = _path(_link(_mails(db_session)[0]))
    c.post(
        "/konto/passwort",
        data={"current": factories.PASSWORD, "new": NEW, "confirm": NEW},
    )
    assert app.test_client().get(path).status_code == 404


@pytest.mark.parametrize(
    "token",
    [
        "kaputt",
        "WzEsImFiYyJd.aaaa.bbbb",
        "x" * 3000,
        "%C3%A4",
        "WzEsImFiYyJd",
    ],
)
def test_a_forged_or_broken_link_gives_a_german_page_not_an_error(client, token):
    response = client.get(f"/passwort-vergessen/{token}")
    assert response.status_code == 404
    assert "Dieser Link ist ungültig" in response.get_data(as_text=True)
    assert client.post(f"/passwort-vergessen/{token}", data={}).status_code == 404


def test_a_link_signed_for_another_purpose_is_refused(app, client, db_session):
    from itsdangerous import URLSafeTimedSerializer

    user = factories.make_user(db_session)
    db_session.commit()
    token = URLSafeTimedSerializer(app.secret_key, salt="other").dumps([user.id, "x"])
    assert client.get(f"/passwort-vergessen/{token}").status_code == 404


def test_a_deactivated_user_cannot_use_an_earlier_link(app, requested, admin_client, db_session):
    user, path = requested
    admin_client.post(f"/verwaltung/benutzer/{user.id}/aktiv")
    assert app.test_client().get(path).status_code == 404


def test_setting_the_password_ends_every_session_and_is_audited(app, client_as, db_session):
    c = client_as("counsellor")
    other_device = app.test_client()
    login(other_device, c.user.email)
    assert c.get("/").status_code == 200
    _request(app.test_client(), c.user.email)
    path = _path(_link(_mails(db_session)[0]))
    assert _set(app.test_client(), path).status_code == 302
    assert c.get("/").status_code == 302
    assert other_device.get("/").status_code == 302
    actions = db_session.scalars(
        sa.select(AuditEntry.action)
        .where(
            AuditEntry.entity_type == "user_account",
            AuditEntry.entity_id == c.user.id,
            AuditEntry.action.startswith("password_reset"),
        )
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["password_reset_request", "password_reset_by_link"]


def test_a_weak_password_is_refused_and_the_link_still_works(app, requested, db_session):
    user, path = requested
    browser = app.test_client()
    response = _set(browser, path, "passwort1234")
    assert response.status_code == 200
    assert "zu häufig" in response.get_data(as_text=True)
    mismatch = browser.post(path, data={"new": NEW, "confirm": NEW + "x"})
    assert "stimmen nicht überein" in mismatch.get_data(as_text=True)
    assert _set(browser, path).status_code == 302


def test_a_must_change_flag_from_an_admin_reset_is_cleared(app, requested, db_session):
    user, path = requested
    user.must_change_password = True
    db_session.commit()
    assert _set(app.test_client(), path).status_code == 302
    db_session.expire_all()
    assert not db_session.get(User, user.id).must_change_password


def test_requests_are_throttled_per_address_without_locking_the_login(app, db_session):
    user = factories.make_user(db_session)
    db_session.commit()
    for _ in range(5):
        assert _request(app.test_client(), user.email).status_code == 200
    refused = _request(app.test_client(), user.email)
    assert refused.status_code == 429
    assert "Zu viele Anfragen" in refused.get_data(as_text=True)
    assert len(_mails(db_session)) == 5
    # An unknown address is counted the same way, so the refusal tells nothing either.
    for _ in range(5):
        _request(app.test_client(), "niemand@example.org")
    assert _request(app.test_client(), "niemand@example.org").status_code == 429
    # Asking for links is no failed login: the owner can still log in.
    assert login(app.test_client(), user.email).status_code == 302


def test_requests_are_throttled_per_client_address_in_the_database(client, db_session):
    user = factories.make_user(db_session)
    # Requests recorded by "another worker" are just rows: this worker counts them.
    for n in range(20):
        db_session.add(
            LoginAttempt(account_key=f"reset:x{n}@example.org", ip="reset:127.0.0.1", success=False)
        )
    db_session.commit()
    assert _request(client, user.email).status_code == 429
    assert _mails(db_session) == []


def test_both_forms_refuse_a_post_without_csrf_token(app, requested, db_session):
    user, path = requested
    client = app.test_client()
    assert (
        client.post("/passwort-vergessen", data={"email": user.email}, csrf=False).status_code
        == 400
    )
    assert len(_mails(db_session)) == 1
    response = client.post(path, data={"new": NEW, "confirm": NEW}, csrf=False)
    assert response.status_code == 400
    db_session.expire_all()
    assert verify_password(db_session.get(User, user.id).password_hash, factories.PASSWORD)


def test_two_parallel_submissions_of_one_link_set_the_password_only_once(make_database, tmp_path):
    """The check and the change are one step: the user's row is locked (PostgreSQL) or the
    write lock is taken up front (SQLite, as for every POST request)."""
    import threading

    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from crm.accounts import reset
    from crm.database import write_intent
    from crm.extensions import db
    from tests.conftest import build_app

    # Its own database: the workers' commits must be real, not the tests' savepoints.
    app = build_app(make_database(), str(tmp_path))
    with app.app_context():
        upgrade()
        user = factories.make_user(db.session)
        token = reset.make_token(user, app.secret_key)
        db.session.commit()
        db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def submit(password: str) -> None:
        try:
            with app.app_context(), write_intent(), Session(db.engine) as session:
                barrier.wait()
                found, problem = reset.user_for_token(session, app.secret_key, token, lock=True)
                if found is None:
                    session.rollback()
                    outcomes.append(problem)
                    return
                reset.reset_with_token(session, found, password)
                session.commit()
                outcomes.append("set")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    passwords = ["Erstes-Kennwort-an-der-Elbe-27", "Zweites-Kennwort-im-Harz-2028"]
    threads = [threading.Thread(target=submit, args=(p,)) for p in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(outcomes) == ["invalid", "set"]
