"""Event registrations as personal data: the Art. 15 lookup finds a standalone registration
and the report shows it, erasing a contact removes her linked registrations, and the
retention rule deletes the registrations of long-past events only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import lxml.html
import sqlalchemy as sa

from crm.contacts.models import Person
from crm.database import utcnow
from crm.events import registration as reg
from crm.events.models import EventContact, EventRegistration
from crm.privacy import retention
from crm.privacy.service import erase_person
from tests import factories

MAIL = None


def _register(session: Any, event: Any, name: str, email: str, **kw: Any) -> Any:
    now = kw.pop("now", None) or utcnow()
    return reg.register(
        session,
        event.id,
        reg.RegistrationData(name=name, email=email, **kw),
        now=now,
        consent_text="Weitergabe an Mitveranstalter: einverstanden.",
        mail=MAIL,
    ).registration


def test_the_lookup_finds_a_standalone_registration_and_the_report_shows_it(client_as, db_session):
    event = factories.make_event(
        db_session,
        registration_open=True,
        ask_dietary=True,
        title="Fachtag Anerkennung",
        day=(utcnow() + timedelta(days=9)).date(),
    )
    row = _register(
        db_session, event, "Yara Yilmaz", "yara@example.org", dietary="halal", share_consent=True
    )
    db_session.commit()
    admin = client_as("admin")
    page = admin.get("/datenschutz/auskunft", query_string={"q": "yara@example.org"})
    root = lxml.html.fromstring(page.get_data(as_text=True))
    assert root.get_element_by_id(f"candidate-event_registration-{row.id}") is not None
    report = admin.get(f"/datenschutz/auskunft/bericht?r=event_registration:{row.id}")
    text = report.get_data(as_text=True)
    assert report.status_code == 200
    assert "Veranstaltungsanmeldungen" in text
    assert "Fachtag Anerkennung" in text
    assert "halal" in text
    assert "Weitergabe an Mitveranstalter: einverstanden." in text
    assert "gelöscht 12 Monate nach der Veranstaltung" in text


def test_erasing_a_contact_removes_her_linked_registrations_and_nobody_elses(
    app_ctx,
):
    session = app_ctx
    event = factories.make_event(
        session, registration_open=True, day=(utcnow() + timedelta(days=9)).date()
    )
    zoe = factories.make_person(session, first_name="Zoe", email="zoe@example.org")
    mine = _register(session, event, "Zoe Zimmer", "zoe@example.org")
    other = _register(session, event, "Anton Andres", "anton@example.org")
    assert mine.person_id == zoe.id
    ids = (mine.id, other.id)
    erase_person(session, zoe)
    session.flush()
    left = session.scalars(sa.select(EventRegistration.id).where(EventRegistration.id.in_(ids)))
    assert list(left) == [other.id]
    assert session.scalar(sa.select(sa.func.count(EventContact.id))) == 0


def test_the_retention_rule_deletes_registrations_of_events_past_the_period_only(app_ctx):
    session = app_ctx
    now = utcnow()
    old = factories.make_event(
        session, registration_open=True, day=(now - timedelta(days=500)).date()
    )
    recent = factories.make_event(
        session, registration_open=True, day=(now - timedelta(days=30)).date()
    )
    for event, address in ((old, "old@example.org"), (recent, "recent@example.org")):
        # Registered while the event was still ahead.
        _register(session, event, "Name", address, now=event.starts_at - timedelta(days=7))
    states = {s.rule.key: s for s in retention.preview(session, {}, now)}
    assert states["event_registrations"].due == 1
    done = retention.run(session, {}, now)
    assert done["event_registrations"] == 1
    assert session.scalars(sa.select(EventRegistration.email)).all() == ["recent@example.org"]


def test_a_registration_of_an_unknown_address_creates_no_contact_until_staff_take_it(app_ctx):
    # The counterpart of "spam never reaches contacts" for the public registration page.
    session = app_ctx

    event = factories.make_event(
        session, registration_open=True, day=(utcnow() + timedelta(days=9)).date()
    )
    before = session.scalar(sa.select(sa.func.count(Person.id)))
    _register(session, event, "Unbekannt", "nobody-knows@example.org")
    assert session.scalar(sa.select(sa.func.count(Person.id))) == before


def test_an_admin_erases_a_standalone_registration_with_its_mails_and_a_logged_record(
    app, client, client_as, db_session
):
    from crm.mail.models import OutgoingMail
    from crm.privacy.models import ErasureRecord

    event = factories.make_event(
        db_session, registration_open=True, day=(utcnow() + timedelta(days=9)).date()
    )
    db_session.commit()
    # Through the public page, so the confirmation mail is queued like in production.
    page = client.get(f"/veranstaltungen/{event.id}/anmeldung").get_data(as_text=True)
    token = page.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    client.post(
        f"/veranstaltungen/{event.id}/anmeldung",
        data={"form_token": token, "name": "Xaver Xylander", "email": "xaver@example.org"},
        csrf=False,
    )
    keep = _register(db_session, event, "Wilma Weiss", "wilma@example.org")
    db_session.commit()
    row = db_session.scalars(
        sa.select(EventRegistration).where(EventRegistration.email == "xaver@example.org")
    ).one()
    admin = client_as("admin")
    lookup = admin.get("/datenschutz/auskunft", query_string={"q": "xaver@example.org"})
    assert f"/datenschutz/anmeldungen/{row.id}/auskunft" in lookup.get_data(as_text=True)
    preview = admin.get(f"/datenschutz/anmeldungen/{row.id}/loeschen")
    assert preview.status_code == 200
    assert "Xaver Xylander" in preview.get_data(as_text=True)
    done = admin.post(
        f"/datenschutz/anmeldungen/{row.id}/loeschen",
        data={"confirm": "yes", "legal_basis": "request"},
    )
    assert done.status_code == 302
    emails = db_session.scalars(sa.select(EventRegistration.email)).all()
    assert emails == [keep.email]
    mails = db_session.scalars(
        sa.select(OutgoingMail.recipient).where(OutgoingMail.kind == "registration")
    ).all()
    assert "xaver@example.org" not in mails
    log = db_session.scalars(sa.select(ErasureRecord)).one()
    assert (log.subject_type, log.subject_id) == ("event_registration", row.id)
