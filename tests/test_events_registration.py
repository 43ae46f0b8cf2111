"""Event registration, the service: seats, waiting list with move-up, deadline, duplicates,
cancel links, linking to contacts, check-in, and two visitors racing for the last seat."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from icalendar import Calendar
from sqlalchemy import orm

from crm.contacts.models import Person
from crm.events import registration as reg
from crm.events.models import EventContact, EventRegistration
from crm.extensions import db
from tests import factories
from tests.conftest import build_app
from tests.mail_helpers import QueuedMail

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
SECRET = "test-secret"
MAIL = reg.MailSettings(
    sender="IQ Netzwerk <crm@netzwerk.example.org>",
    base_url="https://crm.example.org",
    secret=SECRET,
)


def _register(session: Any, event: Any, email: str, name: str = "", **kw: Any) -> reg.Outcome:
    return reg.register(
        session,
        event.id,
        reg.RegistrationData(name=name or email.split("@")[0].title(), email=email, **kw),
        now=NOW,
        consent_text="Einverstanden.",
        mail=MAIL,
    )


def _mails_to(session: Any, address: str) -> list[Any]:
    return [m for m in QueuedMail(session, "registration").messages if m.rcpt_tos == [address]]


def test_capacity_two_three_register_one_cancels_and_the_third_moves_up_mailed_once(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True, capacity=2)
    first = _register(session, event, "anna@example.org")
    second = _register(session, event, "bilal@example.org")
    third = _register(session, event, "chen@example.org")
    assert [first.result, second.result, third.result] == ["registered", "registered", "waitlisted"]
    assert reg.availability(session, event, NOW).state == "full"
    waitlist_mail = _mails_to(session, "chen@example.org")
    assert len(waitlist_mail) == 1
    assert not list(waitlist_mail[0].message.iter_attachments())  # no .ics without a seat
    waiting_text = waitlist_mail[0].message.get_body(("plain",)).get_content()
    assert "verlassen Sie die Warteliste hier" in waiting_text
    assert "damit jemand anderes Ihren Platz bekommt" not in waiting_text

    moved = reg.cancel(session, second.registration, now=NOW + timedelta(hours=1), mail=MAIL)

    assert moved is third.registration
    assert (second.registration.status, third.registration.status) == ("cancelled", "registered")
    mails = _mails_to(session, "chen@example.org")
    assert len(mails) == 2
    moved_up = mails[1].message
    assert moved_up["Subject"] == f"Sie haben einen Platz: {event.title}"
    assert [a.get_filename() for a in moved_up.iter_attachments()] == [f"termin-{event.id}.ics"]
    # Cancelling again changes nothing and mails nobody.
    assert reg.cancel(session, second.registration, now=NOW, mail=MAIL) is None
    assert len(QueuedMail(session, "registration").messages) == 4


def test_the_confirmation_carries_the_events_ics_and_a_working_cancel_link(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True, title="Fachtagung Fachkräfte")
    _register(session, event, "dora@example.org", name="Dora Dietrich")
    (mail,) = _mails_to(session, "dora@example.org")
    assert mail.row.kind == "registration"
    (ics,) = list(mail.message.iter_attachments())
    assert ics.get_content_type() == "text/calendar"
    (vevent,) = Calendar.from_ical(ics.get_content()).walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Fachtagung Fachkräfte"
    assert vevent.decoded("DTSTART") == datetime(2027, 3, 10, 17, 0, tzinfo=UTC)
    text = mail.message.get_body(("plain",)).get_content()
    lines = text.splitlines()
    # Time and place each on a line of their own (the text template keeps the line break).
    assert any(line.startswith("Wann: ") and "Ort" not in line for line in lines)
    link = next(line for line in lines if "/anmeldung/absagen/" in line)
    token = link.rsplit("/", 1)[-1]
    found, problem = reg.registration_for_token(session, SECRET, token)
    assert (found is not None, problem) == (True, "")


def test_registration_is_refused_after_the_deadline_when_closed_and_for_past_events(app_ctx):
    session = app_ctx
    late = factories.make_event(session, registration_open=True, deadline=NOW - timedelta(days=1))
    closed = factories.make_event(session, registration_open=False)
    past = factories.make_event(
        session, registration_open=True, day=(NOW - timedelta(days=3)).date()
    )
    for event, message in (
        (late, "Anmeldefrist .* abgelaufen"),
        (closed, "nicht geöffnet"),
        (past, "bereits stattgefunden"),
    ):
        with pytest.raises(reg.RegistrationError, match=message):
            _register(session, event, "eva@example.org")
    assert session.scalar(sa.select(sa.func.count(EventRegistration.id))) == 0
    assert QueuedMail(session, "registration").messages == []


def test_the_same_address_twice_keeps_one_seat_and_gets_its_confirmation_again(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True, capacity=5)
    _register(session, event, "fritz@example.org")
    again = _register(session, event, "Fritz@Example.org", name="Fritz F.")
    assert again.result == "duplicate"
    assert session.scalar(sa.select(sa.func.count(EventRegistration.id))) == 1
    assert reg.counts(session, event.id)["registered"] == 1
    # The owner of the address gets the confirmation again, with a new cancel link that works.
    first, second = _mails_to(session, "fritz@example.org")
    text = second.message.get_body(("plain",)).get_content()
    assert "Sie sind für" in text
    link = next(line for line in text.splitlines() if "/anmeldung/absagen/" in line)
    found, _problem = reg.registration_for_token(session, SECRET, link.rsplit("/", 1)[-1])
    assert found is again.registration
    # After cancelling, the address may register again (at the end of the queue).
    reg.cancel(session, again.registration, now=NOW, mail=MAIL)
    assert _register(session, event, "fritz@example.org").result == "registered"
    assert session.scalar(sa.select(sa.func.count(EventRegistration.id))) == 1


def test_a_tampered_replaced_or_expired_cancel_token_is_refused(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True)
    registration = _register(session, event, "greta@example.org").registration
    token = reg.new_cancel_token(registration, SECRET)
    assert reg.registration_for_token(session, SECRET, token)[0] is registration
    # Tampered: another id in the payload, or signed with another key.
    forged = reg.new_cancel_token(registration, "not-the-secret")
    assert reg.registration_for_token(session, SECRET, forged) == (None, "invalid")
    assert reg.registration_for_token(session, SECRET, token[:-2] + "xx") == (None, "invalid")
    assert reg.registration_for_token(session, SECRET, "junk") == (None, "invalid")
    # Replaced: a newer link makes the older one stop working.
    newer = reg.new_cancel_token(registration, SECRET)
    assert reg.registration_for_token(session, SECRET, token) == (None, "invalid")
    # Expired.
    assert reg.registration_for_token(session, SECRET, newer, max_age=-1) == (None, "expired")


def test_an_address_of_exactly_one_contact_links_the_registration_and_sets_the_invitation(
    app_ctx,
):
    session = app_ctx
    event = factories.make_event(session, registration_open=True)
    hanna = factories.make_person(session, first_name="Hanna", email="hanna@example.org")
    session.add(EventContact(event_id=event.id, person_id=hanna.id, status="invited"))
    factories.make_person(session, first_name="Ida", email="twice@example.org")
    factories.make_person(session, first_name="Ida", email="twice@example.org")
    session.flush()
    people = session.scalar(sa.select(sa.func.count(Person.id)))

    linked = _register(session, event, "HANNA@example.org").registration
    standalone = _register(session, event, "twice@example.org").registration
    stranger = _register(session, event, "jonas@example.org", name="Jonas Jung").registration

    assert linked.person_id == hanna.id
    contact = session.scalar(sa.select(EventContact).where(EventContact.person_id == hanna.id))
    assert contact is not None
    assert contact.status == "registered"
    assert standalone.person_id is None
    assert stranger.person_id is None
    assert session.scalar(sa.select(sa.func.count(Person.id))) == people  # no spam into contacts

    person = reg.take_into_contacts(session, stranger)
    assert (person.first_name, person.last_name, person.email) == (
        "Jonas",
        "Jung",
        "jonas@example.org",
    )
    new_contact = session.scalar(sa.select(EventContact).where(EventContact.person_id == person.id))
    assert new_contact is not None
    assert new_contact.status == "registered"

    reg.check_in(session, linked, NOW)
    assert (linked.status, contact.status) == ("attended", "attended")
    assert linked.checked_in_at == NOW


def test_a_waitlisted_person_cannot_be_checked_in(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True, capacity=0)
    waiting = _register(session, event, "kai@example.org").registration
    assert waiting.status == "waitlisted"
    with pytest.raises(reg.RegistrationError):
        reg.check_in(session, waiting, NOW)


# --- concurrency ---------------------------------------------------------------------------------


@pytest.fixture
def fresh_app(make_database, tmp_path):
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


def test_two_visitors_racing_for_the_last_seat_get_one_seat_and_one_waiting_place(fresh_app):
    """The first transaction holds the event row; the second waits for it, then counts the
    first one's seat. Without the lock both would count a free seat."""
    if fresh_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("PostgreSQL row locks (SQLite serialises every write transaction)")
    with fresh_app.app_context():
        engine = db.engine
        with orm.Session(engine) as setup:
            event = factories.make_event(setup, registration_open=True, capacity=1)
            setup.commit()
            event_id = event.id
    first_holds_lock = threading.Event()
    release_first = threading.Event()
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def visitor(email: str, hold: bool) -> None:
        try:
            with fresh_app.test_request_context(), orm.Session(engine) as session:
                event = session.get(factories.Event, event_id)
                outcome = _register(session, event, email)
                if hold:
                    first_holds_lock.set()
                    release_first.wait(10)
                session.commit()
                results[email] = outcome.result
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    a = threading.Thread(target=visitor, args=("first@example.org", True))
    a.start()
    assert first_holds_lock.wait(10)
    b = threading.Thread(target=visitor, args=("second@example.org", False))
    b.start()
    b.join(0.5)
    assert b.is_alive(), "the second registration did not wait for the locked event row"
    release_first.set()
    a.join(10)
    b.join(10)
    assert errors == []
    assert results == {"first@example.org": "registered", "second@example.org": "waitlisted"}
    with orm.Session(engine) as check:
        assert reg.counts(check, event_id)["registered"] == 1


