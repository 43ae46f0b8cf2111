"""The first-run setup (Ersteinrichtung): offices, users, weekly targets, mail check."""

from __future__ import annotations

import re

import sqlalchemy as sa

from crm.accounts.models import Office, User
from crm.database import utcnow
from crm.mail.models import OutgoingMail
from tests import factories


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_an_admin_on_an_empty_install_is_led_to_the_setup_from_the_start_page(admin_client):
    page = _text(admin_client.get("/"))
    assert 'id="setup-banner"' in page
    assert "/verwaltung/ersteinrichtung" in page


def test_the_setup_banner_disappears_once_an_office_exists(admin_client, db_session):
    factories.make_office(db_session, name="Magdeburg")
    db_session.commit()
    assert 'id="setup-banner"' not in _text(admin_client.get("/"))
    # ... and stays reachable from the administration page.
    assert "/verwaltung/ersteinrichtung" in _text(admin_client.get("/verwaltung"))


def test_only_admins_are_led_to_the_setup(client_as):
    assert 'id="setup-banner"' not in _text(client_as("lead").get("/"))


def test_every_step_can_be_opened_and_skipped_in_order(admin_client):
    r = admin_client.get("/verwaltung/ersteinrichtung")
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/verwaltung/ersteinrichtung/geschaeftsstellen")
    for step, following in (
        ("geschaeftsstellen", "benutzer"),
        ("benutzer", "ziele"),
        ("ziele", "projektlaufzeit"),
        ("projektlaufzeit", "mail"),
        ("mail", "weiteres"),
        ("weiteres", None),
    ):
        page = _text(admin_client.get(f"/verwaltung/ersteinrichtung/{step}"))
        assert 'aria-current="step"' in page
        if following:
            assert f'id="setup-next" href="/verwaltung/ersteinrichtung/{following}"' in page
        else:
            assert 'id="setup-done"' in page
    assert admin_client.get("/verwaltung/ersteinrichtung/unbekannt").status_code == 404


def test_the_setup_creates_an_office_a_user_in_it_and_its_targets(admin_client, db_session):
    c = admin_client
    r = c.post(
        "/verwaltung/ersteinrichtung/geschaeftsstellen",
        data={"name": "Magdeburg", "city": "Magdeburg", "weekly_entries": "1", "weekly_exits": "1"},
    )
    assert r.status_code == 302
    office = db_session.scalar(sa.select(Office).where(Office.name == "Magdeburg"))
    assert office.is_head_office

    r = c.post(
        "/verwaltung/ersteinrichtung/benutzer",
        data={
            "email": "bea@example.org",
            "display_name": "Bea Beratung",
            "role": "counsellor",
            "office_id": office.id,
        },
    )
    assert r.status_code == 200
    page = _text(r)
    assert 'id="temporary-password"' in page
    user = db_session.scalar(sa.select(User).where(User.email == "bea@example.org"))
    assert user.must_change_password
    assert user.office_ids == [office.id]

    r = c.post(
        "/verwaltung/ersteinrichtung/ziele",
        data={f"entries_{office.id}": "2", f"exits_{office.id}": "1,5"},
    )
    assert r.status_code == 302
    db_session.refresh(office)
    assert (office.weekly_entries, office.weekly_exits) == (2, 1.5)


def test_a_bad_target_in_the_setup_is_a_german_form_error(admin_client, db_session):
    office = factories.make_office(db_session, name="Burg")
    db_session.commit()
    r = admin_client.post(
        "/verwaltung/ersteinrichtung/ziele",
        data={f"entries_{office.id}": "viele", f"exits_{office.id}": "1"},
    )
    assert r.status_code == 400
    assert "Bitte geben Sie eine Zahl ein" in _text(r)


def test_the_mail_check_queues_a_test_mail_to_the_admin_and_shows_its_status(
    admin_client, db_session
):
    c = admin_client
    assert "Noch keine Testmail" in _text(c.get("/verwaltung/ersteinrichtung/mail"))
    assert c.post("/verwaltung/ersteinrichtung/mail").status_code == 302
    row = db_session.scalar(sa.select(OutgoingMail).where(OutgoingMail.kind == "test"))
    assert row.recipient == c.user.email
    assert row.user_id == c.user.id
    assert row.status == "queued"

    page = _text(c.get("/verwaltung/ersteinrichtung/mail"))
    assert "in Warteschlange" in page
    # While queued, the status polls itself.
    assert 'data-hx-get="/verwaltung/ersteinrichtung/mail/status"' in page

    row.status, row.sent_at = "sent", utcnow()
    db_session.commit()
    fragment = _text(c.get("/verwaltung/ersteinrichtung/mail/status"))
    assert "gesendet" in fragment
    assert "data-hx-get" not in fragment

    row.status, row.sent_at, row.smtp_code = "failed", None, 550
    row.last_error = "550 5.1.1 <admin@example.org>: Recipient address rejected"
    db_session.commit()
    fragment = _text(c.get("/verwaltung/ersteinrichtung/mail/status"))
    assert "fehlgeschlagen: 550 5.1.1 &lt;admin@example.org&gt;: Recipient address rejected" in (
        fragment
    )


