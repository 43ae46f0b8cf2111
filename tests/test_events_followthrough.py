"""Around an event: the reminder the day before (once, only seats, DST-safe), the thank-you
to attendees (once, only attendees, sandboxed text), a follow-up for every lead (idempotent),
personal invitations (consent of the list, tamper-proof link that links the registration),
the event's figures, and who may do all this."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from crm.database import utcnow
from crm.events import followthrough as ft
from crm.events import registration as reg
from crm.events import service as event_service
from crm.events.models import EventContact, EventRegistration, Lead
from crm.followups import service as followups
from crm.followups.models import FollowUp
from crm.jobs.periodic import send_event_reminders
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from crm.newsletters import service as newsletters
from crm.newsletters.rendering import TemplateProblem
from tests import factories
from tests.job_helpers import run_jobs
from tests.mail_helpers import QueuedMail

SECRET = "test-secret"
MAIL = reg.MailSettings(
    sender="IQ Netzwerk <crm@netzwerk.example.org>",
    base_url="https://crm.example.org",
    secret=SECRET,
)


def _event_at(session: Any, start_local: datetime, title: str = "Infoabend") -> Any:
    event = event_service.create_event(
        session,
        event_service.EventData(
            kind="information",
            title=title,
            start_local=start_local,
            end_local=start_local + timedelta(hours=1),
        ),
    )
    event.registration_open = True
    session.flush()
    return event


def _register(session: Any, event: Any, email: str, now: datetime) -> EventRegistration:
    return reg.register(
        session,
        event.id,
        reg.RegistrationData(name=email.split("@")[0].title() + " Test", email=email),
        now=now,
        consent_text="",
        mail=None,
    ).registration


def _recipients(session: Any, kind: str = "registration") -> list[str]:
    return [m.rcpt_tos[0] for m in QueuedMail(session, kind).messages]


# --- the reminder the day before ---------------------------------------------------------------


def test_the_reminder_goes_once_to_the_seats_of_tomorrows_events_only_across_the_clock_change(
    app_ctx,
):
    session = app_ctx
    # Saturday 30.10.2027: the clocks go back in the night to Sunday, which has 25 hours.
    now = datetime(2027, 10, 30, 7, 0, tzinfo=UTC)
    early = now - timedelta(days=5)
    just_after_midnight = _event_at(session, datetime(2027, 10, 31, 0, 15), "Früh")
    late_sunday = _event_at(session, datetime(2027, 10, 31, 23, 30), "Spät")
    monday = _event_at(session, datetime(2027, 11, 1, 0, 30), "Montag")
    today = _event_at(session, datetime(2027, 10, 30, 18, 0), "Heute")
    for event, prefix in ((just_after_midnight, "a"), (late_sunday, "b"), (monday, "c")):
        _register(session, event, f"{prefix}@example.org", early)
    _register(session, today, "d@example.org", early)
    late_sunday.registration_capacity = 1
    waiting = _register(session, late_sunday, "wait@example.org", early)
    gone = _register(session, just_after_midnight, "gone@example.org", early)
    reg.cancel(session, gone, now=early, mail=None)
    assert waiting.status == "waitlisted"

    assert ft.send_reminders(session, now=now, mail=MAIL) == 2
    assert sorted(_recipients(session)) == ["a@example.org", "b@example.org"]
    (first, _second) = QueuedMail(session, "registration").messages
    assert first.message["Subject"].startswith("Erinnerung für morgen:")
    assert [a.get_filename() for a in first.message.iter_attachments()] == [
        f"termin-{just_after_midnight.id}.ics"
    ]
    assert "/veranstaltungen/anmeldung/absagen/" in first.message.get_body(("plain",)).get_content()

    # A second run, an hour later: nobody twice.
    assert ft.send_reminders(session, now=now + timedelta(hours=1), mail=MAIL) == 0
    assert len(_recipients(session)) == 2


def test_the_scheduled_job_queues_the_reminder_for_a_seat_tomorrow_once(app, app_ctx):
    session = app_ctx
    tomorrow = (utcnow().astimezone(ft.BERLIN) + timedelta(days=1)).date()
    event = _event_at(session, datetime.combine(tomorrow, time(12)))
    _register(session, event, "morgen@example.org", utcnow() - timedelta(days=2))
    session.commit()

    assert send_event_reminders(app) == 1
    assert send_event_reminders(app) == 0
    assert _recipients(session) == ["morgen@example.org"]


# --- thank-you -----------------------------------------------------------------------------------


def _past_event_with_attendees(session: Any) -> tuple[Any, list[EventRegistration]]:
    """An event two days ago: Anna and Bilal checked in, Chen held a seat but did not come."""
    event = _event_at(session, datetime.combine(date.today() + timedelta(days=10), time(10)))
    rows = [
        _register(session, event, f"{name}@example.org", utcnow())
        for name in ("anna", "bilal", "chen")
    ]
    event.starts_at = utcnow() - timedelta(days=2)
    event.ends_at = event.starts_at + timedelta(hours=1)
    session.flush()
    reg.check_in(session, rows[0], utcnow())
    reg.check_in(session, rows[1], utcnow())
    return event, rows


def test_the_thank_you_reaches_only_attendees_once_with_placeholders_filled(app_ctx):
    session = app_ctx
    event, rows = _past_event_with_attendees(session)
    text = ft.ThankYou(subject="Danke, {{ vorname }}", body_text="{{ anrede }},\ndanke!")

    assert ft.send_thank_you(session, event, text, now=utcnow(), mail=MAIL) == 2
    assert sorted(_recipients(session)) == ["anna@example.org", "bilal@example.org"]
    anna = next(m for m in QueuedMail(session).messages if m.rcpt_tos == ["anna@example.org"])
    assert anna.message["Subject"] == "Danke, Anna"
    assert "Guten Tag Anna Test" in anna.message.get_body(("plain",)).get_content()
    assert rows[0].thanked_at is not None
    assert rows[2].thanked_at is None

    assert ft.send_thank_you(session, event, text, now=utcnow(), mail=MAIL) == 0
    assert len(_recipients(session)) == 2


def test_a_thank_you_text_that_reaches_for_python_is_refused_by_the_sandbox(app_ctx):
    session = app_ctx
    event, _rows = _past_event_with_attendees(session)
    evil = ft.ThankYou(subject="Hallo", body_text="{{ vorname.__class__.__mro__ }}")
    with pytest.raises(TemplateProblem):
        ft.send_thank_you(session, event, evil, now=utcnow(), mail=MAIL)


def test_staff_preview_then_confirm_the_thank_you_and_a_reader_gets_403(client_as, db_session):
    event, _rows = _past_event_with_attendees(db_session)
    db_session.commit()
    url = f"/termine/{event.id}/danke"
    assert client_as("readonly").get(url).status_code == 403
    staff = client_as("staff")
    page = staff.get(url).get_data(as_text=True)
    assert "2 Teilnehmende wurden noch nicht bedankt" in page
    data = {"subject": "Danke für Ihren Besuch", "body": "{{ anrede }},\nvielen Dank!"}
    preview = staff.post(url, data={**data, "action": "preview"}).get_data(as_text=True)
    assert "Guten Tag Anna Test" in preview
    assert QueuedMail(db_session).messages == []
    # Without a CSRF token nothing is sent.
    assert staff.post(url, data={**data, "action": "send"}, csrf=False).status_code == 400
    assert QueuedMail(db_session).messages == []
    response = staff.post(url, data={**data, "action": "send"})
    assert response.status_code == 302
    assert sorted(_recipients(db_session)) == ["anna@example.org", "bilal@example.org"]


def test_the_thank_you_arrives_at_a_real_smtp_server(app, client_as, db_session, smtp_server):
    event, _rows = _past_event_with_attendees(db_session)
    db_session.commit()
    client_as("staff").post(
        f"/termine/{event.id}/danke",
        data={"subject": "Danke", "body": "Vielen Dank, {{ vorname }}!", "action": "send"},
    )
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
    send_outbox(
        db_session,
        transport,
        stores_for(app.config),
        SenderSettings(backoff_base=timedelta(0), connection_backoff=0),
    )
    (received,) = [m for m in smtp_server.messages if m.rcpt_tos == ["bilal@example.org"]]
    assert received.message["Subject"] == "Danke"
    assert "Vielen Dank, Bilal!" in received.message.get_body(("plain",)).get_content()


# --- a follow-up for every lead ------------------------------------------------------------------


def test_a_follow_up_for_every_lead_without_an_open_one_is_created_once(app_ctx):
    session = app_ctx
    fair = factories.make_event(session, title="Jobmesse")
    catcher = factories.make_user(session, role="staff")
    clicker = factories.make_user(session, role="counsellor")
    now = datetime(2027, 3, 12, 9, 0, tzinfo=UTC)  # a Friday
    leads = [
        event_service.capture_lead(
            session,
            fair,
            event_service.LeadData(first_name=first, last_name="Kontakt"),
            captured_by=catcher,
            assignee=catcher,
            now=now,
        )
        for first in ("Eva", "Emil")
    ]
    followups.cancel(session, leads[0].followup)

    assert ft.followups_for_leads(session, fair, created_by=clicker, now=now) == 1
    session.refresh(leads[0])
    fu = leads[0].followup
    assert (fu.status, fu.assignee_id, fu.person_id) == ("open", catcher.id, leads[0].person_id)
    # Three working days after a Friday: Wednesday.
    assert fu.due_at.astimezone(ft.BERLIN).date() == date(2027, 3, 17)
    assert ft.followups_for_leads(session, fair, created_by=clicker, now=now) == 0
    assert session.scalar(sa.select(sa.func.count(FollowUp.id))) == 3


def test_the_lead_button_needs_events_edit_and_csrf(client_as, db_session):
    fair = factories.make_event(db_session, title="Jobmesse")
    catcher = factories.make_user(db_session, role="staff")
    lead = event_service.capture_lead(
        db_session,
        fair,
        event_service.LeadData(first_name="Eva", last_name="Kontakt"),
        captured_by=catcher,
        assignee=catcher,
        now=utcnow(),
    )
    followups.cancel(db_session, lead.followup)
    db_session.commit()
    url = f"/termine/{fair.id}/leads/wiedervorlagen"
    assert client_as("readonly").post(url).status_code == 403
    staff = client_as("staff")
    assert staff.post(url, csrf=False).status_code == 400
    assert db_session.scalar(sa.select(sa.func.count(FollowUp.id))) == 1
    page = staff.get(f"/termine/{fair.id}").get_data(as_text=True)
    assert 'id="lead-followups"' in page
    assert staff.post(url, data={"working_days": "5"}).status_code == 302
    assert staff.post(url, data={"working_days": "abc"}).status_code == 302
    assert db_session.scalar(sa.select(sa.func.count(FollowUp.id))) == 2
    assert db_session.get(Lead, lead.id).followup.status == "open"


def test_a_leads_follow_up_shows_its_assignee_and_link_only_to_who_may_see_it(
    client_as, db_session
):
    """The follow-up pages show staff their own follow-ups only; the fair page must not
    show someone else's (assignee, due date, link) to every reader of the event."""
    fair = factories.make_event(db_session, title="Jobmesse", kind="fair")
    catcher = factories.make_user(db_session, role="staff", display_name="Fenja Fänger")
    event_service.capture_lead(
        db_session,
        fair,
        event_service.LeadData(first_name="Eva", last_name="Kontakt"),
        captured_by=catcher,
        assignee=catcher,
        now=utcnow(),
    )
    db_session.commit()
    reader = client_as("readonly").get(f"/termine/{fair.id}").get_data(as_text=True)
    assert "Eva" in reader
    assert "Fenja Fänger" not in reader
    assert "/wiedervorlagen/" not in reader.split('id="leads"', 1)[-1].split("</table>", 1)[0]
    assert "Eine Kollegin oder ein Kollege hat eine Wiedervorlage" in reader
    lead_view = client_as("lead").get(f"/termine/{fair.id}").get_data(as_text=True)
    assert "Fenja Fänger" in lead_view


