"""iCal against RFC 5545: the empty feed, the night the clocks go back, DTSTAMP, feed links."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import recurring_ical_events
import sqlalchemy as sa
from icalendar import Calendar

from crm.events import ical, service
from crm.events.models import Event
from crm.followups import service as fu_service
from tests import factories


def _feed(client, session, user) -> Calendar:
    token = ical.new_token(session, user.id, datetime.now(UTC))
    session.commit()
    response = client.get(f"/kalender/{token}.ics")
    assert response.status_code == 200
    return Calendar.from_ical(response.data)


def _dates_of(session, series) -> list[Event]:
    return list(
        session.scalars(
            sa.select(Event).where(Event.series_id == series.id).order_by(Event.starts_at)
        )
    )


def test_a_feed_without_events_is_a_calendar_with_at_least_one_component(client, db_session):
    me = factories.make_user(db_session)
    cal = _feed(client, db_session, me)
    # RFC 5545 3.6: icalbody = calprops 1*component; a VTIMEZONE is one.
    assert cal.subcomponents
    assert cal.walk("VEVENT") == []
    assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert recurring_ical_events.of(cal).between(datetime(2020, 1, 1), datetime(2040, 1, 1)) == []


def test_a_follow_up_at_half_past_two_on_the_night_the_clocks_go_back_ends_after_it_starts(
    client, db_session
):
    me = factories.make_user(db_session)
    # 31.10.2027: 03:00 summer time becomes 02:00 winter time, so 02:00–03:00 happens twice.
    fu = fu_service.create_followup(
        db_session,
        subject="Nachtschicht",
        due_date=date(2027, 10, 31),
        due_time=time(2, 30),
        assignee=me,
    )
    cal = _feed(client, db_session, me)
    (vevent,) = cal.walk("VEVENT")
    start, end = vevent["dtstart"].dt, vevent["dtend"].dt
    assert start == fu.due_at
    assert end - start == timedelta(minutes=30)
    (occurrence,) = recurring_ical_events.of(cal).between(date(2027, 10, 30), date(2027, 11, 1))
    assert occurrence["dtstart"].dt == fu.due_at
    assert occurrence["dtend"].dt == fu.due_at + timedelta(minutes=30)


def test_a_date_in_the_repeated_hour_keeps_its_moment_in_the_download(client_as, db_session):
    c = client_as("staff")
    # The second 02:15 (winter time) to 02:45 on 31.10.2027.
    event = service.create_event(
        db_session,
        service.EventData(
            kind="fair",
            title="Nachtwache",
            start_local=datetime(2027, 10, 31, 2, 15),
            end_local=datetime(2027, 10, 31, 2, 45),
        ),
    )
    event.starts_at = datetime(2027, 10, 31, 1, 15, tzinfo=UTC)
    event.ends_at = datetime(2027, 10, 31, 1, 45, tzinfo=UTC)
    db_session.commit()
    cal = Calendar.from_ical(c.get(f"/termine/{event.id}.ics").data)
    (vevent,) = cal.walk("VEVENT")
    assert vevent["dtstart"].dt == event.starts_at
    assert vevent["dtend"].dt == event.ends_at


def test_dtstamp_is_when_the_file_was_made_not_when_the_record_last_changed(
    client_as, db_session, frozen_time
):
    c = client_as("staff")
    fu_service.create_followup(
        db_session, subject="Rückruf", due_date=date(2026, 12, 1), assignee=c.user
    )
    event = service.create_event(
        db_session,
        service.EventData(
            kind="fair",
            title="Messe",
            start_local=datetime(2026, 12, 2, 9),
            end_local=datetime(2026, 12, 2, 16),
        ),
    )
    service.add_slot(
        db_session,
        event,
        c.user,
        datetime(2026, 12, 2, 8, tzinfo=UTC),
        datetime(2026, 12, 2, 11, tzinfo=UTC),
    )
    series = service.create_series(
        db_session,
        service.EventData(
            kind="coordination",
            title="Abstimmung",
            start_local=datetime(2026, 11, 25, 14),
            end_local=datetime(2026, 11, 25, 15),
        ),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        today=date(2026, 11, 21),
        horizon_days=60,
    )
    occurrence = next(
        e for e in _dates_of(db_session, series) if e.starts_at.date() == date(2026, 12, 9)
    )
    service.update_event(
        db_session,
        occurrence,
        service.EventData(
            kind="coordination",
            title="Abstimmung (verlegt)",
            start_local=datetime(2026, 12, 10, 14),
            end_local=datetime(2026, 12, 10, 15),
        ),
    )
    db_session.commit()

    # Within the login's idle timeout, after every record was written.
    frozen_time.shift(timedelta(minutes=7))
    made = datetime(2026, 11, 21, 8, 7, tzinfo=UTC)
    stamps = [v["dtstamp"].dt for v in _feed(c, db_session, c.user).walk("VEVENT")]
    for path in (f"/termine/{event.id}.ics", f"/termine/{occurrence.id}.ics"):
        stamps += [v["dtstamp"].dt for v in Calendar.from_ical(c.get(path).data).walk("VEVENT")]
    assert len(stamps) == 5
    assert set(stamps) == {made}


@pytest.mark.parametrize(
    ("environment", "expected"),
    [("development", "http://localhost:5001/"), ("production", "https://crm.example.org/")],
)
def test_calendar_links_use_the_host_in_development_and_crm_base_url_in_production(
    app, client_as, db_session, monkeypatch, environment, expected
):
    c = client_as("staff")
    fu_service.create_followup(
        db_session, subject="Rückruf", due_date=date(2026, 12, 1), assignee=c.user
    )
    db_session.commit()
    monkeypatch.setitem(app.config, "CRM_BASE_URL", "https://crm.example.org")
    monkeypatch.setitem(app.config, "CRM_ENV", environment)

    page = c.post(
        "/konto/kalender", data={"action": "new"}, base_url="http://localhost:5001"
    ).get_data(as_text=True)
    assert f'value="{expected}kalender/' in page
    token = page.split(f'value="{expected}kalender/', 1)[1].split(".ics", 1)[0]
    feed = c.get(f"/kalender/{token}.ics", base_url="http://localhost:5001")
    (vevent,) = Calendar.from_ical(feed.data).walk("VEVENT")
    assert str(vevent["url"]).startswith(f"{expected}wiedervorlagen/")


def test_a_series_that_starts_off_its_rule_is_exported_from_its_first_occurrence(
    client_as, db_session
):
    c = client_as("staff")
    # Starts on a Wednesday, repeats on Mondays: the app's first date is the next Monday.
    series = service.create_series(
        db_session,
        service.EventData(
            kind="coordination",
            title="Montagsrunde",
            start_local=datetime(2027, 2, 3, 9),
            end_local=datetime(2027, 2, 3, 10),
        ),
        "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        today=date(2027, 1, 1),
        horizon_days=60,
    )
    db_session.commit()
    dates = _dates_of(db_session, series)
    stored = [e.starts_at for e in dates]
    cal = Calendar.from_ical(c.get(f"/termine/{dates[0].id}.ics").data)
    expanded = recurring_ical_events.of(cal).between(date(2027, 1, 1), date(2027, 4, 1))
    assert sorted(v["dtstart"].dt.astimezone(UTC) for v in expanded) == stored
    assert len(stored) == 3


def test_a_series_through_the_night_the_clocks_go_forward_ends_every_date_after_it_starts(
    db_session,
):
    # 28.03.2027 02:30 does not exist; like calendar clients, the app reads it as 03:30.
    series = service.create_series(
        db_session,
        service.EventData(
            kind="coordination",
            title="Nachtrunde",
            start_local=datetime(2027, 3, 21, 2, 30),
            end_local=datetime(2027, 3, 21, 3, 15),
        ),
        "FREQ=WEEKLY;BYDAY=SU;COUNT=3",
        today=date(2027, 3, 1),
        horizon_days=60,
    )
    dates = _dates_of(db_session, series)
    assert [e.ends_at - e.starts_at for e in dates] == [timedelta(minutes=45)] * 3
    assert dates[1].starts_at == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_a_date_entered_in_the_hour_the_clocks_skip_is_refused_when_it_ends_before_it_starts(
    client_as, db_session
):
    c = client_as("staff")
    form = {
        "kind": "fair",
        "title": "Frühschicht",
        "start_date": "2027-03-28",
        "start_time": "02:45",
        "end_date": "2027-03-28",
        "end_time": "03:10",
        "responsible_id": str(c.user.id),
        "pattern": "none",
    }
    response = c.post("/termine/neu", data=form)
    assert response.status_code == 200
    assert b"invalid-feedback" in response.data
    assert db_session.scalar(sa.select(Event).where(Event.title == "Frühschicht")) is None