def test_the_mail_check_without_csrf_token_queues_nothing(admin_client, db_session):
    assert admin_client.post("/verwaltung/ersteinrichtung/mail", csrf=False).status_code == 400
    assert db_session.scalar(sa.select(sa.func.count(OutgoingMail.id))) == 0


def test_a_counsellor_cannot_be_created_without_a_home_office(admin_client, db_session):
    """A counsellor without an office would see an empty participant list and could record
    nobody; the form says so in German and keeps what was typed."""
    factories.make_office(db_session, name="Magdeburg")
    db_session.commit()
    for url in ("/verwaltung/ersteinrichtung/benutzer", "/verwaltung/benutzer/neu"):
        r = admin_client.post(
            url,
            data={
                "email": "bea.mueller@example.org",
                "display_name": "Bea Müller",
                "role": "counsellor",
                "office_id": 0,
            },
        )
        assert r.status_code in (200, 400)
        page = _text(r)
        assert "Beratung braucht eine Stamm-Geschäftsstelle" in page
        assert 'value="Bea Müller"' in page
        assert 'id="temporary-password"' not in page
    assert db_session.scalar(sa.select(User).where(User.email == "bea.mueller@example.org")) is None


def test_a_new_account_is_not_preset_to_administration(admin_client):
    """The role list starts with Administration; a form sent without looking at it would
    have created another admin."""
    for url in ("/verwaltung/ersteinrichtung/benutzer", "/verwaltung/benutzer/neu"):
        page = _text(admin_client.get(url))
        selected = re.search(r'<select[^>]*name="role"[^>]*>.*?</select>', page, re.S).group(0)
        assert re.search(r'<option selected value="counsellor"', selected), selected
        assert 'selected value="admin"' not in selected


def test_an_office_postcode_must_have_five_digits_and_the_input_is_kept(admin_client, db_session):
    for url in (
        "/verwaltung/ersteinrichtung/geschaeftsstellen",
        "/verwaltung/geschaeftsstellen/neu",
    ):
        r = admin_client.post(
            url,
            data={
                "name": "Staßfurt",
                "street": "Am Markt 5",
                "postcode": "3941",
                "city": "Staßfurt",
                "weekly_entries": "1",
                "weekly_exits": "1",
            },
        )
        assert r.status_code in (200, 400)
        page = _text(r)
        assert "Bitte geben Sie eine fünfstellige deutsche Postleitzahl ein." in page
        assert 'value="3941"' in page
        assert 'value="Am Markt 5"' in page
    assert db_session.scalar(sa.select(Office).where(Office.name == "Staßfurt")) is None
    r = admin_client.post(
        "/verwaltung/ersteinrichtung/geschaeftsstellen",
        data={
            "name": "Staßfurt",
            "postcode": " 39418 ",
            "weekly_entries": "1",
            "weekly_exits": "1",
        },
    )
    assert r.status_code == 302
    assert db_session.scalar(sa.select(Office.postcode).where(Office.name == "Staßfurt")) == "39418"


def test_the_mail_step_names_the_transport_in_words(app, admin_client, monkeypatch):
    """„Eingestellter Versandweg: file“ did not tell an admin that no mail leaves the server."""
    monkeypatch.setitem(app.config, "CRM_MAIL_TRANSPORT", "file")
    page = _text(admin_client.get("/verwaltung/ersteinrichtung/mail"))
    assert "Eingestellter Versandweg: Dateien im Ordner instance/outbox/" in page
    assert "es wird keine Mail zugestellt" in page
    monkeypatch.setitem(app.config, "CRM_MAIL_TRANSPORT", "smtp")
    monkeypatch.setitem(app.config, "CRM_SMTP_HOST", "mail.beispiel-verein.de")
    page = _text(admin_client.get("/verwaltung/ersteinrichtung/mail"))
    assert "Eingestellter Versandweg: SMTP-Server mail.beispiel-verein.de" in page


def test_the_last_setup_step_links_every_further_setting_and_flags_the_missing_controller(
    admin_client,
):
    page = _text(admin_client.get("/verwaltung/ersteinrichtung/weiteres"))
    for link in (
        "/datenschutz/auskunft/texte",
        "/verwaltung/anfragen",
        "/newsletter/listen/neu",
        "/kontakte/organisationsarten",
        "/kontakte/import/",
        "/termine/",
        "/datenschutz/aufbewahrung/",
    ):
        assert f'href="{link}"' in page, link
    privacy = page.split('id="further-privacy"')[1].split("</li>")[0]
    assert "Noch zu erledigen" in privacy

    admin_client.post(
        "/datenschutz/auskunft/texte",
        data={"controller": "Verantwortlich: Netzwerk e. V., Breiter Weg 12, 39104 Magdeburg."},
    )
    page = _text(admin_client.get("/verwaltung/ersteinrichtung/weiteres"))
    privacy = page.split('id="further-privacy"')[1].split("</li>")[0]
    assert "Noch zu erledigen" not in privacy
    assert "ist eingetragen" in privacy