# --- invitations ---------------------------------------------------------------------------------


def _subscribed(session: Any, nl: Any, person: Any, status: str = "confirmed") -> None:
    newsletters.record_consent(session, person=person, lst=nl, method="paper")
    if status != "confirmed":
        newsletters.unsubscribe(session, person.id, nl.id, channel="staff")


def test_invitations_reach_confirmed_subscribers_once_and_mark_them_invited(app_ctx):
    session = app_ctx
    event = factories.make_event(
        session, registration_open=True, day=(utcnow() + timedelta(days=20)).date()
    )
    nl = factories.make_list(session)
    ida = factories.make_person(session, first_name="Ida", email="ida@example.org")
    out = factories.make_person(session, first_name="Otto", email="otto@example.org")
    factories.make_person(session, first_name="Nora", email="nora@example.org")  # no consent
    eli = factories.make_person(session, first_name="Eli", email="eli@example.org", language="en")
    _subscribed(session, nl, ida)
    _subscribed(session, nl, eli)
    _subscribed(session, nl, out, status="unsubscribed")

    def render(person: Any, link: str) -> tuple[str, str, str]:
        return "Einladung", f"Hallo {person.first_name}: {link}", ""

    recipients = ft.invitation_recipients(nl.id)
    assert ft.invite(session, event, recipients, now=utcnow(), mail=MAIL, render=render) == 2
    assert sorted(_recipients(session)) == ["eli@example.org", "ida@example.org"]
    contacts = session.scalars(sa.select(EventContact).order_by(EventContact.person_id)).all()
    assert [(c.person_id, c.status) for c in contacts] == [(ida.id, "invited"), (eli.id, "invited")]
    assert ft.invite(session, event, recipients, now=utcnow(), mail=MAIL, render=render) == 0

    mails = {
        m.rcpt_tos[0]: m.message.get_body(("plain",)).get_content()
        for m in QueuedMail(session).messages
    }
    token = re.search(r"einladung=([^\s&]+)", mails["ida@example.org"]).group(1)
    assert ft.person_for_invitation(session, SECRET, token, event.id) == ida
    assert "sprache=en" in mails["eli@example.org"]
    assert "sprache" not in mails["ida@example.org"]


