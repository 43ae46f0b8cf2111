"""Calendar round trip: what calendar clients expand from our iCal is what the app stores and lists.

`recurring-ical-events` expands RRULE, EXDATE and RECURRENCE-ID the way calendar clients do,
independently of the dateutil expansion the app stores its occurrences with. Over 18 months
from the demo's frozen today (21.11.2026) both DST changes of 2027 lie inside the window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import recurring_ical_events
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from icalendar import Calendar

from crm import demo
from crm.accounts.models import User
from crm.events import ical, service
from crm.events import series as rules
from crm.events.models import Event, EventSeries
from crm.events.series import BERLIN
from crm.followups import service as fu_service
from tests import factories

TODAY = date(2026, 11, 21)
WINDOW_START = datetime.combine(TODAY, time(0), tzinfo=BERLIN)
WINDOW_END = WINDOW_START + relativedelta(months=18)
SPRING = datetime(2027, 3, 28, 1, tzinfo=UTC)  # 02:00 CET becomes 03:00 CEST
AUTUMN = datetime(2027, 10, 31, 1, tzinfo=UTC)  # 03:00 CEST becomes 02:00 CET


def _expanded(body: bytes, since: datetime = WINDOW_START) -> set[tuple[Any, ...]]:
    """(summary, start, end) of every occurrence a calendar client shows in the window."""
    cal = Calendar.from_ical(body)
    out = set()
    for v in recurring_ical_events.of(cal).between(since, WINDOW_END):
        start, end = v["dtstart"].dt, v["dtend"].dt
        if isinstance(start, datetime):
            # recurring-ical-events adds the duration to the local start in wall-clock time
            # (Python's arithmetic within one zone); RFC 5545 3.8.5.3 makes it the exact
            # duration, which `end - start` within that zone gives back. It differs only for
            # an occurrence across the hour the clocks change.
            length = end - start if end.tzinfo is start.tzinfo else None
            start = start.astimezone(UTC)
            end = start + length if length is not None else end.astimezone(UTC)
        out.add((str(v["summary"]), start, end))
    return out


def _dates(session, s: EventSeries) -> list[Event]:
    return list(
        session.scalars(sa.select(Event).where(Event.series_id == s.id).order_by(Event.starts_at))
    )


def _listed(session, s: EventSeries) -> set[tuple[Any, ...]]:
    """The series' dates in the window as the event list shows them, without cancelled ones."""
    items, _total = service.upcoming(session, WINDOW_START, limit=10_000, offset=0)
    return {
        (e.title, e.starts_at, e.ends_at)
        for e in items
        if e.series_id == s.id and e.status != "cancelled" and e.starts_at < WINDOW_END
    }


def _cancel_and_move(session, s: EventSeries) -> tuple[Event, Event]:
    """Cancel the first date in summer time; move the last one before it by 12 days."""
    dates = _dates(session, s)
    cancelled = next(e for e in dates if e.starts_at > SPRING)
    moved = [e for e in dates if e.starts_at < cancelled.starts_at][-1]
    local = moved.starts_at.astimezone(BERLIN).replace(tzinfo=None)
    service.cancel_event(session, cancelled)
    service.update_event(
        session,
        moved,
        service.EventData(
            kind=moved.kind,
            title=moved.title + " (verlegt)",
            start_local=local + timedelta(days=12),
            end_local=local + timedelta(days=12) + (moved.ends_at - moved.starts_at),
        ),
    )
    return cancelled, moved


def _assert_round_trip(client, session, s: EventSeries) -> None:
    cancelled, moved = _cancel_and_move(session, s)
    session.commit()
    stored = {
        (e.title, e.starts_at, e.ends_at)
        for e in _dates(session, s)
        if e.status != "cancelled" and WINDOW_START <= e.starts_at < WINDOW_END
    }
    assert _listed(session, s) == stored
    # Both DST changes lie between stored dates, so both are crossed by the expansion.
    starts = sorted(start for _t, start, _e in stored)
    assert starts[0] < SPRING < AUTUMN < starts[-1]
    for occurrence in (_dates(session, s)[0], cancelled, moved):
        response = client.get(f"/termine/{occurrence.id}.ics")
        assert response.status_code == 200
        expanded = _expanded(response.data)
        assert expanded == stored, s.title
    assert not any(start == cancelled.starts_at for _t, start, _e in expanded)
    assert (moved.title, moved.starts_at, moved.ends_at) in expanded


