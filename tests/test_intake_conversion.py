"""Converting an inquiry: into a participant (prefilled, consent carried over), into a contact
person at an organisation with a skills need, or linked to a known record; each domain's
permission, converting twice, the pages, and erasure and retention of converted inquiries."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from crm.audit.models import AuditEntry
from crm.contacts.models import Activity, Affiliation, Organisation, QualificationNeed
from crm.database import utcnow
from crm.intake import conversion, service
from crm.intake.erasure import closed_due, erase_inquiry
from crm.intake.models import Inquiry
from crm.mail.models import OutgoingMail
from crm.participants.models import Participant, ParticipantContact
from crm.privacy.service import erase_participant
from tests import factories
from tests.conftest import csrf_token_from

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
CONSENT = "Ich bin einverstanden, dass meine Angaben gespeichert werden."


def _inquiry(session: Any, office: Any, assignee: Any, **overrides: Any) -> Inquiry:
    values: dict[str, Any] = {
        "kind": "person",
        "topic": "recognition",
        "office_id": office.id,
        "name": "Olena Kovalenko",
        "email": "olena@example.org",
        "phone": "0391 555 0123",
        "message": "Ich möchte mein Diplom als Ärztin anerkennen lassen.",
        "preferred_language": "en",
    }
    values.update(overrides)
    inquiry = service.create_inquiry(
        session,
        service.InquiryData(**values),
        channel="web",
        now=MONDAY_9,
        consent_text=CONSENT,
        consent_version="2026-12",
        ack=service.AckSettings("Netzwerk <crm@netzwerk.example.org>"),
    )
    service.assign(inquiry, assignee, MONDAY_9)
    session.flush()
    return inquiry


@pytest.fixture
def office(app_ctx: Any) -> Any:
    return factories.make_office(app_ctx, name="Geschäftsstelle Magdeburg")


@pytest.fixture
def counsellor(app_ctx: Any, office: Any) -> Any:
    return factories.make_user(app_ctx, office=office, display_name="Bettina Beratung")


def _participant_data(inquiry: Inquiry, **overrides: Any) -> dict[str, Any]:
    data = conversion.participant_prefill(inquiry, MONDAY_9.date())
    data.update(overrides)
    return data


def _firm(**overrides: Any) -> conversion.FirmConversion:
    values: dict[str, Any] = {
        "first_name": "Thomas",
        "last_name": "Richter",
        "email": "t.richter@example.org",
        "function": "Inhaber",
        "new_organisation_name": "Richter Metallbau GmbH",
        "occupation": "Schweißer",
        "count": 2,
        "need_note": "Sucht zwei Schweißer.",
    }
    values.update(overrides)
    return conversion.FirmConversion(**values)


# --- prefilling ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Olena Kovalenko", ("Olena", "Kovalenko")),
        ("Kovalenko, Olena", ("Olena", "Kovalenko")),
        ("  Ana  Maria   Pereira ", ("Ana Maria", "Pereira")),
        ("Haddad", ("", "Haddad")),
    ],
)
def test_a_typed_name_is_split_into_first_and_last_name(typed, expected):
    assert conversion.split_name(typed) == expected


def test_the_participant_is_prefilled_from_the_inquiry(app_ctx, office, counsellor):
    inquiry = _inquiry(app_ctx, office, counsellor)
    data = conversion.participant_prefill(inquiry, date(2026, 12, 1))
    assert data["first_name"] == "Olena"
    assert data["last_name"] == "Kovalenko"
    assert data["email"] == "olena@example.org"
    assert data["phone"] == "0391 555 0123"
    assert data["office_id"] == office.id
    assert data["counsellor_id"] == counsellor.id
    assert data["acquisition_channel"] == "website_hotline"
    assert data["first_contact_on"] == date(2026, 11, 23)


# --- 1. into a participant ---------------------------------------------------------------------


def test_converting_creates_the_participant_links_the_inquiry_and_keeps_its_consent(
    app_ctx, office, counsellor
):
    s = app_ctx
    inquiry = _inquiry(s, office, counsellor)
    now = MONDAY_9 + timedelta(days=1)
    participant = conversion.convert_to_participant(
        s, inquiry.id, _participant_data(inquiry), user=counsellor, now=now
    )
    s.commit()
    assert (participant.first_name, participant.last_name) == ("Olena", "Kovalenko")
    assert participant.counsellor_id == counsellor.id
    assert participant.acquisition_channel == "website_hotline"
    assert inquiry.status == "converted"
    assert inquiry.participant_id == participant.id
    assert inquiry.converted_at == now
    # The consent stays provable on the record: wording, version and time in its contact log.
    (entry,) = s.scalars(
        sa.select(ParticipantContact).where(ParticipantContact.participant_id == participant.id)
    ).all()
    assert CONSENT in entry.note
    assert "2026-12" in entry.note
    assert "23.11.2026 09:00" in entry.note
    assert "Diplom als Ärztin" in entry.note
    assert "Englisch" in entry.note
    assert entry.happened_at == MONDAY_9
    audit = s.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "convert", AuditEntry.entity_id == inquiry.id
        )
    ).one()
    assert f"Teilnehmende #{participant.id}" in audit.summary
    assert "Olena" not in audit.summary


def test_a_staff_member_may_not_convert_an_inquiry_into_a_participant(app_ctx, office, counsellor):
    s = app_ctx
    staff = factories.make_user(s, office=office, role="staff")
    inquiry = _inquiry(s, office, staff)
    before = s.scalar(sa.select(sa.func.count(Participant.id)))
    with pytest.raises(conversion.ConversionRefusedError):
        conversion.convert_to_participant(
            s,
            inquiry.id,
            _participant_data(inquiry, counsellor_id=counsellor.id),
            user=staff,
            now=MONDAY_9,
        )
    assert s.scalar(sa.select(sa.func.count(Participant.id))) == before
    assert s.get(Inquiry, inquiry.id).status == "assigned"


def test_a_counsellor_may_not_put_the_new_participant_into_an_office_not_theirs(
    app_ctx, office, counsellor
):
    s = app_ctx
    elsewhere = factories.make_office(s)
    inquiry = _inquiry(s, office, counsellor)
    with pytest.raises(conversion.ConversionRefusedError):
        conversion.convert_to_participant(
            s,
            inquiry.id,
            _participant_data(inquiry, office_id=elsewhere.id),
            user=counsellor,
            now=MONDAY_9,
        )


def test_an_inquiry_is_converted_once_and_the_second_attempt_gets_a_clear_message(
    app_ctx, office, counsellor
):
    s = app_ctx
    inquiry = _inquiry(s, office, counsellor)
    data = _participant_data(inquiry)
    conversion.convert_to_participant(s, inquiry.id, dict(data), user=counsellor, now=MONDAY_9)
    s.commit()
    count = s.scalar(sa.select(sa.func.count(Participant.id)))
    with pytest.raises(service.IntakeError, match="bereits übernommen|already been converted"):
        conversion.convert_to_participant(s, inquiry.id, dict(data), user=counsellor, now=MONDAY_9)
    with pytest.raises(service.IntakeError):
        conversion.convert_to_person(s, inquiry.id, _firm(), user=counsellor, now=MONDAY_9)
    s.rollback()
    assert s.scalar(sa.select(sa.func.count(Participant.id))) == count


def test_a_closed_inquiry_cannot_be_converted(app_ctx, office, counsellor):
    s = app_ctx
    inquiry = _inquiry(s, office, counsellor)
    service.close(inquiry, "spam", "", MONDAY_9)
    with pytest.raises(service.IntakeError):
        conversion.convert_to_participant(
            s, inquiry.id, _participant_data(inquiry), user=counsellor, now=MONDAY_9
        )


# --- 2. a firm into a contact person -----------------------------------------------------------


def test_a_firm_becomes_a_person_at_a_new_organisation_with_its_skills_need(
    app_ctx, office, counsellor
):
    s = app_ctx
    inquiry = _inquiry(
        s,
        office,
        counsellor,
        kind="firm",
        topic="further_education",
        name="Thomas Richter",
        email="t.richter@example.org",
        organisation_name="Richter Metallbau GmbH",
        message="Sucht zwei Schweißer.",
    )
    person = conversion.convert_to_person(s, inquiry.id, _firm(), user=counsellor, now=MONDAY_9)
    s.commit()
    org = s.scalars(
        sa.select(Organisation).where(Organisation.name == "Richter Metallbau GmbH")
    ).one()
    assert [a.organisation_id for a in person.affiliations] == [org.id]
    assert person.affiliations[0].function == "Inhaber"
    assert person.owner_id == counsellor.id
    (need,) = s.scalars(
        sa.select(QualificationNeed).where(QualificationNeed.organisation_id == org.id)
    )
    assert (need.occupation, need.count, need.note) == ("Schweißer", 2, "Sucht zwei Schweißer.")
    assert inquiry.status == "converted"
    assert inquiry.person_id == person.id
    note = s.scalars(sa.select(Activity).where(Activity.person_id == person.id)).one()
    assert CONSENT in note.text
    assert note.organisation_id == org.id


def test_a_firm_is_linked_to_an_existing_organisation_without_creating_another(
    app_ctx, office, counsellor
):
    s = app_ctx
    org = factories.make_org(s, name="Richter Metallbau GmbH")
    inquiry = _inquiry(s, office, counsellor, kind="firm", organisation_name="Richter Metallbau")
    before = s.scalar(sa.select(sa.func.count(Organisation.id)))
    person = conversion.convert_to_person(
        s,
        inquiry.id,
        _firm(organisation_id=org.id, new_organisation_name=""),
        user=counsellor,
        now=MONDAY_9,
    )
    assert s.scalar(sa.select(sa.func.count(Organisation.id))) == before
    assert (
        s.scalar(sa.select(Affiliation.organisation_id).where(Affiliation.person_id == person.id))
        == org.id
    )


def test_a_read_only_user_may_not_convert_a_firm(app_ctx, office, counsellor):
    s = app_ctx
    reader = factories.make_user(s, office=office, role="readonly")
    inquiry = _inquiry(s, office, counsellor, kind="firm", organisation_name="X GmbH")
    with pytest.raises(conversion.ConversionRefusedError):
        conversion.convert_to_person(s, inquiry.id, _firm(), user=reader, now=MONDAY_9)


# --- 3. duplicates ------------------------------------------------------------------------------


def test_duplicates_are_found_by_email_phone_and_name_and_participants_only_for_who_may_see_them(
    app_ctx, office, counsellor
):
    s = app_ctx
    by_mail = factories.make_participant(
        s, office=office, counsellor=counsellor, last_name="Anders", email="OLENA@example.org"
    )
    by_name = factories.make_participant(
        s, office=office, counsellor=counsellor, first_name="Olena", last_name="Kovalenko"
    )
    by_phone = factories.make_person(s, last_name="Telefon", email="", phone="+49 391 5550123")
    stranger = factories.make_participant(s, office=office, counsellor=counsellor)
    inquiry = _inquiry(s, office, counsellor)
    found = conversion.duplicates(s, counsellor, inquiry)
    reasons = {p.id: r for p, r in found.participants}
    assert reasons == {by_mail.id: ["email"], by_name.id: ["name"]}
    assert stranger.id not in reasons
    assert [(p.id, r) for p, r in found.people] == [(by_phone.id, ["phone"])]
    staff = factories.make_user(s, office=office, role="staff")
    assert conversion.duplicates(s, staff, inquiry).participants == []


@pytest.mark.parametrize("typed", ["Jörg Schäfer", "Joerg Schaefer"])
def test_a_participant_with_umlauts_is_a_name_duplicate_of_the_same_name_in_any_spelling(
    app_ctx, office, counsellor, typed
):
    # Her name key also holds the plain-vowel form for the search ("…|jorg schafer").
    s = app_ctx
    known = factories.make_participant(
        s, office=office, counsellor=counsellor, first_name="Jörg", last_name="Schäfer"
    )
    factories.make_participant(
        s, office=office, counsellor=counsellor, first_name="Jörg", last_name="Schäf"
    )
    inquiry = _inquiry(s, office, counsellor, name=typed, email="", phone="")
    found = conversion.duplicates(s, counsellor, inquiry)
    assert [(p.id, r) for p, r in found.participants] == [(known.id, ["name"])]


def test_linking_to_a_known_participant_creates_nothing_and_logs_the_message(
    app_ctx, office, counsellor
):
    s = app_ctx
    known = factories.make_participant(s, office=office, counsellor=counsellor)
    inquiry = _inquiry(s, office, counsellor)
    before = s.scalar(sa.select(sa.func.count(Participant.id)))
    conversion.link_to_participant(s, inquiry.id, known.id, user=counsellor, now=MONDAY_9)
    assert s.scalar(sa.select(sa.func.count(Participant.id))) == before
    assert inquiry.status == "converted"
    assert inquiry.participant_id == known.id
    (entry,) = known.contacts
    assert "Diplom als Ärztin" in entry.note


def test_linking_to_a_participant_of_another_office_is_refused(app_ctx, office, counsellor):
    s = app_ctx
    theirs = factories.make_participant(s, office=factories.make_office(s))
    inquiry = _inquiry(s, office, counsellor)
    with pytest.raises(conversion.ConversionRefusedError):
        conversion.link_to_participant(s, inquiry.id, theirs.id, user=counsellor, now=MONDAY_9)


def test_linking_to_a_known_person_puts_the_inquiry_on_their_timeline(app_ctx, office, counsellor):
    s = app_ctx
    known = factories.make_person(s, last_name="Kovalenko")
    inquiry = _inquiry(s, office, counsellor)
    conversion.link_to_person(s, inquiry.id, known.id, user=counsellor, now=MONDAY_9)
    assert inquiry.person_id == known.id
    note = s.scalars(sa.select(Activity).where(Activity.person_id == known.id)).one()
    assert "Diplom als Ärztin" in note.text


# --- privacy -------------------------------------------------------------------------------------


def _converted(s: Any, office: Any, counsellor: Any) -> tuple[Inquiry, Participant]:
    inquiry = _inquiry(s, office, counsellor)
    participant = conversion.convert_to_participant(
        s, inquiry.id, _participant_data(inquiry), user=counsellor, now=MONDAY_9
    )
    s.commit()
    return inquiry, participant


def test_erasing_a_converted_inquiry_leaves_the_participant_untouched(app_ctx, office, counsellor):
    s = app_ctx
    inquiry, participant = _converted(s, office, counsellor)
    iid, pid = inquiry.id, participant.id
    snapshot = {c: getattr(participant, c) for c in ("first_name", "last_name", "email", "notes")}
    contacts_before = len(participant.contacts)
    assert erase_inquiry(s, inquiry, confirmed="all") is not None
    s.commit()
    s.expire_all()
    assert s.get(Inquiry, iid) is None
    kept = s.get(Participant, pid)
    assert {c: getattr(kept, c) for c in snapshot} == snapshot
    assert kept.erased_at is None
    assert len(kept.contacts) == contacts_before


def test_erasing_the_participant_also_erases_the_inquiry_it_came_from(app_ctx, office, counsellor):
    s = app_ctx
    inquiry, participant = _converted(s, office, counsellor)
    other = _inquiry(s, office, counsellor, name="Samir Haddad", email="samir@example.org")
    s.commit()
    iid, other_id = inquiry.id, other.id
    erase_participant(s, participant, confirmed="all")
    s.commit()
    s.expire_all()
    assert s.get(Inquiry, iid) is None
    assert s.get(Inquiry, other_id) is not None
    mails = s.scalars(sa.select(OutgoingMail.recipient).where(OutgoingMail.kind == "inquiry")).all()
    assert "olena@example.org" not in [m.lower() for m in mails]
    assert "samir@example.org" in mails


def test_retention_keeps_a_converted_inquiry_while_its_record_exists(app_ctx, office, counsellor):
    s = app_ctx
    inquiry, participant = _converted(s, office, counsellor)
    later = utcnow() + relativedelta(years=5)
    due = set(s.scalars(sa.select(Inquiry.id).where(closed_due(later))))
    assert inquiry.id not in due
    # Its record deleted outright (no erasure): the inquiry falls under the retention again.
    s.execute(sa.update(Inquiry).where(Inquiry.id == inquiry.id).values(participant_id=None))
    due = set(s.scalars(sa.select(Inquiry.id).where(closed_due(later))))
    assert inquiry.id in due


# --- pages ---------------------------------------------------------------------------------------


def _setup(db_session: Any, client: Any, **overrides: Any) -> Inquiry:
    office = factories.make_office(db_session)
    user = client.user
    user.office = office
    db_session.flush()
    inquiry = _inquiry(db_session, office, user, **overrides)
    db_session.commit()
    return inquiry


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_counsellor_converts_from_the_detail_page_and_lands_on_the_participant(
    client_as, app_ctx
):
    db_session = app_ctx
    client = client_as("counsellor")
    inquiry = _setup(db_session, client)
    page = client.get(f"/anfragen/{inquiry.id}").get_data(as_text=True)
    assert f'href="/anfragen/{inquiry.id}/teilnehmende"' in page
    form = client.get(f"/anfragen/{inquiry.id}/teilnehmende")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'name="csrf_token"' in html
    assert 'value="Olena"' in html
    assert 'value="Kovalenko"' in html
    assert re.search(
        r'<option selected value="website_hotline"|value="website_hotline" selected', html
    )
    values = {
        "first_name": "Olena",
        "last_name": "Kovalenko",
        "email": "olena@example.org",
        "phone": "0391 555 0123",
        "office_id": str(inquiry.office_id),
        "counsellor_id": str(client.user.id),
        "acquisition_channel": "website_hotline",
        "first_contact_on": "2026-11-23",
        "recognition_status": "not_started",
        "gender": "",
        "language_level": "",
    }
    response = client.post(f"/anfragen/{inquiry.id}/teilnehmende", data=values)
    assert response.status_code == 302, response.get_data(as_text=True)
    db_session.expire_all()
    converted = db_session.get(Inquiry, inquiry.id)
    assert response.headers["Location"].endswith(f"/teilnehmende/{converted.participant_id}")
    record = _text(client.get(response.headers["Location"]).get_data(as_text=True))
    assert f"Aus Anfrage #{inquiry.id}" in record
    detail = client.get(f"/anfragen/{inquiry.id}").get_data(as_text=True)
    assert f"/teilnehmende/{converted.participant_id}" in detail
    # A second tab sends the form again: a message, no second participant, no 500.
    again = client.post(f"/anfragen/{inquiry.id}/teilnehmende", data=values)
    assert again.status_code == 302
    assert again.headers["Location"].endswith(f"/anfragen/{inquiry.id}")
    assert "bereits" in _text(client.get(again.headers["Location"]).get_data(as_text=True))
    count = db_session.scalar(
        sa.select(sa.func.count(Participant.id)).where(Participant.last_name == "Kovalenko")
    )
    assert count == 1


def test_a_conversion_with_an_error_shows_the_form_again_with_everything_typed(client_as, app_ctx):
    db_session = app_ctx
    client = client_as("counsellor")
    inquiry = _setup(db_session, client)
    response = client.post(
        f"/anfragen/{inquiry.id}/teilnehmende",
        data={
            "first_name": "Olena Marija",
            "last_name": "",
            "email": "olena@example.org",
            "office_id": str(inquiry.office_id),
            "counsellor_id": str(client.user.id),
            "acquisition_channel": "website_hotline",
            "first_contact_on": "2026-11-23",
            "recognition_status": "not_started",
            "notes": "Wichtig: nur vormittags",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'value="Olena Marija"' in html
    assert "Wichtig: nur vormittags" in html
    assert db_session.get(Inquiry, inquiry.id).status == "assigned"


def test_conversion_forms_refuse_a_post_without_csrf_token(client_as, app_ctx):
    db_session = app_ctx
    client = client_as("counsellor")
    inquiry = _setup(db_session, client)
    for path in ("teilnehmende", "kontaktperson", "verknuepfen"):
        response = client.post(f"/anfragen/{inquiry.id}/{path}", data={}, csrf=False)
        assert response.status_code == 400
    assert db_session.get(Inquiry, inquiry.id).status == "assigned"


def test_staff_may_convert_a_firm_but_never_reach_the_participant_conversion(client_as, app_ctx):
    db_session = app_ctx
    client = client_as("staff")
    inquiry = _setup(
        db_session, client, kind="firm", name="Thomas Richter", organisation_name="Richter GmbH"
    )
    page = client.get(f"/anfragen/{inquiry.id}").get_data(as_text=True)
    assert "/teilnehmende" not in page
    assert f'href="/anfragen/{inquiry.id}/kontaktperson"' in page
    assert client.get(f"/anfragen/{inquiry.id}/teilnehmende").status_code == 403
    assert client.post(f"/anfragen/{inquiry.id}/teilnehmende", data={}).status_code == 403
    form = client.get(f"/anfragen/{inquiry.id}/kontaktperson")
    html = form.get_data(as_text=True)
    assert form.status_code == 200
    assert 'value="Richter GmbH"' in html
    assert csrf_token_from(form.data)
    values = {
        "first_name": "Thomas",
        "last_name": "Richter",
        "language": "de",
        "organisation": "",
        "organisation_id": "",
        "new_organisation": "Richter GmbH",
        "occupation": "Schweißer",
        "count": "2",
        "need_note": "Sucht zwei Schweißer.",
    }
    both = client.post(
        f"/anfragen/{inquiry.id}/kontaktperson", data=dict(values, organisation="Irgendwas")
    )
    assert both.status_code == 400
    assert 'value="Schweißer"' in both.get_data(as_text=True)
    done = client.post(f"/anfragen/{inquiry.id}/kontaktperson", data=values)
    assert done.status_code == 302
    db_session.expire_all()
    converted = db_session.get(Inquiry, inquiry.id)
    assert done.headers["Location"].endswith(f"/kontakte/personen/{converted.person_id}")
    person_page = _text(client.get(done.headers["Location"]).get_data(as_text=True))
    assert f"Aus Anfrage #{inquiry.id}" in person_page


def test_a_duplicate_is_linked_from_the_detail_page(client_as, app_ctx):
    db_session = app_ctx
    client = client_as("counsellor")
    inquiry = _setup(db_session, client)
    known = factories.make_person(db_session, last_name="Bekannt", email="olena@example.org")
    db_session.commit()
    page = client.get(f"/anfragen/{inquiry.id}").get_data(as_text=True)
    assert f'value="person:{known.id}"' in page
    assert "gleiche E-Mail-Adresse" in page
    response = client.post(
        f"/anfragen/{inquiry.id}/verknuepfen", data={"record": f"person:{known.id}"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/kontakte/personen/{known.id}")
    assert db_session.get(Inquiry, inquiry.id).person_id == known.id
    bad = client.post(f"/anfragen/{inquiry.id}/verknuepfen", data={"record": "nonsense:x"})
    assert bad.status_code == 302


def test_the_access_report_names_what_a_converted_inquiry_became(client_as, app_ctx):
    db_session = app_ctx
    office = factories.make_office(db_session)
    counsellor = factories.make_user(db_session, office=office)
    inquiry, participant = _converted(db_session, office, counsellor)
    admin = client_as("admin")
    report = _text(admin.get(f"/datenschutz/anfragen/{inquiry.id}/auskunft").get_data(as_text=True))
    assert "Übernommen als" in report
    assert f"Teilnehmende Nr. {participant.id}" in report


def test_two_tabs_sending_the_conversion_at_once_create_one_participant(make_database, tmp_path):
    """Both tabs post at the same moment: one participant, the other tab back on the inquiry."""
    import threading

    from flask_migrate import upgrade

    from crm.extensions import db
    from tests.conftest import CSRFClient, build_app, login

    # Its own database: the two requests' commits must be real, not the tests' savepoints.
    app = build_app(make_database(), str(tmp_path))
    app.test_client_class = CSRFClient
    with app.app_context():
        upgrade()
        office = factories.make_office(db.session)
        user = factories.make_user(db.session, office=office)
        inquiry = service.create_inquiry(
            db.session,
            service.InquiryData(
                kind="person",
                topic="job",
                office_id=office.id,
                name="Zwei Tabs",
                email="zwei.tabs@example.org",
            ),
            channel="web",
            now=MONDAY_9,
            consent_text=CONSENT,
            consent_version="2026-12",
        )
        service.assign(inquiry, user, MONDAY_9)
        db.session.commit()
        iid, office_id, user_id, email = inquiry.id, office.id, user.id, user.email
        db.session.remove()
    values = {
        "first_name": "Zwei",
        "last_name": "Tabs",
        "office_id": str(office_id),
        "counsellor_id": str(user_id),
        "acquisition_channel": "website_hotline",
        "first_contact_on": "2026-11-23",
        "recognition_status": "not_started",
        "gender": "",
        "language_level": "",
    }
    tabs = [app.test_client() for _ in range(2)]
    for tab in tabs:
        assert login(tab, email).status_code == 302
    barrier = threading.Barrier(2)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def send(tab: Any) -> None:
        try:
            barrier.wait()
            answers.append(tab.post(f"/anfragen/{iid}/teilnehmende", data=values))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(a.status_code for a in answers) == [302, 302]
    targets = sorted(a.headers["Location"] for a in answers)
    assert targets[0].endswith(f"/anfragen/{iid}")
    assert re.search(r"/teilnehmende/\d+$", targets[1])
    with app.app_context():
        made = db.session.scalar(
            sa.select(sa.func.count(Participant.id)).where(Participant.last_name == "Tabs")
        )
        status = db.session.get(Inquiry, iid).status
        db.session.remove()
    assert made == 1
    assert status == "converted"