def test_more_seats_move_the_waiting_list_up_in_order_and_mail_each_once(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True, capacity=1)
    for address in ("a@example.org", "b@example.org", "c@example.org", "d@example.org"):
        _register(session, event, address)
    event.registration_capacity = 3
    moved = reg.fill_free_seats(session, event.id, now=NOW, mail=MAIL)
    assert [r.email for r in moved] == ["b@example.org", "c@example.org"]
    assert reg.counts(session, event.id) == {
        "registered": 3,
        "waitlisted": 1,
        "cancelled": 0,
        "attended": 0,
        "no_show": 0,
    }
    assert len(_mails_to(session, "b@example.org")) == 2
    assert len(_mails_to(session, "d@example.org")) == 1
    assert reg.fill_free_seats(session, event.id, now=NOW, mail=MAIL) == []


def test_after_the_start_everyone_not_checked_in_becomes_a_no_show_with_the_contact(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True)
    ute = factories.make_person(session, first_name="Ute", email="ute@example.org")
    came = _register(session, event, "vera@example.org").registration
    missing = _register(session, event, "ute@example.org").registration
    with pytest.raises(reg.RegistrationError):
        reg.mark_no_shows(session, event.id, NOW)  # before the event
    reg.check_in(session, came, event.starts_at)
    assert reg.mark_no_shows(session, event.id, event.starts_at + timedelta(hours=3)) == 1
    contact = session.scalar(sa.select(EventContact).where(EventContact.person_id == ute.id))
    assert contact is not None
    assert (came.status, missing.status, contact.status) == ("attended", "no_show", "no_show")


