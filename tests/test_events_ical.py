"""iCal: the per-user feed, revoked tokens, .ics download of a series."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from icalendar import Calendar

from crm.events import ical, service
from crm.events.models import Event
from crm.events.series import to_utc
from crm.followups import service as fu_service
from tests import factories


def test_the_feed_holds_exactly_my_open_follow_ups_and_my_duty_slots(client, db_session):
    session = db_session
    me = factories.make_user(session)
    other = factories.make_user(session)
    mine = fu_service.create_followup(
        session, subject="Meins", due_date=date(2030, 1, 7), assignee=me
    )
    fu_service.create_followup(session, subject="Fremd", due_date=date(2030, 1, 7), assignee=other)
    done = fu_service.create_followup(
        session, subject="Erledigt", due_date=date(2030, 1, 7), assignee=me
    )
    fu_service.mark_done(session, done, by=me, now=datetime.now(UTC))
    event = service.create_event(
        session,
        service.EventData(
            kind="fair",
            title="Messe",
            start_local=datetime(2030, 1, 8, 9),
            end_local=datetime(2030, 1, 8, 17),
        ),
    )
    slot, _ = service.add_slot(
        session, event, me, to_utc(datetime(2030, 1, 8, 9)), to_utc(datetime(2030, 1, 8, 12))
    )
    service.add_slot(
        session, event, other, to_utc(datetime(2030, 1, 8, 12)), to_utc(datetime(2030, 1, 8, 15))
    )
    token = ical.new_token(session, me.id, datetime.now(UTC))
    session.commit()

    response = client.get(f"/kalender/{token}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    cal = Calendar.from_ical(response.data)
    uids = sorted(str(v["uid"]) for v in cal.walk("VEVENT"))
    assert uids == sorted([f"followup-{mine.id}@localhost", f"slot-{slot.id}@localhost"])
    assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    for v in cal.walk("VEVENT"):
        assert "dtstamp" in v
    duty = next(v for v in cal.walk("VEVENT") if str(v["uid"]).startswith("slot-"))
    assert duty["dtstart"].dt.hour == 9
    assert str(duty["dtstart"].dt.tzinfo) == "Europe/Berlin"


def test_a_revoked_or_unknown_feed_token_gives_404(client, db_session):
    me = factories.make_user(db_session)
    token = ical.new_token(db_session, me.id, datetime.now(UTC))
    newer = ical.new_token(db_session, me.id, datetime.now(UTC))
    db_session.commit()
    assert client.get(f"/kalender/{token}.ics").status_code == 404
    assert client.get(f"/kalender/{newer}.ics").status_code == 200
    ical.revoke_tokens(db_session, me.id, datetime.now(UTC))
    db_session.commit()
    assert client.get(f"/kalender/{newer}.ics").status_code == 404
    assert client.get("/kalender/unbekannt.ics").status_code == 404


def test_deactivating_a_user_revokes_their_feed_at_once_and_reactivation_does_not_restore_it(
    client, admin_client, db_session
):
    me = factories.make_user(db_session)
    token = ical.new_token(db_session, me.id, datetime.now(UTC))
    db_session.commit()
    assert client.get(f"/kalender/{token}.ics").status_code == 200

    admin_client.post(f"/verwaltung/benutzer/{me.id}/aktiv")
    # Revoked in the deactivating transaction, not by the nightly clean-up.
    assert ical.active_token(db_session, me.id) is None
    admin_client.post(f"/verwaltung/benutzer/{me.id}/aktiv")
    db_session.refresh(me)
    assert me.is_active
    assert client.get(f"/kalender/{token}.ics").status_code == 404
    assert ical.active_token(db_session, me.id) is None


def test_the_account_page_creates_and_revokes_the_link(client_as, db_session):
    c = client_as("staff")
    response = c.post("/konto/kalender", data={"action": "new"})
    assert response.status_code == 200
    assert b"/kalender/" in response.data
    assert ical.active_token(db_session, c.user.id) is not None
    c.post("/konto/kalender", data={"action": "revoke"})
    assert ical.active_token(db_session, c.user.id) is None


def test_the_download_of_a_series_has_rrule_exdate_and_a_moved_override(client_as, db_session):
    c = client_as("staff")
    s = service.create_series(
        db_session,
        service.EventData(
            kind="presentation",
            title="Quartalspräsentation",
            start_local=datetime(2027, 1, 5, 10),
            end_local=datetime(2027, 1, 5, 12),
        ),
        "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1TU",
        today=date(2027, 1, 1),
        horizon_days=365,
    )
    events = sorted(
        (e for e in db_session.scalars(sa.select(Event)) if e.series_id == s.id),
        key=lambda e: e.starts_at,
    )
    service.cancel_event(db_session, events[1])
    service.update_event(
        db_session,
        events[2],
        service.EventData(
            kind="presentation",
            title="Quartalspräsentation",
            start_local=datetime(2027, 7, 7, 10),
            end_local=datetime(2027, 7, 7, 12),
        ),
    )
    db_session.commit()

    response = c.get(f"/termine/{events[0].id}.ics")
    assert response.status_code == 200
    cal = Calendar.from_ical(response.data)
    vevents = cal.walk("VEVENT")
    assert {str(v["uid"]) for v in vevents} == {f"series-{s.id}@localhost"}
    master = next(v for v in vevents if "rrule" in v)
    assert master["rrule"]["FREQ"] == ["MONTHLY"]
    assert master["dtstart"].dt == datetime(2027, 1, 5, 10, tzinfo=master["dtstart"].dt.tzinfo)
    exdates = [d.dt for d in master["exdate"].dts]
    assert [d.date() for d in exdates] == [date(2027, 4, 6)]
    assert exdates[0].time() == time(10)
    override = next(v for v in vevents if "recurrence-id" in v)
    assert override["recurrence-id"].dt.date() == date(2027, 7, 6)
    assert override["dtstart"].dt.date() == date(2027, 7, 7)
    assert cal.walk("VTIMEZONE")