def test_the_invitation_token_is_tamper_proof_and_bound_to_its_event(app_ctx):
    session = app_ctx
    person = factories.make_person(session)
    token = ft.invitation_token(SECRET, person.id, 7)
    assert ft.person_for_invitation(session, SECRET, token, 7) == person
    assert ft.person_for_invitation(session, SECRET, token, 8) is None
    assert ft.person_for_invitation(session, "another secret", token, 7) is None
    forged = ft.invitation_token("guessed", person.id, 7)
    assert ft.person_for_invitation(session, SECRET, forged, 7) is None
    assert ft.person_for_invitation(session, SECRET, token[:-2] + "xx", 7) is None
    assert ft.person_for_invitation(session, SECRET, "junk", 7) is None


def test_the_personal_link_prefills_the_page_and_links_the_registration(app, client, db_session):
    event = factories.make_event(
        db_session, registration_open=True, day=(utcnow() + timedelta(days=20)).date()
    )
    # Two contacts share the address: without the link the registration could not be linked.
    ida = factories.make_person(db_session, first_name="Ida", last_name="Iske", email="ida@x.org")
    factories.make_person(db_session, first_name="Ida", last_name="Zwei", email="ida@x.org")
    db_session.commit()
    token = ft.invitation_token(app.secret_key, ida.id, event.id)
    url = f"/veranstaltungen/{event.id}/anmeldung?einladung={token}"
    page = client.get(url).get_data(as_text=True)
    assert 'value="Ida Iske"' in page
    assert 'value="ida@x.org"' in page
    form_token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    action = re.search(
        r'<form method="post" action="([^"]+)"[^>]*id="registration-form"', page
    ).group(1)
    assert "einladung=" in action
    client.post(
        action.replace("&amp;", "&"),
        data={"form_token": form_token, "name": "Ida Iske", "email": "ida@x.org"},
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
        csrf=False,
    )
    row = db_session.scalars(sa.select(EventRegistration)).one()
    assert row.person_id == ida.id
    # A tampered link is the plain page: nothing prefilled.
    plain = client.get(url[:-3] + "abc").get_data(as_text=True)
    assert "Ida Iske" not in plain