@pytest.fixture
def demo_data(app, db_session, frozen_time):
    """The demo data on 21.11.2026, its series materialised over the whole window."""
    # The loader runs the import job and the mail sender, which read the app's settings.
    with app.app_context():
        demo.seed(db_session)
    # The daily job extends the series day by day; here at once to the end of the window.
    service.materialise_all(db_session, today=TODAY, horizon_days=(WINDOW_END.date() - TODAY).days)
    db_session.commit()
    return db_session


def test_every_demo_series_expands_in_a_calendar_client_as_the_app_stores_and_lists_it(
    demo_data, client_as
):
    session = demo_data
    c = client_as("staff")
    series = list(session.scalars(sa.select(EventSeries).order_by(EventSeries.id)))
    rules_seen = {s.rrule for s in series}
    assert rules_seen == {
        "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1TU",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
    }
    for s in series:
        _assert_round_trip(c, session, s)


@pytest.mark.parametrize(
    ("pattern", "custom", "start"),
    [
        ("biweekly", "", datetime(2026, 11, 25, 14)),
        ("quarterly_first_tuesday", "", datetime(2027, 1, 5, 10)),
        ("monthly", "", datetime(2026, 11, 30, 9, 30)),
        ("yearly", "", datetime(2026, 12, 1, 8)),
        # Through the hour that does not exist and the hour that happens twice.
        ("custom", "FREQ=WEEKLY;BYDAY=SU", datetime(2026, 11, 22, 2, 30)),
        ("custom", "FREQ=MONTHLY;BYDAY=-1SU;COUNT=16", datetime(2026, 11, 29, 2, 15)),
    ],
)
def test_every_pattern_of_the_form_expands_as_the_app_stores_it(
    client_as, db_session, frozen_time, pattern, custom, start
):
    c = client_as("staff")
    rule = rules.rule_for(pattern, start, custom)
    assert rule is not None
    s = service.create_series(
        db_session,
        service.EventData(
            kind="coordination",
            title=f"Serie {pattern}",
            start_local=start,
            end_local=start + timedelta(minutes=45),
        ),
        rule,
        today=TODAY,
        horizon_days=(WINDOW_END.date() - TODAY).days,
    )
    if pattern == "yearly":
        # Two dates in the window only: check the expansion without cancelling or moving.
        db_session.commit()
        stored = {(e.title, e.starts_at, e.ends_at) for e in _dates(db_session, s)}
        assert _expanded(c.get(f"/termine/{_dates(db_session, s)[0].id}.ics").data) == stored
        return
    _assert_round_trip(c, db_session, s)


def test_the_feed_expands_to_exactly_the_duty_and_follow_ups_the_app_lists(demo_data, client):
    session = demo_data
    counsellor = session.scalar(sa.select(User).where(User.email.like("beratung@%")))
    coordination = session.scalar(sa.select(EventSeries).where(EventSeries.kind == "coordination"))
    cancelled, _moved = _cancel_and_move(session, coordination)
    for e in _dates(session, coordination):
        service.add_slot(session, e, counsellor, e.starts_at, e.ends_at)
    for night in (date(2027, 3, 28), date(2027, 10, 31)):
        fu_service.create_followup(
            session, subject="Nachts", due_date=night, due_time=time(2, 30), assignee=counsellor
        )
    now = datetime.now(UTC)
    token = ical.new_token(session, counsellor.id, now)
    session.commit()

    response = client.get(f"/kalender/{token}.ics")
    assert response.status_code == 200
    # The feed reaches back FEED_PAST_DAYS (overdue follow-ups lie before today).
    since = WINDOW_START - timedelta(days=ical.FEED_PAST_DAYS)
    duty = service.on_duty(session, counsellor.id, since, WINDOW_END)
    groups = fu_service.grouped_followups(session, counsellor.id, now, limit=10_000)
    followups = [fu for g in groups for fu in g.items]
    expected = {(f"Standdienst: {s.event.title}", s.starts_at, s.ends_at) for s in duty}
    for fu in followups:
        if fu.has_time:
            expected.add(
                (f"Wiedervorlage: {fu.subject}", fu.due_at, fu.due_at + timedelta(minutes=30))
            )
        else:
            day = fu.due_at.astimezone(BERLIN).date()
            expected.add((f"Wiedervorlage: {fu.subject}", day, day + timedelta(days=1)))
    assert len(duty) > 30
    assert len(followups) >= 5
    assert all(s.event_id != cancelled.id for s in duty)
    assert _expanded(response.data, since) == expected


def test_the_empty_feed_still_validates(client, db_session):
    me = factories.make_user(db_session)
    token = ical.new_token(db_session, me.id, datetime.now(UTC))
    db_session.commit()
    cal = Calendar.from_ical(client.get(f"/kalender/{token}.ics").data)
    assert len(cal.subcomponents) >= 1
    assert _expanded(cal.to_ical()) == set()
