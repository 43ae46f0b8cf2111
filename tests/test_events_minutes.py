"""Minutes (Protokoll) of coordination meetings and presentations, agreed actions as
follow-ups, and the fair-only sections (booth duty, leads, booth checklist) shown for fairs only."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.database import utcnow
from crm.events import minutes, service
from crm.events.models import ChecklistItem, Event, EventMinutes, StaffSlot
from crm.events.series import to_utc
from crm.followups.models import FollowUp
from tests import factories

DAY = date(2027, 3, 10)


def make_event(session, kind: str, title: str = "Abstimmung mit dem Jobcenter") -> Event:
    event = service.create_event(
        session,
        service.EventData(
            kind=kind,
            title=title,
            start_local=datetime.combine(DAY, time(10)),
            end_local=datetime.combine(DAY, time(11)),
        ),
    )
    session.commit()
    return event


def stored_minutes(session, event: Event) -> EventMinutes | None:
    session.expire_all()
    return session.scalar(sa.select(EventMinutes).where(EventMinutes.event_id == event.id))


MINUTES = "Vereinbart: Jobcenter meldet passende Fälle bis Monatsende. Frau Berg lädt ein."


def test_staff_write_minutes_of_a_coordination_meeting_and_see_who_changed_them(
    client_as, db_session
):
    event = make_event(db_session, "coordination")
    staff = client_as("staff", display_name="Petra Protokoll")
    page = staff.get(f"/termine/{event.id}")
    assert b'id="minutes-form"' in page.data
    assert b"Noch kein Protokoll" not in page.data

    r = staff.post(
        f"/termine/{event.id}/protokoll",
        data={"minutes_text": MINUTES, "minutes_version": "0"},
    )
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/termine/{event.id}#protokoll")
    minutes = stored_minutes(db_session, event)
    assert minutes.text == MINUTES
    assert minutes.updated_by_id == staff.user.id
    assert minutes.version == 1

    page = staff.get(f"/termine/{event.id}").get_data(as_text=True)
    assert "Jobcenter meldet passende Fälle" in page
    assert "Zuletzt geändert von Petra Protokoll" in page
    entry = db_session.scalar(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "event_minutes", AuditEntry.entity_id == minutes.id
        )
    )
    assert entry is not None
    assert entry.actor_id == staff.user.id
    # The log says that the text changed, never what it says (it may name people).
    assert MINUTES not in str(entry.changes)

    r = staff.post(
        f"/termine/{event.id}/protokoll",
        data={"minutes_text": MINUTES + "\nNächster Termin in 14 Tagen.", "minutes_version": "1"},
    )
    assert r.status_code == 302
    assert stored_minutes(db_session, event).version == 2


def test_a_presentation_has_minutes_too_and_a_fair_has_none(client_as, db_session):
    presentation = make_event(db_session, "presentation", "Präsentation Haus der Wirtschaft")
    fair = make_event(db_session, "fair", "Jobmesse Magdeburg")
    staff = client_as("staff")
    assert b'id="protokoll"' in staff.get(f"/termine/{presentation.id}").data
    assert b'id="protokoll"' not in staff.get(f"/termine/{fair.id}").data
    r = staff.post(f"/termine/{fair.id}/protokoll", data={"minutes_text": "x"})
    assert r.status_code == 404
    assert stored_minutes(db_session, fair) is None


def test_a_read_only_user_sees_the_minutes_but_cannot_change_them(client_as, db_session):
    event = make_event(db_session, "coordination")
    staff = client_as("staff")
    staff.post(f"/termine/{event.id}/protokoll", data={"minutes_text": MINUTES})
    reader = client_as("readonly")
    page = reader.get(f"/termine/{event.id}")
    assert page.status_code == 200
    assert b'id="minutes-form"' not in page.data
    assert b'id="minutes-text"' in page.data
    assert "Jobcenter meldet passende Fälle".encode() in page.data
    r = reader.post(
        f"/termine/{event.id}/protokoll",
        data={"minutes_text": "überschrieben", "minutes_version": "1"},
    )
    assert r.status_code == 403
    assert stored_minutes(db_session, event).text == MINUTES


def test_minutes_are_not_saved_without_a_csrf_token(client_as, db_session):
    event = make_event(db_session, "coordination")
    staff = client_as("staff")
    r = staff.post(
        f"/termine/{event.id}/protokoll",
        data={"minutes_text": MINUTES, "minutes_version": "0"},
        csrf=False,
    )
    assert r.status_code == 400
    assert stored_minutes(db_session, event) is None


def test_saving_over_a_colleagues_newer_minutes_is_refused_and_keeps_the_typed_text(
    client_as, db_session
):
    event = make_event(db_session, "coordination")
    first, second = client_as("staff"), client_as("counsellor")
    first.post(f"/termine/{event.id}/protokoll", data={"minutes_text": MINUTES})
    # The second editor loaded the page before the first saved.
    r = second.post(
        f"/termine/{event.id}/protokoll",
        data={"minutes_text": "Mein eigener Entwurf", "minutes_version": "0"},
    )
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "Mein eigener Entwurf" in page
    assert "inzwischen gespeichert" in page
    assert stored_minutes(db_session, event).text == MINUTES
    r = second.post(
        f"/termine/{event.id}/protokoll",
        data={"minutes_text": "x", "minutes_version": "abc\x00"},
    )
    assert r.status_code in (400, 409)


def test_an_agreed_action_becomes_a_follow_up_seen_only_by_whom_it_concerns(client_as, db_session):
    north, south = factories.make_office(db_session), factories.make_office(db_session)
    event = make_event(db_session, "coordination")
    staff = client_as("staff", office=north)
    colleague = client_as("counsellor", office=north, display_name="Clara Zuständig")
    other_office = client_as("counsellor", office=south)
    r = staff.post(
        f"/termine/{event.id}/protokoll/aufgaben",
        data={
            "action_subject": "Fallliste an das Jobcenter schicken",
            "action_assignee_id": str(colleague.user.id),
            "action_due": "2027-03-24",
        },
    )
    assert r.status_code == 302
    fu = db_session.scalar(sa.select(FollowUp).where(FollowUp.event_id == event.id))
    assert fu.subject == "Fallliste an das Jobcenter schicken"
    assert fu.assignee_id == colleague.user.id
    assert fu.created_by_id == staff.user.id
    assert fu.status == "open"

    assert b"Fallliste an das Jobcenter" in colleague.get(f"/termine/{event.id}").data
    assert b"Fallliste an das Jobcenter" in staff.get(f"/termine/{event.id}").data
    # Another office's counsellor sees the event, not someone else's follow-up.
    page = other_office.get(f"/termine/{event.id}")
    assert page.status_code == 200
    assert b"Fallliste an das Jobcenter" not in page.data
    assert other_office.get(f"/wiedervorlagen/{fu.id}").status_code in (403, 404)

    reader = client_as("readonly")
    r = reader.post(
        f"/termine/{event.id}/protokoll/aufgaben",
        data={
            "action_subject": "Darf nicht",
            "action_assignee_id": str(reader.user.id),
            "action_due": "2027-03-24",
        },
    )
    assert r.status_code == 403
    assert db_session.scalar(sa.select(FollowUp).where(FollowUp.subject == "Darf nicht")) is None


def test_an_agreed_action_without_a_date_is_refused_with_the_typed_subject_kept(
    client_as, db_session
):
    event = make_event(db_session, "coordination")
    staff = client_as("staff")
    r = staff.post(
        f"/termine/{event.id}/protokoll/aufgaben",
        data={
            "action_subject": "Termin mit der Arbeitsagentur abstimmen",
            "action_assignee_id": str(staff.user.id),
            "action_due": "",
        },
    )
    assert r.status_code == 400
    assert "Termin mit der Arbeitsagentur abstimmen" in r.get_data(as_text=True)
    assert db_session.scalar(sa.select(FollowUp).where(FollowUp.event_id == event.id)) is None


def test_fair_only_sections_appear_on_fairs_only(client_as, db_session):
    fair = make_event(db_session, "fair", "Jobmesse Magdeburg")
    meeting = make_event(db_session, "coordination")
    staff = client_as("staff")
    fair_page = staff.get(f"/termine/{fair.id}").get_data(as_text=True)
    assert 'id="slot-form"' in fair_page
    assert 'id="lead-new"' in fair_page
    assert 'value="booth"' in fair_page

    page = staff.get(f"/termine/{meeting.id}").get_data(as_text=True)
    assert 'id="standdienst"' not in page
    assert 'id="slot-form"' not in page
    assert 'id="leads"' not in page
    assert 'id="lead-new"' not in page
    assert 'value="booth"' not in page
    assert 'id="checkliste"' in page  # the checklist itself stays, without the booth category

    slot = {"user_id": str(staff.user.id), "day": "2027-03-10", "start_time": "10:00"}
    slot["end_time"] = "11:00"
    assert staff.post(f"/termine/{meeting.id}/standdienst", data=slot).status_code == 404
    assert staff.get(f"/termine/{meeting.id}/leads/neu").status_code == 404
    r = staff.post(
        f"/termine/{meeting.id}/checkliste", data={"category": "booth", "label": "Stand"}
    )
    assert r.status_code == 400
    r = staff.post(
        f"/termine/{meeting.id}/checkliste", data={"category": "materials", "label": "Agenda"}
    )
    assert r.status_code == 302
    assert staff.post(f"/termine/{fair.id}/standdienst", data=slot).status_code == 302


def test_the_event_list_offers_lead_capture_for_fairs_to_editors_only(client_as, db_session):
    fair = make_event(db_session, "fair", "Jobmesse Magdeburg")
    meeting = make_event(db_session, "coordination")
    lead_link = f'href="/termine/{fair.id}/leads/neu"'
    listing = client_as("staff").get("/termine/").get_data(as_text=True)
    assert "Jobmesse Magdeburg" in listing
    assert lead_link in listing
    assert f'href="/termine/{meeting.id}/leads/neu"' not in listing
    assert lead_link not in client_as("readonly").get("/termine/").get_data(as_text=True)


def test_existing_booth_duty_and_minutes_stay_visible_after_the_kind_changed(client_as, db_session):
    event = make_event(db_session, "coordination")
    staff = client_as("staff")
    staff.post(f"/termine/{event.id}/protokoll", data={"minutes_text": MINUTES})
    # Planned as a fair once, with a booth duty and a booth item, then changed to a meeting.
    db_session.add(
        StaffSlot(
            event_id=event.id,
            user_id=staff.user.id,
            starts_at=to_utc(datetime.combine(DAY, time(10))),
            ends_at=to_utc(datetime.combine(DAY, time(11))),
        )
    )
    db_session.add(ChecklistItem(event_id=event.id, category="booth", label="Stand aufgebaut"))
    db_session.commit()
    page = staff.get(f"/termine/{event.id}").get_data(as_text=True)
    assert 'id="standdienst"' in page
    assert 'id="slot-form"' not in page
    assert "Stand aufgebaut" in page

    db_session.execute(sa.update(Event).where(Event.id == event.id).values(kind="fair"))
    db_session.commit()
    page = staff.get(f"/termine/{event.id}").get_data(as_text=True)
    assert "Jobcenter meldet passende Fälle" in page


def test_changing_a_series_keeps_an_occurrence_that_has_minutes(app_ctx):
    session = app_ctx
    start = datetime(2027, 3, 3, 14, 0)
    s = service.create_series(
        session,
        service.EventData(
            kind="coordination",
            title="Abstimmung mit dem Jobcenter",
            start_local=start,
            end_local=datetime(2027, 3, 3, 15, 0),
        ),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        today=date(2027, 3, 1),
        horizon_days=60,
    )
    dates = list(
        session.scalars(sa.select(Event).where(Event.series_id == s.id).order_by(Event.starts_at))
    )
    third, fourth = dates[2], dates[3]
    # The agenda of the fourth meeting is prepared in its minutes before the rhythm changes.
    author = factories.make_user(session, role="staff")
    minutes.save_minutes(session, fourth, "Tagesordnung", user=author, now=utcnow(), base_version=0)
    session.commit()
    service.split_series(
        session,
        third,
        service.EventData(
            kind="coordination",
            title="Abstimmung mit dem Jobcenter",
            start_local=datetime(2027, 3, 31, 16, 0),
            end_local=datetime(2027, 3, 31, 17, 0),
        ),
        None,
        today=date(2027, 3, 1),
        horizon_days=60,
    )
    session.commit()
    assert session.get(Event, fourth.id) is not None
    assert minutes.minutes_of(session, session.get(Event, fourth.id)).text == "Tagesordnung"