def test_staff_count_then_send_invitations_in_the_background_and_a_reader_gets_403(
    app, client_as, db_session
):
    event = factories.make_event(
        db_session, registration_open=True, day=(utcnow() + timedelta(days=20)).date()
    )
    nl = factories.make_list(db_session, name="Arbeitgeber-News")
    ida = factories.make_person(db_session, first_name="Ida", email="ida@example.org")
    _subscribed(db_session, nl, ida)
    db_session.commit()
    url = f"/termine/{event.id}/einladen"
    assert client_as("readonly").get(url).status_code == 403
    staff = client_as("staff")
    assert "Arbeitgeber-News" in staff.get(url).get_data(as_text=True)
    form = {"list_id": str(nl.id), "audience_id": "0", "contact_list_id": "0"}
    counted = staff.post(url, data={**form, "action": "preview"}).get_data(as_text=True)
    assert "1 Person" in counted
    assert QueuedMail(db_session).messages == []
    assert staff.post(url, data={**form, "action": "send"}, csrf=False).status_code == 400
    assert QueuedMail(db_session).messages == []
    assert staff.post(url, data={**form, "action": "send"}).status_code == 302
    # A second click while the job waits queues no second job.
    staff.post(url, data={**form, "action": "send"})
    assert QueuedMail(db_session).messages == []
    assert run_jobs(app) == 1
    (mail,) = QueuedMail(db_session).messages
    assert mail.message["Subject"] == f"Einladung: {event.title}"
    text = mail.message.get_body(("plain",)).get_content()
    assert f"/veranstaltungen/{event.id}/anmeldung?einladung=" in text
    # Sent to a newsletter list's subscribers: it names the list and can be left in one step.
    assert mail.message["List-Id"].startswith("Arbeitgeber-News <")
    assert "Abmelden" in text
    unsubscribe = text.split("Abmelden:", 1)[1].split()[0]
    assert unsubscribe.startswith("http")
    if unsubscribe.startswith("https://"):
        assert mail.message["List-Unsubscribe"] == f"<{unsubscribe}>"


