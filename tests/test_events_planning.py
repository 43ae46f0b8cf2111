"""Fair planning: staff slots with conflicts, leads, follow-up edit and recurrence, pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import sqlalchemy as sa

from crm.contacts.models import Activity, Organisation, Person
from crm.contacts.service import save_organisation
from crm.events import service
from crm.events.models import Event, Lead
from crm.events.series import to_utc
from crm.followups import service as fu_service
from crm.followups.models import FollowUp
from tests import factories


def fair(session, day=date(2027, 3, 10), title="Jobmesse Magdeburg") -> Event:
    return service.create_event(
        session,
        service.EventData(
            kind="fair",
            title=title,
            start_local=datetime.combine(day, time(9)),
            end_local=datetime.combine(day, time(17)),
            place="Messe Magdeburg",
        ),
    )


def at(day: date, hour: int) -> datetime:
    return to_utc(datetime.combine(day, time(hour)))


def test_booking_someone_twice_at_overlapping_times_warns_across_events(app_ctx):
    session = app_ctx
    anna = factories.make_user(session)
    bernd = factories.make_user(session)
    day = date(2027, 3, 10)
    one, other = fair(session), fair(session, title="Ausbildungsmesse Burg")
    _slot, clashes = service.add_slot(session, one, anna, at(day, 9), at(day, 12))
    assert clashes == []
    _slot, clashes = service.add_slot(session, one, bernd, at(day, 12), at(day, 15))
    assert clashes == []  # different person
    second, clashes = service.add_slot(session, other, anna, at(day, 11), at(day, 13))
    assert [c.event.title for c in clashes] == ["Jobmesse Magdeburg"]
    _slot, clashes = service.add_slot(session, other, anna, at(day, 12), at(day, 14))
    # Touching ends are no overlap with the 9-12 slot, but with her 11-13 slot.
    assert [c.id for c in clashes] == [second.id]
    assert set(service.conflicts_of(session, session.get(Event, other.id))) == {
        second.id,
        _slot.id,
    }
    service.cancel_event(session, one)
    assert [c.id for c in service.overlapping(session, second)] == [_slot.id]


def test_a_lead_creates_person_organisation_activity_and_follow_up(app_ctx):
    session = app_ctx
    me = factories.make_user(session)
    colleague = factories.make_user(session)
    event = fair(session)
    now = datetime(2027, 3, 10, 10, 30, tzinfo=UTC)
    lead = service.capture_lead(
        session,
        event,
        service.LeadData(
            first_name="Olga",
            last_name="Petrenko",
            email="o.petrenko@example.org",
            organisation_name="Stadtwerke Testhausen",
            postcode="39104",
            note="Sucht Elektronikerin",
        ),
        captured_by=me,
        assignee=colleague,
        now=now,
    )
    person = session.get(Person, lead.person_id)
    assert person.email == "o.petrenko@example.org"
    assert [a.organisation.name for a in person.affiliations] == ["Stadtwerke Testhausen"]
    activity = session.scalar(sa.select(Activity).where(Activity.person_id == person.id))
    assert activity.kind == "fair_contact"
    assert activity.organisation_id == lead.organisation_id
    fu = session.get(FollowUp, lead.followup_id)
    assert (fu.assignee_id, fu.event_id, fu.person_id) == (colleague.id, event.id, person.id)
    assert fu_service.local_due(fu).date() == date(2027, 3, 17)


def test_a_second_lead_finds_the_existing_person_and_organisation(app_ctx):
    session = app_ctx
    me = factories.make_user(session)
    org = save_organisation(session, {"name": "Bäckerei Krümel GmbH", "postcode": "39110"})
    event = fair(session)
    lead_data = service.LeadData(
        first_name="Ida",
        last_name="Sommer",
        email="ida@example.org",
        organisation_name="Bäckerei Krümel GmbH",
        postcode="39110",
    )
    first = service.capture_lead(
        session, event, lead_data, captured_by=me, assignee=me, now=datetime.now(UTC)
    )
    second = service.capture_lead(
        session, event, lead_data, captured_by=me, assignee=me, now=datetime.now(UTC)
    )
    assert first.organisation_id == second.organisation_id == org.id
    assert first.person_id == second.person_id
    count = session.scalar(sa.select(sa.func.count()).select_from(Organisation))
    assert count == 1
    assert len(service.leads_of(session, event)) == 2


def test_editing_a_follow_up_changes_it_and_reminds_again(app_ctx):
    session = app_ctx
    user = factories.make_user(session)
    fu = fu_service.create_followup(
        session, subject="Alt", due_date=date(2027, 1, 4), assignee=user
    )
    fu.reminded_at = datetime.now(UTC)
    fu_service.update_followup(
        session,
        fu,
        subject="Neu",
        note="Notiz",
        due_date=date(2027, 1, 6),
        due_time=time(14, 0),
        priority="high",
    )
    assert (fu.subject, fu.note, fu.priority, fu.has_time) == ("Neu", "Notiz", "high", True)
    assert fu.reminded_at is None
    assert fu_service.local_due(fu).replace(tzinfo=None) == datetime(2027, 1, 6, 14, 0)


def test_a_repeating_follow_up_creates_the_next_one_when_done(app_ctx):
    session = app_ctx
    user = factories.make_user(session)
    fu = fu_service.create_followup(
        session,
        subject="Monatsbericht",
        due_date=date(2027, 1, 31),
        assignee=user,
        repeat_every=1,
        repeat_unit="months",
    )
    fu_service.mark_done(session, fu, by=user, now=datetime.now(UTC))
    nxt = session.scalar(
        sa.select(FollowUp).where(FollowUp.status == "open", FollowUp.subject == "Monatsbericht")
    )
    assert fu_service.local_due(nxt).date() == date(2027, 2, 28)
    assert (nxt.repeat_every, nxt.repeat_unit) == (1, "months")


def test_a_fair_is_planned_and_a_lead_captured_through_the_pages(client_as, db_session):
    c = client_as("staff")
    response = c.post(
        "/termine/neu",
        data={
            "kind": "fair",
            "title": "Jobmesse Burg",
            "start_date": "2027-05-12",
            "start_time": "09:00",
            "end_date": "2027-05-12",
            "end_time": "16:00",
            "place": "Rolandhalle",
            "responsible_id": str(c.user.id),
            "pattern": "none",
            "default_checklist": "y",
        },
    )
    assert response.status_code == 302, response.data
    event = db_session.scalar(sa.select(Event).where(Event.title == "Jobmesse Burg"))
    assert len(event.checklist) == 3
    for start, end in (("09:00", "12:00"), ("11:00", "13:00")):
        r = c.post(
            f"/termine/{event.id}/standdienst",
            data={
                "user_id": str(c.user.id),
                "day": "2027-05-12",
                "start_time": start,
                "end_time": end,
            },
        )
        assert r.status_code == 302
    page = c.get(f"/termine/{event.id}")
    assert page.status_code == 200
    assert b"conflict-warning" in page.data
    r = c.post(
        f"/termine/{event.id}/leads/neu",
        data={
            "last_name": "Neumann",
            "first_name": "Tom",
            "organisation": "Tischlerei Holz",
            "assignee_id": str(c.user.id),
            "next": "event",
        },
    )
    assert r.status_code == 302, r.data
    lead = db_session.scalar(sa.select(Lead).where(Lead.event_id == event.id))
    assert lead.followup.assignee_id == c.user.id
    page = c.get(f"/termine/{event.id}")
    assert b"Neumann" in page.data
    assert b"lead-table" in page.data
    assert c.get("/termine/").status_code == 200
    assert c.get(f"/wiedervorlagen/{lead.followup_id}/bearbeiten").status_code == 200


def test_the_fair_checklist_option_is_marked_for_fairs_only_and_ignored_for_a_workshop(
    client_as, db_session
):
    c = client_as("staff")
    page = c.get("/termine/neu").get_data(as_text=True)
    option = page[page.index('id="default-checklist-field"') :].split("</form>", 1)[0]
    # app.js shows it only while the kind select says "fair"; the help says so without JS.
    assert 'data-only-when="kind" data-only-values="fair"' in option
    assert "Nur bei Messen." in option
    response = c.post(
        "/termine/neu",
        data={
            "kind": "workshop",
            "title": "Workshop Lebenslauf",
            "start_date": "2027-05-12",
            "start_time": "09:00",
            "end_date": "2027-05-12",
            "end_time": "12:00",
            "responsible_id": str(c.user.id),
            "pattern": "none",
            "default_checklist": "y",
        },
    )
    assert response.status_code == 302, response.data
    event = db_session.scalar(sa.select(Event).where(Event.title == "Workshop Lebenslauf"))
    assert event.checklist == []


def test_merging_people_keeps_their_leads(app_ctx):
    from crm.contacts.service import merge_people, save_person

    session = app_ctx
    me = factories.make_user(session)
    event = fair(session)
    lead = service.capture_lead(
        session,
        event,
        service.LeadData(first_name="Eva", last_name="Doppelt", email="eva1@example.org"),
        captured_by=me,
        assignee=me,
        now=datetime.now(UTC),
    )
    keep = save_person(session, {"first_name": "Eva", "last_name": "Doppelt"})
    merge_people(session, keep, session.get(Person, lead.person_id), user=me)
    session.expire_all()
    assert session.get(Lead, lead.id).person_id == keep.id


def test_a_lead_at_a_picked_organisation_is_linked_to_it_whatever_postcode_is_typed(
    client_as, db_session
):
    c = client_as("staff")
    event = fair(db_session)
    # Stored without a postcode: matching by name and postcode would have made a second one.
    known = save_organisation(db_session, {"name": "Klinikum Magdeburg-Süd", "kind": "employer"})
    db_session.commit()
    orgs_before = db_session.scalar(sa.select(sa.func.count(Organisation.id)))

    page = c.get(f"/termine/{event.id}/leads/neu").get_data(as_text=True)
    assert 'data-source="/suche/auswahl/organisation"' in page
    # One organisation_id field only: a second, empty one before it would win on submit.
    assert page.count('name="organisation_id"') == 1
    r = c.post(
        f"/termine/{event.id}/leads/neu",
        data={
            "last_name": "Yıldız",
            "organisation": "Klinikum Magdeburg-Süd",
            "organisation_id": str(known.id),
            "postcode": "39130",
            "assignee_id": str(c.user.id),
            "next": "event",
        },
    )
    assert r.status_code == 302, r.data
    lead = db_session.scalar(sa.select(Lead).where(Lead.event_id == event.id))
    assert [a.organisation_id for a in lead.person.affiliations] == [known.id]
    assert db_session.scalar(sa.select(sa.func.count(Organisation.id))) == orgs_before


def test_a_picked_organisation_whose_name_was_then_changed_counts_as_the_typed_name(
    client_as, db_session
):
    c = client_as("staff")
    event = fair(db_session)
    known = save_organisation(db_session, {"name": "Klinikum Magdeburg-Süd", "kind": "employer"})
    db_session.commit()
    r = c.post(
        f"/termine/{event.id}/leads/neu",
        data={
            "last_name": "Weber",
            # Without JavaScript the hidden id stays while the user types another firm.
            "organisation": "Tischlerei Holz",
            "organisation_id": str(known.id),
            "assignee_id": str(c.user.id),
            "next": "event",
        },
    )
    assert r.status_code == 302, r.data
    lead = db_session.scalar(sa.select(Lead).where(Lead.event_id == event.id))
    (affiliation,) = lead.person.affiliations
    assert affiliation.organisation.name == "Tischlerei Holz"
    # Junk in the hidden field is ignored, not a 500.
    junk = c.post(
        f"/termine/{event.id}/leads/neu",
        data={
            "last_name": "Krause",
            "organisation": "Tischlerei Holz",
            "organisation_id": "99999999999999999999",
            "assignee_id": str(c.user.id),
        },
    )
    assert junk.status_code == 302


def _contact_list(session, people, name="Aussteller Jobmesse 2027"):
    from crm.contacts.models import ContactList, ContactListMember

    contact_list = ContactList(name=name)
    session.add(contact_list)
    session.flush()
    for person in people:
        session.add(ContactListMember(list_id=contact_list.id, person_id=person.id))
    session.flush()
    return contact_list


def test_a_whole_contact_list_is_invited_and_nobody_already_registered_is_set_back(
    client_as, db_session
):
    from crm.audit.models import AuditEntry
    from crm.events.models import EventContact

    c = client_as("staff")
    event = fair(db_session)
    anna, ben, cem = (factories.make_person(db_session, last_name=n) for n in ("A", "B", "C"))
    service.set_contact(db_session, event, ben, "registered")
    contact_list = _contact_list(db_session, [anna, ben, cem])
    db_session.commit()

    page = c.get(f"/termine/{event.id}").get_data(as_text=True)
    assert 'id="invite-list-form"' in page
    assert "Aussteller Jobmesse 2027" in page
    r = c.post(f"/termine/{event.id}/kontakte/liste", data={"contact_list_id": contact_list.id})
    assert r.status_code == 302
    assert r.headers["Location"].endswith("#kontakte")
    statuses = dict(
        db_session.execute(
            sa.select(EventContact.person_id, EventContact.status).where(
                EventContact.event_id == event.id
            )
        ).all()
    )
    assert statuses == {anna.id: "invited", ben.id: "registered", cem.id: "invited"}
    flashed = c.get(f"/termine/{event.id}").get_data(as_text=True)
    assert "2 Personen aus „Aussteller Jobmesse 2027“ als eingeladen eingetragen." in flashed
    assert "1 war schon eingetragen und behält den Status." in flashed
    # Each invitation is audited like one entered by hand.
    audited = db_session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.entity_type == "event_contact")
    )
    assert audited >= 3

    # Again: nothing new, nothing doubled.
    c.post(f"/termine/{event.id}/kontakte/liste", data={"contact_list_id": contact_list.id})
    assert len(service.contacts_of(db_session, event)) == 3


def test_inviting_without_a_list_or_with_junk_explains_in_german_and_keeps_the_page(
    client_as, db_session
):
    c = client_as("staff")
    event = fair(db_session)
    _contact_list(db_session, [])
    db_session.commit()
    for value in ("", "abc", "99999999999999999999", "424242"):
        r = c.post(f"/termine/{event.id}/kontakte/liste", data={"contact_list_id": value})
        assert r.status_code == 400, value
        assert "Bitte wählen Sie eine Kontaktliste." in r.get_data(as_text=True)


def test_a_reader_can_neither_see_nor_use_the_list_invitation(client_as, db_session):
    event = fair(db_session)
    contact_list = _contact_list(db_session, [factories.make_person(db_session, last_name="D")])
    db_session.commit()
    reader = client_as("readonly")
    assert 'id="invite-list-form"' not in reader.get(f"/termine/{event.id}").get_data(as_text=True)
    url = f"/termine/{event.id}/kontakte/liste"
    assert reader.post(url, data={"contact_list_id": contact_list.id}).status_code == 403