def test_the_registration_mails_go_on_in_lower_case_after_the_greeting(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True, capacity=1)
    first = _register(session, event, "anna@example.org")
    _register(session, event, "chen@example.org")
    reg.cancel(session, first.registration, now=NOW + timedelta(hours=1), mail=MAIL)

    def text(address: str, index: int) -> str:
        body = _mails_to(session, address)[index].message.get_body(("plain",)).get_content()
        return body.replace("\r\n", "\n")

    # After "Guten Tag …," a German letter goes on in lower case (DIN 5008).
    assert ",\n\nvielen Dank für Ihre Anmeldung." in text("anna@example.org", 0)
    assert ",\n\nalle Plätze für „" in text("chen@example.org", 0)
    assert ",\n\nein Platz ist frei geworden:" in text("chen@example.org", 1)


def test_the_cancel_link_in_the_text_mail_stands_on_a_line_of_its_own(app_ctx):
    session = app_ctx
    event = factories.make_event(session, registration_open=True, capacity=1)
    _register(session, event, "anna@example.org")
    _register(session, event, "chen@example.org")

    for address in ("anna@example.org", "chen@example.org"):
        (mail,) = _mails_to(session, address)
        text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        # Glued to the sentence before ("…hier:https://…") many mail programs link nothing.
        link = next(line for line in text.splitlines() if "/anmeldung/absagen/" in line)
        assert link.startswith("https://crm.example.org/"), link
        # The event's time starts a paragraph of its own, after the sentence about the seat.
        assert "\n\nWann: " in text


def test_the_registration_mail_is_signed_by_the_events_responsible_person_and_organiser(app_ctx):
    session = app_ctx
    responsible = factories.make_user(session, display_name="Petra Planer")
    organiser = factories.make_org(session, name="IQ Netzwerk Sachsen-Anhalt")
    event = factories.make_event(
        session, registration_open=True, responsible=responsible, organiser=organiser
    )
    _register(session, event, "ella@example.org")
    (mail,) = _mails_to(session, "ella@example.org")
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.rstrip().endswith(
        "Mit freundlichen Grüßen\nPetra Planer\nIQ Netzwerk Sachsen-Anhalt"
    )
    html = mail.message.get_body(("html",)).get_content()
    assert "Mit freundlichen Grüßen<br>Petra Planer<br>IQ Netzwerk Sachsen-Anhalt" in html
