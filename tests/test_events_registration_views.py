"""Event registration pages: the public page and the cancel page without login, the limit,
honeypot and form token, junk input, the staff list, export, settings and check-in, and the
confirmation mail delivered by the real sender to a real SMTP server with its .ics."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from crm import public_forms
from crm.database import utcnow
from crm.events.models import EventContact, EventRegistration, RegistrationAttempt
from crm.events.registration_views import FORM_SALT
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from tests import factories
from tests.mail_helpers import QueuedMail

IP = "198.51.100.77"


def _open_event(session: Any, **kw: Any) -> Any:
    kw.setdefault("registration_open", True)
    kw.setdefault("day", (utcnow() + timedelta(days=30)).date())
    event = factories.make_event(session, **kw)
    session.commit()
    return event


def _token(client: Any, event: Any, query: str = "") -> str:
    page = client.get(f"/veranstaltungen/{event.id}/anmeldung{query}").get_data(as_text=True)
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, "no form token on the registration page"
    return match.group(1)


def _post(client: Any, event: Any, ip: str = IP, query: str = "", **fields: Any) -> Any:
    data = {
        "form_token": fields.pop("form_token")
        if "form_token" in fields
        else _token(client, event, query),
        "name": "Lina Lorenz",
        "email": "lina@example.org",
        "share_consent": "y",
    }
    data.update(fields)
    return client.post(
        f"/veranstaltungen/{event.id}/anmeldung{query}",
        data=data,
        environ_base={"REMOTE_ADDR": ip},
        csrf=False,
    )


def _count(session: Any) -> int:
    return session.scalar(sa.select(sa.func.count(EventRegistration.id))) or 0


# --- the public page ---------------------------------------------------------------------------


def test_a_visitor_without_login_sees_the_event_and_registers_with_recorded_consent(
    client, db_session
):
    event = _open_event(
        db_session, capacity=3, ask_organisation=True, ask_dietary=True, title="Fachtag Pflege"
    )
    page = client.get(f"/veranstaltungen/{event.id}/anmeldung")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Fachtag Pflege" in text
    assert "3 Plätze sind noch frei." in text
    assert 'id="f-organisation"' in text
    assert 'id="f-dietary"' in text
    assert 'id="f-accessibility"' not in text
    response = _post(client, event, organisation="Klinikum Burg", dietary="vegetarisch")
    assert response.status_code == 200
    assert "Sie sind für „Fachtag Pflege“ angemeldet." in response.get_data(as_text=True)
    registration = db_session.scalars(sa.select(EventRegistration)).one()
    assert (registration.status, registration.organisation, registration.dietary) == (
        "registered",
        "Klinikum Burg",
        "vegetarisch",
    )
    assert registration.share_consent
    assert "Mitveranstalter" in registration.consent_text
    assert registration.consent_version
    assert registration.consented_at is not None
    assert IP not in registration.source_ip_hash
    assert len(QueuedMail(db_session, "registration").messages) == 1


def test_the_page_speaks_english_and_a_full_event_offers_the_waiting_list(client, db_session):
    event = _open_event(db_session, capacity=1)
    _post(client, event)
    page = client.get(f"/veranstaltungen/{event.id}/anmeldung?sprache=en").get_data(as_text=True)
    assert "All seats are taken." in page
    assert "Join the waiting list" in page
    response = _post(client, event, query="?sprache=en", name="Omar", email="omar@example.org")
    assert "You are on the waiting list" in response.get_data(as_text=True)
    omar = db_session.scalars(
        sa.select(EventRegistration).where(EventRegistration.email == "omar@example.org")
    ).one()
    assert (omar.status, omar.language) == ("waitlisted", "en")
    (mail,) = [
        m
        for m in QueuedMail(db_session, "registration").messages
        if m.rcpt_tos == ["omar@example.org"]
    ]
    assert mail.message["Subject"].startswith("On the waiting list")


def test_a_second_registration_does_not_tell_a_stranger_the_address_is_registered(
    client, db_session
):
    event = _open_event(db_session, capacity=1)
    first = _post(client, event)
    # Somebody else tries Lina's address: the page is the one anybody gets now, so it does
    # not reveal that Lina is registered; she alone learns it, from the mail.
    taken = _post(client, event, email="LINA@example.org", name="Neugierig")
    fresh = _post(client, event, email="neu@example.org", name="Nora Neu")

    def done(response: Any) -> str:
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        return page[page.index('id="registration-done"') :].split("</p>")[0]

    assert "angemeldet" in done(first)
    # The event is full now: the repeated address is answered like the new one.
    assert done(taken) == done(fresh)
    assert "Warteliste" in done(taken)
    assert "bereits" not in taken.get_data(as_text=True)
    assert _count(db_session) == 2
    to_lina = [
        m.message
        for m in QueuedMail(db_session, "registration").messages
        if m.rcpt_tos == ["lina@example.org"]
    ]
    # Her confirmation again, with her seat and a working cancel link.
    assert len(to_lina) == 2
    assert "Sie sind für" in to_lina[1].get_body(("plain",)).get_content()


def test_closed_after_the_deadline_and_unknown_events_give_a_clear_message(client, db_session):
    closed = _open_event(db_session, registration_open=False)
    late = _open_event(db_session, deadline=utcnow() - timedelta(hours=1))
    assert client.get(f"/veranstaltungen/{closed.id}/anmeldung").status_code == 404
    assert client.get("/veranstaltungen/999999999/anmeldung").status_code == 404
    page = client.get(f"/veranstaltungen/{late.id}/anmeldung").get_data(as_text=True)
    assert "Die Anmeldefrist für diese Veranstaltung ist abgelaufen." in page
    assert 'id="registration-form"' not in page
    # A post that bypasses the page (a token from another page) is refused the same way.
    other = _open_event(db_session)
    refused = _post(client, late, form_token=_token(client, other))
    assert refused.status_code == 409
    assert "Anmeldefrist" in refused.get_data(as_text=True)
    assert _count(db_session) == 0


def test_the_honeypot_stores_nothing_but_answers_like_a_registration(client, db_session):
    event = _open_event(db_session)
    response = _post(client, event, website="http://spam.example")
    assert response.status_code == 200
    assert "angemeldet" in response.get_data(as_text=True)
    assert _count(db_session) == 0
    assert QueuedMail(db_session, "registration").messages == []


def test_the_page_is_limited_per_address_in_the_database(app, client, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_INTAKE_MAX_PER_IP", 2)
    event = _open_event(db_session)
    assert _post(client, event, email="a@example.org").status_code == 200
    assert _post(client, event, email="b@example.org").status_code == 200
    refused = _post(client, event, email="c@example.org", name="Carla Cerny")
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Zu viele Anmeldungen" in page
    # Nothing typed is lost: the form comes back filled in, ready to send again later.
    assert 'id="registration-form"' in page
    assert 'value="Carla Cerny"' in page
    assert 'value="c@example.org"' in page
    assert _count(db_session) == 2
    assert _post(client, event, ip="203.0.113.5", email="d@example.org").status_code == 200
    hashes = db_session.scalars(sa.select(RegistrationAttempt.ip_hash)).all()
    # The refused post is not counted: a flood cannot extend its own ban indefinitely.
    assert len(hashes) == 3
    assert all(IP not in h for h in hashes)


def test_a_registration_sent_back_with_typing_errors_does_not_count_toward_the_limit(
    app, client, db_session, monkeypatch
):
    monkeypatch.setitem(app.config, "CRM_INTAKE_MAX_PER_IP", 2)
    event = _open_event(db_session)
    for _ in range(4):
        assert _post(client, event, email="kein-at-zeichen").status_code == 200
    assert _count(db_session) == 0
    assert _post(client, event, email="a@example.org").status_code == 200
    assert _post(client, event, email="b@example.org").status_code == 200
    assert _post(client, event, email="c@example.org").status_code == 429
    assert _count(db_session) == 2


def test_a_post_without_a_genuine_form_token_is_refused(client, db_session):
    event = _open_event(db_session)
    for token in ("", "forged.token"):
        response = _post(client, event, form_token=token)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Das Formular ist abgelaufen" in page
        assert 'value="Lina Lorenz"' in page
    assert _count(db_session) == 0


def test_an_expired_registration_form_comes_back_filled_in_and_registers_with_one_more_click(
    client, db_session
):
    event = _open_event(db_session)
    expired = _post(client, event, form_token="")
    assert expired.status_code == 400
    fresh = re.search(r'name="form_token" value="([^"]+)"', expired.get_data(as_text=True))
    assert fresh is not None
    assert _post(client, event, form_token=fresh.group(1)).status_code == 200
    assert _count(db_session) == 1


@pytest.mark.parametrize(
    "junk",
    [
        {"name": "", "email": "kein-at"},
        {"name": "x" * 5000, "email": "a@b.org", "dietary": "y" * 9000},
        {"name": "Null\x00Byte", "email": "\x00@example.org"},
        {"email": ["a@example.org", "b@example.org"], "share_consent": "vielleicht"},
        {"name": "\u202e" * 300, "email": "=cmd|'/c calc'!A1@example.org"},
    ],
)
def test_junk_input_never_causes_a_server_error_and_keeps_what_was_typed(client, db_session, junk):
    event = _open_event(db_session)
    response = _post(client, event, **junk)
    assert response.status_code < 500
    if _count(db_session) == 0 and response.status_code == 200:
        assert 'id="form-errors"' in response.get_data(as_text=True)


def test_the_missing_name_is_named_in_german_and_the_email_typed_stays(client, db_session):
    event = _open_event(db_session)
    page = _post(client, event, name="", email="mara@example.org").get_data(as_text=True)
    assert "Bitte füllen Sie dieses Feld aus." in page
    assert 'value="mara@example.org"' in page
    assert _count(db_session) == 0


# --- the cancel page -----------------------------------------------------------------------------


def _cancel_link(session: Any, address: str) -> str:
    mails = [m for m in QueuedMail(session, "registration").messages if m.rcpt_tos == [address]]
    text = mails[-1].message.get_body(("plain",)).get_content()
    match = re.search(r"https?://[^/\s]+(/veranstaltungen/anmeldung/absagen/\S+)", text)
    assert match, text
    return match.group(1)


def test_the_cancel_link_asks_then_cancels_with_csrf_and_moves_the_first_waiting_person_up(
    app, client, db_session, monkeypatch
):
    event = _open_event(db_session, capacity=1)
    _post(client, event, email="first@example.org")
    _post(client, event, email="second@example.org", name="Sina Second")
    link = _cancel_link(db_session, "first@example.org")
    visitor = app.test_client()
    page = visitor.get(link)
    assert page.status_code == 200
    assert "Ja, Anmeldung stornieren" in page.get_data(as_text=True)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert visitor.post(link, csrf=False).status_code == 400
    done = visitor.post(link)
    assert done.status_code == 200
    assert "Ihre Anmeldung ist storniert." in done.get_data(as_text=True)
    rows = {r.email: r.status for r in db_session.scalars(sa.select(EventRegistration)).all()}
    assert rows == {"first@example.org": "cancelled", "second@example.org": "registered"}
    moved = [
        m
        for m in QueuedMail(db_session, "registration").messages
        if m.rcpt_tos == ["second@example.org"]
    ]
    assert [m.message["Subject"].split(":")[0] for m in moved] == [
        "Auf der Warteliste",
        "Sie haben einen Platz",
    ]
    # The used link no longer works; a forged one never did.
    assert visitor.get(link).status_code == 404
    assert visitor.get("/veranstaltungen/anmeldung/absagen/forged.x.y").status_code == 404


# --- staff pages ---------------------------------------------------------------------------------


def test_staff_open_registration_in_the_settings_and_find_the_link_and_embed_code(
    client_as, db_session
):
    event = factories.make_event(db_session, day=(utcnow() + timedelta(days=20)).date())
    db_session.commit()
    staff = client_as("staff")
    detail = staff.get(f"/termine/{event.id}").get_data(as_text=True)
    assert f"/termine/{event.id}/anmeldungen" in detail
    settings_url = f"/termine/{event.id}/anmeldung/einstellungen"
    response = staff.post(
        settings_url,
        data={
            "registration_open": "y",
            "capacity": "25",
            "deadline_date": (utcnow() + timedelta(days=10)).date().isoformat(),
            "deadline_time": "12:00",
            "ask_accessibility": "y",
        },
    )
    assert response.status_code == 302
    db_session.refresh(event)
    assert (event.registration_open, event.registration_capacity, event.ask_accessibility) == (
        True,
        25,
        True,
    )
    page = staff.get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)
    assert f"/veranstaltungen/{event.id}/anmeldung" in page
    assert "&lt;iframe src=" in page
    # Junk in the settings: a German error, nothing saved, no 500.
    bad = staff.post(settings_url, data={"capacity": "-3", "deadline_time": "25:99"})
    assert bad.status_code == 200
    db_session.refresh(event)
    assert event.registration_capacity == 25


def test_a_registration_not_yet_opened_says_so_and_leads_to_the_settings_that_open_it(
    client_as, db_session
):
    event = factories.make_event(db_session, day=(utcnow() + timedelta(days=20)).date())
    db_session.commit()
    page = client_as("staff").get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)
    # Without this the invite button is simply missing and nothing says why.
    assert "Nicht geöffnet" in page
    assert "Abgeschlossen" not in page
    assert 'id="invite-link"' not in page
    hint = page[page.index('id="registration-closed-hint"') :].split("</p>", 1)[0]
    assert "sobald die Anmeldung geöffnet ist" in hint
    assert f'href="/termine/{event.id}/anmeldung/einstellungen">Anmeldung öffnen</a>' in hint
    # A reader cannot change the settings: no hint pointing to a page they may not open.
    reader_page = client_as("readonly").get(f"/termine/{event.id}/anmeldungen")
    assert 'id="registration-closed-hint"' not in reader_page.get_data(as_text=True)


def test_a_passed_deadline_is_named_with_a_way_to_change_it(client_as, db_session):
    event = _open_event(db_session, deadline=utcnow() - timedelta(hours=1))
    page = client_as("staff").get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)
    assert 'id="invite-link"' not in page
    hint = page[page.index('id="registration-closed-hint"') :].split("</p>", 1)[0]
    assert "Anmeldefrist ist abgelaufen" in hint
    assert ">Frist ändern</a>" in hint


def test_a_past_event_whose_registration_was_never_closed_reads_as_over_not_open(
    app, client, client_as, db_session
):
    event = _open_event(db_session, day=(utcnow() - timedelta(days=3)).date())
    staff = client_as("staff")
    page = staff.get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)
    status = page[page.index('id="registration-status"') :].split("</p>", 1)[0]
    assert "Veranstaltung vorbei" in status
    assert "Offen" not in status
    # Nothing invites anybody to an event that is over.
    assert 'id="invite-link"' not in page
    assert 'id="public-link"' not in page
    detail = staff.get(f"/termine/{event.id}").get_data(as_text=True)
    link = detail[detail.index('id="registrations-link"') :].split("</a>", 1)[0]
    assert "(offen)" not in link
    # The public page names the reason and takes no registration, even when posted to.
    public = client.get(f"/veranstaltungen/{event.id}/anmeldung").get_data(as_text=True)
    assert "bereits stattgefunden" in public
    assert 'id="registration-form"' not in public
    # A form sent from a page opened before the event began (its token still valid).
    token = public_forms.form_token(str(app.secret_key), FORM_SALT, event.id)
    refused = _post(client, event, form_token=token)
    assert refused.status_code == 409
    assert "bereits stattgefunden" in refused.get_data(as_text=True)
    assert _count(db_session) == 0


def test_a_coming_event_with_open_registration_still_reads_open(client_as, db_session):
    event = _open_event(db_session)
    staff = client_as("staff")
    page = staff.get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)
    status = page[page.index('id="registration-status"') :].split("</p>", 1)[0]
    assert "Offen" in status
    detail = staff.get(f"/termine/{event.id}").get_data(as_text=True)
    assert "(offen)" in detail[detail.index('id="registrations-link"') :].split("</a>", 1)[0]


def test_read_only_users_see_the_list_but_cannot_check_in_and_anonymous_users_see_nothing(
    client, client_as, db_session
):
    event = _open_event(db_session)
    _post(client, event)
    registration = db_session.scalars(sa.select(EventRegistration)).one()
    reader = client_as("readonly")
    assert reader.get(f"/termine/{event.id}/anmeldungen").status_code == 200
    assert reader.get(f"/termine/{event.id}/einlass").status_code == 200
    assert reader.post(f"/termine/{event.id}/einlass/{registration.id}").status_code == 403
    assert reader.get(f"/termine/{event.id}/anmeldung/einstellungen").status_code == 403
    anonymous = client.get(f"/termine/{event.id}/anmeldungen")
    assert anonymous.status_code == 302
    assert "/anmelden" in anonymous.headers["Location"]
    db_session.refresh(registration)
    assert registration.status == "registered"


def test_check_in_by_name_sets_attended_on_the_registration_and_the_linked_contact(
    client, client_as, db_session
):
    event = _open_event(db_session)
    person = factories.make_person(db_session, first_name="Paula", email="paula@example.org")
    db_session.commit()
    _post(client, event, name="Paula Petersen", email="paula@example.org")
    _post(client, event, name="Quentin Quast", email="quentin@example.org")
    staff = client_as("staff")
    page = staff.get(f"/termine/{event.id}/einlass?q=paula").get_data(as_text=True)
    assert "Paula Petersen" in page
    assert "Quentin Quast" not in page
    paula = db_session.scalars(
        sa.select(EventRegistration).where(EventRegistration.person_id == person.id)
    ).one()
    response = staff.post(f"/termine/{event.id}/einlass/{paula.id}", data={"q": "paula"})
    assert response.status_code == 302
    db_session.refresh(paula)
    contact = db_session.scalars(
        sa.select(EventContact).where(EventContact.person_id == person.id)
    ).one()
    assert (paula.status, contact.status) == ("attended", "attended")
    printed = staff.get(f"/termine/{event.id}/einlass/liste").get_data(as_text=True)
    assert "Paula Petersen" in printed
    assert "Quentin Quast" in printed


def test_the_export_neutralises_formulas_and_taking_into_contacts_creates_the_person(
    client, client_as, db_session
):
    event = _open_event(db_session)
    _post(client, event, name='=HYPERLINK("http://evil")', email="evil@example.org")
    staff = client_as("staff")
    export = staff.get(f"/termine/{event.id}/anmeldungen.csv")
    assert export.status_code == 200
    rows = list(
        csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    assert rows[1][0].startswith("'=")
    assert staff.get(f"/termine/{event.id}/anmeldungen.xlsx").status_code == 200
    registration = db_session.scalars(sa.select(EventRegistration)).one()
    assert registration.person_id is None
    staff.post(f"/termine/{event.id}/anmeldungen/{registration.id}/kontakt")
    db_session.refresh(registration)
    assert registration.person_id is not None
    assert registration.person.email == "evil@example.org"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_read_only_role_sees_the_registrations_but_cannot_export_them(
    client, client_as, db_session, fmt
):
    """The list holds names, addresses and answers such as accessibility needs: taking it out
    of the product needs the export permission, as for contacts."""
    event = _open_event(db_session)
    _post(client, event, name="Paula Petersen", email="paula@example.org")
    reader = client_as("readonly")
    page = reader.get(f"/termine/{event.id}/anmeldungen")
    assert page.status_code == 200
    assert "Paula Petersen" in page.get_data(as_text=True)
    assert 'id="registration-export"' not in page.get_data(as_text=True)
    assert reader.get(f"/termine/{event.id}/anmeldungen.{fmt}").status_code == 403
    staff = client_as("staff")
    assert 'id="registration-export"' in staff.get(f"/termine/{event.id}/anmeldungen").get_data(
        as_text=True
    )


# --- mail through the real sender ----------------------------------------------------------------


def test_the_confirmation_reaches_a_real_smtp_server_with_the_ics_attached(
    app, client, db_session, smtp_server
):
    event = _open_event(db_session, title="Workshop Bewerbung")
    _post(client, event, name="Rana Rahimi", email="rana@example.org")
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
    send_outbox(
        db_session,
        transport,
        stores_for(app.config),
        SenderSettings(backoff_base=timedelta(0), connection_backoff=0),
    )
    (received,) = [m for m in smtp_server.messages if m.rcpt_tos == ["rana@example.org"]]
    assert received.message["Subject"] == "Anmeldung bestätigt: Workshop Bewerbung"
    (attachment,) = list(received.message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    (vevent,) = Calendar.from_ical(attachment.get_content()).walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Workshop Bewerbung"
    body = received.message.get_body(("plain",)).get_content()
    assert "/veranstaltungen/anmeldung/absagen/" in body


def test_no_shows_cannot_be_marked_before_the_event_and_read_only_users_cannot_at_all(
    client, client_as, db_session
):
    event = _open_event(db_session)
    _post(client, event)
    url = f"/termine/{event.id}/einlass/nicht-erschienen"
    assert client_as("readonly").post(url).status_code == 403
    staff = client_as("staff")
    response = staff.post(url, follow_redirects=True)
    assert "sobald die Veranstaltung begonnen hat" in response.get_data(as_text=True)
    assert db_session.scalars(sa.select(EventRegistration.status)).all() == ["registered"]


def test_staff_cancel_a_registration_with_a_button_that_says_stornieren_not_abbrechen(
    client, client_as, db_session
):
    event = _open_event(db_session)
    _post(client, event, name="Paula Petersen", email="paula@example.org")
    page = client_as("staff").get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)
    row = page[page.index("Paula Petersen") :]
    row = row[: row.index("</tr>")]
    # "Abbrechen" reads as leaving the page; the button cancels Paula's seat.
    assert "Anmeldung stornieren</button>" in row
    assert "Abbrechen" not in row


def test_a_registration_deadline_after_the_start_of_the_event_is_refused_in_german(
    client_as, db_session
):
    event = factories.make_event(db_session, day=(utcnow() + timedelta(days=20)).date())
    db_session.commit()
    after_start = (utcnow() + timedelta(days=25)).date().isoformat()

    response = client_as("staff").post(
        f"/termine/{event.id}/anmeldung/einstellungen",
        data={"registration_open": "y", "capacity": "25", "deadline_date": after_start},
    )

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Der Anmeldeschluss liegt nach dem Beginn des Termins" in page
    assert f'value="{after_start}"' in page
    assert 'value="25"' in page
    db_session.refresh(event)
    assert (event.registration_open, event.registration_deadline) == (False, None)


def test_a_switched_off_registration_says_so_and_links_the_settings_to_switch_it_on(
    client_as, db_session
):
    event = factories.make_event(db_session, day=(utcnow() + timedelta(days=20)).date())
    db_session.commit()

    page = client_as("staff").get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)

    status = page.split('id="registration-status"')[1].split("</p>")[0]
    assert "Nicht geöffnet" in status
    assert "Abgeschlossen" not in status
    hint = page.split('id="registration-closed-hint"')[1].split("</p>")[0]
    assert f'href="/termine/{event.id}/anmeldung/einstellungen"' in hint
    reader = client_as("readonly").get(f"/termine/{event.id}/anmeldungen").get_data(as_text=True)
    assert "Nicht geöffnet" in reader
    assert "/anmeldung/einstellungen" not in reader
