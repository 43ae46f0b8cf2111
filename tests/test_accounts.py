"""Login, logout, password change, deactivation: sessions really end."""

from __future__ import annotations

import sqlalchemy as sa

from crm.accounts.models import LoginSession, User
from crm.audit.models import AuditEntry
from tests import factories
from tests.conftest import login


def _cookie(client) -> str:
    return client.get_cookie(client.application.config["SESSION_COOKIE_NAME"]).value


def _browser_with_cookie(app, value: str):
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], value)
    return other


def test_login_with_right_password_opens_the_start_page(client, db_session):
    user = factories.make_user(db_session, role="staff")
    db_session.commit()
    response = login(client, user.email)
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_login_is_case_insensitive_for_the_email(client, db_session):
    factories.make_user(db_session, email="gross@example.org")
    db_session.commit()
    assert login(client, "GROSS@example.ORG").status_code == 302


def test_wrong_password_is_refused_with_a_german_message(client, db_session):
    user = factories.make_user(db_session)
    db_session.commit()
    response = login(client, user.email, "falsches-passwort-123")
    assert response.status_code == 200
    assert "E-Mail-Adresse oder Passwort ist falsch." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_unknown_account_gets_the_same_answer_as_a_wrong_password(client, db_session):
    response = login(client, "niemand@example.org", "irgendein-passwort-123")
    assert response.status_code == 200
    assert "E-Mail-Adresse oder Passwort ist falsch." in response.get_data(as_text=True)


def test_deactivated_user_cannot_log_in(client, db_session):
    user = factories.make_user(db_session, is_active_flag=False)
    db_session.commit()
    assert login(client, user.email).status_code == 200
    assert client.get("/").status_code == 302


def test_logout_ends_the_session_even_for_a_copied_cookie(app, client_as):
    c = client_as("staff")
    stolen = _cookie(c)
    assert _browser_with_cookie(app, stolen).get("/").status_code == 200
    assert c.post("/abmelden").status_code == 302
    assert c.get("/").status_code == 302
    assert _browser_with_cookie(app, stolen).get("/").status_code == 302


def test_logout_needs_post_not_get(client_as):
    c = client_as("staff")
    assert c.get("/abmelden").status_code == 405
    assert c.get("/").status_code == 200


def test_password_change_ends_all_other_sessions_and_keeps_this_one(app, client_as, db_session):
    c = client_as("counsellor")
    other_device = app.test_client()
    login(other_device, c.user.email)
    old_cookie = _cookie(c)
    response = c.post(
        "/konto/passwort",
        data={
            "current": factories.PASSWORD,
            "new": "Neues-Passwort-fuer-Burg-2027",
            "confirm": "Neues-Passwort-fuer-Burg-2027",
        },
    )
    assert response.status_code == 302
    assert c.get("/").status_code == 200
    assert other_device.get("/").status_code == 302
    assert _browser_with_cookie(app, old_cookie).get("/").status_code == 302


def test_password_change_refuses_a_common_password_and_keeps_the_old_one(client_as):
    c = client_as("counsellor")
    response = c.post(
        "/konto/passwort",
        data={"current": factories.PASSWORD, "new": "passwort1234", "confirm": "passwort1234"},
    )
    assert response.status_code == 200
    assert "zu häufig" in response.get_data(as_text=True)
    assert c.get("/").status_code == 200


def test_deactivating_a_user_ends_their_sessions(admin_client, client_as, db_session):
    victim = client_as("staff")
    assert victim.get("/").status_code == 200
    response = admin_client.post(f"/verwaltung/benutzer/{victim.user.id}/aktiv")
    assert response.status_code == 302
    assert victim.get("/").status_code == 302
    remaining = db_session.scalar(
        sa.select(sa.func.count(LoginSession.id)).where(LoginSession.user_id == victim.user.id)
    )
    assert remaining == 0


def test_admin_reset_gives_a_one_time_password_that_must_be_changed(app, admin_client, db_session):
    user = factories.make_user(db_session, role="staff")
    db_session.commit()
    page = admin_client.post(f"/verwaltung/benutzer/{user.id}/passwort").get_data(as_text=True)
    import re

    temporary = re.search(r'<code id="temporary-password">([^<]+)</code>', page).group(1)
    c = app.test_client()
    assert login(c, user.email, temporary).status_code == 302
    response = c.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/konto/passwort")


def test_admin_creates_a_user_who_must_choose_a_password(admin_client, db_session):
    office = factories.make_office(db_session, name="Magdeburg")
    db_session.commit()
    response = admin_client.post(
        "/verwaltung/benutzer/neu",
        data={
            "email": "neu@example.org",
            "display_name": "Neue Kollegin",
            "role": "counsellor",
            "office_id": str(office.id),
        },
    )
    assert response.status_code == 200
    user = db_session.scalar(sa.select(User).where(User.email == "neu@example.org"))
    assert user.must_change_password
    assert user.role == "counsellor"


def test_admin_changes_a_role_and_the_audit_log_keeps_old_and_new(admin_client, db_session):
    user = factories.make_user(db_session, role="readonly", display_name="Rolf Rolle")
    db_session.commit()
    response = admin_client.post(
        f"/verwaltung/benutzer/{user.id}",
        data={"email": user.email, "display_name": "Rolf Rolle", "role": "staff", "office_id": "0"},
    )
    assert response.status_code == 302
    entry = db_session.scalars(
        sa.select(AuditEntry)
        .where(
            AuditEntry.entity_type == "user_account",
            AuditEntry.entity_id == user.id,
            AuditEntry.action == "update",
        )
        .order_by(AuditEntry.id.desc())
    ).first()
    assert entry.changes["values"]["role"] == ["readonly", "staff"]
    assert entry.actor_id == admin_client.user.id


def test_login_success_and_failure_are_in_the_audit_log(client, db_session):
    user = factories.make_user(db_session)
    db_session.commit()
    login(client, user.email, "voellig-falsch-0000")
    login(client, user.email)
    actions = db_session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.summary == user.email).order_by(AuditEntry.id)
    ).all()
    assert actions == ["login_failure", "login_success"]


def test_the_user_list_flags_a_counsellor_without_an_office(admin_client, db_session):
    """Such an account (possible before offices were required) sees and records nothing."""
    factories.make_user(db_session, role="counsellor", display_name="Ohne Stelle")
    factories.make_user(db_session, role="staff", display_name="Assistenz ohne Stelle")
    db_session.commit()
    page = admin_client.get("/verwaltung/benutzer").get_data(as_text=True)
    row = page.split("Ohne Stelle", 1)[1].split("</tr>", 1)[0]
    assert "keine Geschäftsstelle: sieht keine Teilnehmenden" in row
    staff_row = page.split("Assistenz ohne Stelle", 1)[1].split("</tr>", 1)[0]
    assert "keine Geschäftsstelle" not in staff_row
