"""Series: local time across daylight saving, 14-day rhythm, exceptions, splitting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import sqlalchemy as sa

from crm.events import series as rules
from crm.events import service
from crm.events.models import Event, EventSeries
from crm.events.series import BERLIN

QUARTERLY = "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1TU"


def data(start: datetime, minutes: int = 90, **kw) -> service.EventData:
    from datetime import timedelta

    return service.EventData(
        kind=kw.pop("kind", "presentation"),
        title=kw.pop("title", "Präsentation im Haus der Wirtschaft"),
        start_local=start,
        end_local=start + timedelta(minutes=minutes),
        **kw,
    )


def occurrences(session, s: EventSeries) -> list[Event]:
    return list(
        session.scalars(sa.select(Event).where(Event.series_id == s.id).order_by(Event.starts_at))
    )


def local(moment: datetime) -> datetime:
    return moment.astimezone(BERLIN)


def test_a_quarterly_ten_oclock_presentation_stays_at_ten_across_daylight_saving(app_ctx):
    session = app_ctx
    s = service.create_series(
        session,
        data(datetime(2027, 1, 5, 10, 0)),
        QUARTERLY,
        today=date(2027, 1, 1),
        horizon_days=365,
    )
    events = occurrences(session, s)
    assert [local(e.starts_at).date() for e in events] == [
        date(2027, 1, 5),
        date(2027, 4, 6),  # after the March change to summer time
        date(2027, 7, 6),
        date(2027, 10, 5),
    ]
    assert {local(e.starts_at).time() for e in events} == {time(10, 0)}
    # 10:00 is 09:00 UTC in winter and 08:00 UTC in summer.
    assert events[0].starts_at.hour == 9
    assert events[1].starts_at.hour == 8
    assert events[0].starts_at.tzinfo == UTC


def test_a_series_created_in_summer_keeps_ten_oclock_after_the_october_change(app_ctx):
    session = app_ctx
    s = service.create_series(
        session,
        data(datetime(2027, 10, 5, 10, 0)),
        QUARTERLY,
        today=date(2027, 9, 1),
        horizon_days=200,
    )
    events = occurrences(session, s)
    assert [local(e.starts_at).replace(tzinfo=None) for e in events] == [
        datetime(2027, 10, 5, 10, 0),
        datetime(2028, 1, 4, 10, 0),
    ]


def test_a_fourteen_day_coordination_meeting_falls_on_every_other_wednesday(app_ctx):
    session = app_ctx
    start = datetime(2027, 3, 3, 14, 0)  # a Wednesday
    rule = rules.rule_for("biweekly", start)
    assert rule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
    s = service.create_series(
        session,
        data(start, kind="coordination"),
        rule,
        today=date(2027, 3, 1),
        horizon_days=60,
    )
    days = [local(e.starts_at).date() for e in occurrences(session, s)]
    assert days == [
        date(2027, 3, 3),
        date(2027, 3, 17),
        date(2027, 3, 31),
        date(2027, 4, 14),
        date(2027, 4, 28),
    ]
    assert all(d.weekday() == 2 for d in days)


def test_regeneration_is_idempotent_and_fills_the_horizon_as_time_goes_on(app_ctx):
    session = app_ctx
    s = service.create_series(
        session,
        data(datetime(2027, 3, 3, 14, 0)),
        "FREQ=WEEKLY;INTERVAL=2",
        today=date(2027, 3, 1),
        horizon_days=30,
    )
    assert len(occurrences(session, s)) == 3
    assert service.materialise(session, s, today=date(2027, 3, 1), horizon_days=30) == 0
    assert len(occurrences(session, s)) == 3
    assert service.materialise_all(session, today=date(2027, 3, 15), horizon_days=30) >= 1
    assert len(occurrences(session, s)) == 4


def test_a_moved_and_a_cancelled_occurrence_survive_regeneration(app_ctx):
    session = app_ctx
    s = service.create_series(
        session,
        data(datetime(2027, 3, 3, 14, 0)),
        "FREQ=WEEKLY;INTERVAL=2",
        today=date(2027, 3, 1),
        horizon_days=60,
    )
    first, second, third = occurrences(session, s)[:3]
    service.update_event(
        session, second, data(datetime(2027, 3, 18, 9, 0), title="Abstimmung (verschoben)")
    )
    service.cancel_event(session, third)
    session.commit()
    service.materialise(session, s, today=date(2027, 3, 1), horizon_days=90)
    events = occurrences(session, s)
    moved = session.get(Event, second.id)
    assert local(moved.starts_at).replace(tzinfo=None) == datetime(2027, 3, 18, 9, 0)
    assert moved.title == "Abstimmung (verschoben)"
    assert session.get(Event, third.id).status == "cancelled"
    # No new occurrence was generated for the moved or cancelled slots.
    keys = [e.occurrence_key for e in events]
    assert len(keys) == len(set(keys))
    assert sum(1 for e in events if local(e.starts_at).date() == date(2027, 3, 17)) == 0


def test_this_and_all_following_ends_the_old_rule_and_starts_a_new_series(app_ctx):
    session = app_ctx
    s = service.create_series(
        session,
        data(datetime(2027, 3, 3, 14, 0)),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        today=date(2027, 3, 1),
        horizon_days=60,
    )
    old_id = s.id
    third = occurrences(session, s)[2]  # 31.03.
    new = service.split_series(
        session,
        third,
        data(datetime(2027, 3, 31, 16, 0)),
        None,
        today=date(2027, 3, 1),
        horizon_days=60,
    )
    old = session.get(EventSeries, old_id)
    assert "UNTIL=20270317T140000" in old.rrule
    assert [local(e.starts_at).date() for e in occurrences(session, old)] == [
        date(2027, 3, 3),
        date(2027, 3, 17),
    ]
    new_events = occurrences(session, new)
    assert local(new_events[0].starts_at).replace(tzinfo=None) == datetime(2027, 3, 31, 16, 0)
    assert {local(e.starts_at).time() for e in new_events} == {time(16, 0)}


def test_a_custom_rule_is_validated():
    start = datetime(2027, 1, 5, 10, 0)
    assert rules.rule_for("custom", start, "rrule:freq=monthly;bymonthday=15") == (
        "FREQ=MONTHLY;BYMONTHDAY=15"
    )
    for bad in ("", "FREQ=SECONDLY", "FREQ=MONTHLY;BYDAY=XX", "no rule"):
        with pytest.raises(rules.RuleError):
            rules.rule_for("custom", start, bad)


@pytest.mark.parametrize(
    ("pattern", "shown"),
    [
        ("biweekly", "Alle 14 Tage an diesem Wochentag"),
        ("quarterly_first_tuesday", "Vierteljährlich, erster Dienstag"),
    ],
)
def test_the_event_page_names_the_series_rhythm_in_german_not_as_an_rrule(
    client_as, db_session, pattern, shown
):
    client = client_as("staff")
    response = client.post(
        "/termine/neu",
        data={
            "kind": "coordination",
            "title": "Abstimmung Netzwerkpartner",
            "start_date": "2027-01-05",
            "start_time": "10:00",
            "end_date": "2027-01-05",
            "end_time": "11:30",
            "pattern": pattern,
            "responsible_id": "0",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert shown in page
    assert "FREQ=" not in page


def test_a_stored_rule_is_told_apart_by_the_pattern_it_came_from():
    start = datetime(2027, 1, 13, 10, 0)
    assert rules.pattern_of(rules.rule_for("biweekly", start) or "") == ("biweekly", None)
    ended = rules.with_until(QUARTERLY, datetime(2027, 10, 5, 10, 0))
    assert rules.pattern_of(ended) == ("quarterly_first_tuesday", date(2027, 10, 5))
    assert rules.pattern_of("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE") == ("custom", None)


def test_an_occurrence_links_to_the_last_held_and_the_next_meeting_of_its_series(
    client_as, db_session
):
    client = client_as("staff")
    s = service.create_series(
        db_session,
        data(datetime(2027, 1, 13, 14, 0), kind="coordination", title="Abstimmung Jobcenter"),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        today=date(2027, 1, 1),
        horizon_days=60,
    )
    first, cancelled, third, fourth = occurrences(db_session, s)[:4]
    service.cancel_event(db_session, cancelled)
    db_session.commit()

    page = client.get(f"/termine/{third.id}").get_data(as_text=True)
    # The cancelled meeting is skipped: its minutes and tasks would be empty.
    assert f'href="/termine/{first.id}" id="series-previous">Vorheriger Termin: 13.01.2027' in page
    assert f'href="/termine/{fourth.id}" id="series-next">Nächster Termin: 24.02.2027' in page

    opening = client.get(f"/termine/{first.id}").get_data(as_text=True)
    assert 'id="series-previous"' not in opening
    assert f'href="/termine/{third.id}" id="series-next"' in opening


def test_a_single_event_has_no_series_links(client_as, db_session):
    client = client_as("staff")
    event = service.create_event(db_session, data(datetime(2027, 1, 13, 14, 0)))
    db_session.commit()
    assert 'id="series-neighbours"' not in client.get(f"/termine/{event.id}").get_data(as_text=True)


def _selected_pattern(page: str) -> str:
    block = page.split('name="pattern"', 1)[1].split("</select>", 1)[0]
    return block.split("selected value=", 1)[1].split('"')[1]


def test_editing_an_occurrence_shows_its_rhythm_as_the_pattern_it_was_made_from(
    client_as, db_session
):
    client = client_as("staff")
    s = service.create_series(
        db_session,
        data(datetime(2027, 1, 13, 14, 0), kind="coordination", title="Abstimmung Jobcenter"),
        rules.rule_for("biweekly", datetime(2027, 1, 13, 14, 0)) or "",
        today=date(2027, 1, 1),
        horizon_days=60,
    )
    second = occurrences(db_session, s)[1]
    db_session.commit()
    page = client.get(f"/termine/{second.id}/bearbeiten").get_data(as_text=True)
    assert _selected_pattern(page) == "biweekly"
    custom = page.split('name="custom_rule"', 1)[1].split(">", 1)[0]
    assert 'value=""' in custom

    # "This and all following" with the pattern shown keeps the 14-day Wednesday rhythm.
    response = client.post(
        f"/termine/{second.id}/bearbeiten",
        data={
            "kind": "coordination",
            "title": "Abstimmung Jobcenter",
            "start_date": "2027-01-27",
            "start_time": "15:00",
            "end_date": "2027-01-27",
            "end_time": "16:30",
            "pattern": "biweekly",
            "responsible_id": "0",
            "scope": "following",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    new_series = db_session.scalars(sa.select(EventSeries).order_by(EventSeries.id.desc())).first()
    assert new_series.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"


def test_an_ended_series_is_edited_as_its_full_rule_so_its_end_is_kept(client_as, db_session):
    client = client_as("staff")
    ended = rules.with_until(QUARTERLY, datetime(2027, 10, 5, 10, 0))
    s = service.create_series(
        db_session,
        data(datetime(2027, 1, 5, 10, 0)),
        ended,
        today=date(2027, 1, 1),
        horizon_days=365,
    )
    first = occurrences(db_session, s)[0]
    db_session.commit()
    page = client.get(f"/termine/{first.id}/bearbeiten").get_data(as_text=True)
    assert _selected_pattern(page) == "custom"
    assert "UNTIL=" in page


def test_a_rhythm_changed_for_only_one_date_is_refused_with_the_input_kept(client_as, db_session):
    client = client_as("staff")
    start = datetime(2027, 1, 13, 14, 0)
    s = service.create_series(
        db_session,
        data(start, kind="coordination", title="Abstimmung Jobcenter"),
        rules.rule_for("biweekly", start) or "",
        today=date(2027, 1, 1),
        horizon_days=60,
    )
    second = occurrences(db_session, s)[1]
    db_session.commit()
    form = {
        "kind": "coordination",
        "title": "Abstimmung Jobcenter mit Agentur",
        "start_date": "2027-01-27",
        "start_time": "14:00",
        "end_date": "2027-01-27",
        "end_time": "15:30",
        "responsible_id": "0",
        "scope": "this",
    }
    refused = client.post(f"/termine/{second.id}/bearbeiten", data={**form, "pattern": "monthly"})
    assert refused.status_code == 200
    page = refused.get_data(as_text=True)
    assert "Eine geänderte Wiederholung gilt für diesen und alle folgenden Termine" in page
    assert 'value="Abstimmung Jobcenter mit Agentur"' in page
    db_session.refresh(second)
    assert second.title == "Abstimmung Jobcenter"
    assert s.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"

    # The rhythm as shown: only this date's title changes.
    saved = client.post(f"/termine/{second.id}/bearbeiten", data={**form, "pattern": "biweekly"})
    assert saved.status_code == 302
    db_session.refresh(second)
    assert second.title == "Abstimmung Jobcenter mit Agentur"