# --- figures -------------------------------------------------------------------------------------


def test_the_event_page_shows_the_figures_and_the_attendance_rate(client_as, db_session):
    event, rows = _past_event_with_attendees(db_session)
    reg.mark_no_shows(db_session, event.id, utcnow())
    db_session.commit()
    assert ft.figures(db_session, event.id).attendance_rate == pytest.approx(2 / 3)
    page = client_as("readonly").get(f"/termine/{event.id}").get_data(as_text=True)
    figures = page.split('id="event-figures"', 1)[1].split("</dl>", 1)[0]
    assert "67 %" in figures
    assert ">3<" in figures


def test_the_persons_page_lists_their_participation_in_past_and_coming_events(
    client_as, db_session
):
    event, rows = _past_event_with_attendees(db_session)
    person = reg.take_into_contacts(db_session, rows[0])
    coming = factories.make_event(
        db_session, title="Sommerfest", day=(utcnow() + timedelta(days=20)).date()
    )
    event_service.set_contact(db_session, coming, person, "invited")
    db_session.commit()
    page = client_as("staff").get(f"/kontakte/personen/{person.id}").get_data(as_text=True)
    section = page.split('id="related-participation"', 1)[1].split("</section>", 1)[0]
    assert "Sommerfest" in section
    assert event.title in section
    assert [s.strip() for s in re.findall(r'participation-status">([^<]+)<', section)] == [
        "eingeladen",
        "teilgenommen",
    ]


def test_the_invitation_text_continues_the_greeting_in_lower_case_and_sets_the_link_apart(
    app, client_as, db_session
):
    event = factories.make_event(
        db_session,
        registration_open=True,
        day=(utcnow() + timedelta(days=20)).date(),
    )
    nl = factories.make_list(db_session, name="Arbeitgeber-News")
    ida = factories.make_person(db_session, first_name="Ida", email="ida@example.org")
    _subscribed(db_session, nl, ida)
    db_session.commit()
    form = {"list_id": str(nl.id), "audience_id": "0", "contact_list_id": "0", "action": "send"}
    assert client_as("staff").post(f"/termine/{event.id}/einladen", data=form).status_code == 302
    assert run_jobs(app) == 1
    (mail,) = QueuedMail(db_session).messages
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    # After "Guten Tag …," a German letter goes on in lower case (DIN 5008).
    assert f",\n\nwir laden Sie herzlich zu „{event.title}“ ein." in text
    assert f"Ort: {event.place}\n\nHier melden Sie sich" in text
