"""The calendar (month, week, agenda), past events and search, the duplicate-date warning."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from crm.accounts.models import user_office
from crm.events import calendar as cal
from crm.events import service
from crm.events.models import Event
from crm.events.series import to_utc
from scripts import validate_html as vnu
from tests import factories
from tests.vnu_helpers import missing_validator

# frozen_time: Saturday 21.11.2026 09:00 Berlin.
TODAY = date(2026, 11, 21)
EVERYTHING = cal.CalendarFilter()


def event(session, title, day, *, kind="fair", hour=9, hours=2, responsible=None, status=None):
    e = service.create_event(
        session,
        service.EventData(
            kind=kind,
            title=title,
            start_local=datetime.combine(day, time(hour)),
            end_local=datetime.combine(day, time(hour)) + timedelta(hours=hours),
            place="Messe Magdeburg",
            responsible_id=responsible.id if responsible else None,
        ),
    )
    if status == "cancelled":
        service.cancel_event(session, e)
    return e


def duty(session, e, user, day, start=9, end=12):
    service.add_slot(
        session,
        e,
        user,
        to_utc(datetime.combine(day, time(start))),
        to_utc(datetime.combine(day, time(end))),
    )


def biweekly(session, title="Koordinierungstreffen", start=date(2026, 11, 4), horizon=30):
    return service.create_series(
        session,
        service.EventData(
            kind="coordination",
            title=title,
            start_local=datetime.combine(start, time(14)),
            end_local=datetime.combine(start, time(15)),
        ),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        today=TODAY,
        horizon_days=horizon,
    )


def titles(entries):
    return [(e.starts_at.date().isoformat(), e.title, e.duty_of) for e in entries]


# --- service ---------------------------------------------------------------------------------


def test_the_range_holds_events_touching_its_days_and_a_two_day_fair_on_both(app_ctx):
    s = app_ctx
    event(s, "Vorher", date(2026, 10, 31))
    event(s, "Messe", date(2026, 11, 30), hours=30)  # 30.11. 09:00 to 01.12. 15:00
    event(s, "Nachher", date(2026, 12, 2))
    found = cal.entries(s, date(2026, 11, 1), date(2026, 12, 1), EVERYTHING)
    assert [e.title for e in found] == ["Messe"]
    assert found[0].days == [date(2026, 11, 30), date(2026, 12, 1)]
    by_day = cal.by_day(found)
    assert set(by_day) == {date(2026, 11, 30), date(2026, 12, 1)}


def test_an_all_day_event_ends_on_its_last_day_not_the_midnight_after(app_ctx):
    s = app_ctx
    start, end, all_day = service.local_span(date(2026, 11, 10), None, date(2026, 11, 11), None)
    service.create_event(
        s, service.EventData("fair", "Zweitagesmesse", start, end, all_day=all_day)
    )
    found = cal.entries(s, date(2026, 11, 1), date(2026, 11, 30), EVERYTHING)
    assert found[0].days == [date(2026, 11, 10), date(2026, 11, 11)]


def test_a_14_day_series_appears_every_second_wednesday_even_beyond_its_materialised_dates(
    app_ctx,
):
    s = app_ctx
    series = biweekly(s, horizon=30)  # rows up to 21.12.2026
    found = cal.entries(s, date(2026, 11, 1), date(2027, 1, 31), EVERYTHING)
    days = [e.starts_at.date() for e in found]
    assert days == [date(2026, 11, 4) + timedelta(days=14 * i) for i in range(7)]
    virtual = [e for e in found if e.virtual]
    assert [e.starts_at.date() for e in virtual] == [
        date(2026, 12, 30),
        date(2027, 1, 13),
        date(2027, 1, 27),
    ]
    last_row = s.scalar(sa.select(sa.func.max(Event.id)).where(Event.series_id == series.id))
    assert {e.event_id for e in virtual} == {last_row}
    # The local time stays 14:00 across the change to winter time (UTC 13:00).
    assert {e.starts_at.hour for e in found} == {13}


def test_duties_are_entries_of_their_own_with_the_staff_members_name(app_ctx):
    s = app_ctx
    anna = factories.make_user(s, display_name="Anna Admin")
    bernd = factories.make_user(s, display_name="Bernd Berater")
    fair = event(s, "Jobmesse", date(2026, 11, 25), hours=8)
    duty(s, fair, anna, date(2026, 11, 25), 9, 12)
    duty(s, fair, bernd, date(2026, 11, 25), 12, 16)
    found = cal.entries(s, date(2026, 11, 23), date(2026, 11, 29), EVERYTHING)
    assert [(e.title, e.duty_of) for e in found] == [
        ("Jobmesse", None),
        ("Jobmesse", "Anna Admin"),
        ("Jobmesse", "Bernd Berater"),
    ]
    assert all(e.event_id == fair.id for e in found)


def test_the_person_filter_keeps_their_events_and_only_their_own_duties(app_ctx):
    s = app_ctx
    anna = factories.make_user(s, display_name="Anna Admin")
    bernd = factories.make_user(s, display_name="Bernd Berater")
    day = date(2026, 11, 25)
    fair = event(s, "Jobmesse", day, hours=8)
    duty(s, fair, anna, day, 9, 12)
    duty(s, fair, bernd, day, 12, 16)
    event(s, "Annas Workshop", day, kind="workshop", hour=17, responsible=anna)
    event(s, "Bernds Workshop", day, kind="workshop", hour=17, responsible=bernd)
    found = cal.entries(s, day, day, cal.CalendarFilter(person_id=anna.id))
    assert [(e.title, e.duty_of) for e in found] == [
        ("Jobmesse", None),
        ("Jobmesse", "Anna Admin"),
        ("Annas Workshop", None),
    ]


def test_the_office_filter_keeps_events_of_people_working_there_including_further_offices(
    app_ctx,
):
    s = app_ctx
    burg = factories.make_office(s, "Burg")
    genthin = factories.make_office(s, "Genthin")
    bernd = factories.make_user(s, office=burg)
    gerda = factories.make_user(s, office=genthin)
    outreach = factories.make_user(s, office=burg)
    s.execute(sa.insert(user_office).values(user_id=outreach.id, office_id=genthin.id))
    day = date(2026, 11, 25)
    event(s, "Burger Termin", day, responsible=bernd)
    event(s, "Genthiner Termin", day, responsible=gerda)
    fair = event(s, "Messe ohne Verantwortliche", day, hours=8)
    duty(s, fair, outreach, day)
    found = cal.entries(s, day, day, cal.CalendarFilter(office_id=genthin.id))
    assert [(e.title, e.duty_of is not None) for e in found] == [
        ("Genthiner Termin", False),
        ("Messe ohne Verantwortliche", False),
        ("Messe ohne Verantwortliche", True),
    ]


def test_the_kind_filter_applies_to_events_duties_and_series(app_ctx):
    s = app_ctx
    me = factories.make_user(s)
    day = date(2026, 11, 18)
    fair = event(s, "Jobmesse", day)
    duty(s, fair, me, day)
    event(s, "Workshop", day, kind="workshop")
    biweekly(s, start=day, horizon=0)
    fairs = cal.entries(s, day, date(2027, 1, 31), cal.CalendarFilter(kind="fair"))
    assert {e.title for e in fairs} == {"Jobmesse"}
    assert len(fairs) == 2
    meetings = cal.entries(s, day, date(2027, 1, 31), cal.CalendarFilter(kind="coordination"))
    assert {e.title for e in meetings} == {"Koordinierungstreffen"}
    assert len(meetings) == 6


def test_cancelled_events_stay_in_the_calendar_marked_as_cancelled(app_ctx):
    s = app_ctx
    event(s, "Abgesagte Messe", date(2026, 11, 25), status="cancelled")
    (found,) = cal.entries(s, date(2026, 11, 25), date(2026, 11, 25), EVERYTHING)
    assert found.cancelled


def test_the_calendar_needs_the_same_number_of_queries_for_one_or_many_entries(
    app_ctx, count_queries
):
    s = app_ctx

    def measure():
        with count_queries() as statements:
            cal.entries(s, date(2026, 11, 1), date(2027, 2, 28), cal.CalendarFilter(kind=""))
        return len(statements)

    people = [factories.make_user(s) for _ in range(3)]
    fair = event(s, "Messe 0", date(2026, 11, 10), responsible=people[0])
    duty(s, fair, people[0], date(2026, 11, 10))
    biweekly(s, "Reihe 0", horizon=10)
    few = measure()
    for i in range(1, 8):
        day = date(2026, 11, 10 + i)
        fair = event(s, f"Messe {i}", day, responsible=people[i % 3])
        for p in people:
            duty(s, fair, p, day)
        biweekly(s, f"Reihe {i}", horizon=10)
    s.expire_all()
    assert measure() == few <= 4


def test_month_weeks_start_on_monday_and_cover_the_whole_month():
    weeks = cal.month_weeks(2026, 11)
    assert weeks[0][0] == date(2026, 10, 26)
    assert weeks[-1][-1] == date(2026, 12, 6)
    assert all(week[0].weekday() == 0 for week in weeks)
    assert len(cal.month_weeks(2026, 12)) == 5


def test_on_a_sunday_the_week_view_shows_the_week_that_ends_that_day():
    week = cal.period("woche", None, None, date(2026, 12, 6))  # Sunday
    assert (week.first, week.last) == (date(2026, 11, 30), date(2026, 12, 6))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "abc", "", "2026", "0-1", "99999-01"])
def test_a_month_that_cannot_be_shown_is_none(text):
    assert cal.parse_month(text) is None


def test_a_period_pages_by_month_week_or_30_days_and_falls_back_to_today_when_unusable():
    month = cal.period("monat", "2026-12", None, TODAY)
    assert (month.first, month.last, month.valid) == (date(2026, 11, 30), date(2027, 1, 3), True)
    assert (month.prev, month.next) == ({"monat": "2026-11"}, {"monat": "2027-01"})
    week = cal.period("woche", None, "2026-11-26", TODAY)
    assert (week.first, week.last) == (date(2026, 11, 23), date(2026, 11, 29))
    assert week.next == {"datum": "2026-11-30"}
    agenda = cal.period("liste", None, None, TODAY)
    assert (agenda.first, agenda.last) == (TODAY, date(2026, 12, 20))
    broken = cal.period("monat", "2026-13", None, TODAY)
    assert (broken.anchor, broken.valid) == (date(2026, 11, 1), False)
    assert cal.period("monat", "1900-01", None, TODAY).prev is None
    assert cal.period("unbekannt", None, None, TODAY).view == "monat"


# --- pages ------------------------------------------------------------------------------------


@pytest.fixture
def demo_week(db_session, frozen_time):
    counsellor = factories.make_user(db_session, role="counsellor", display_name="Bea Beratung")
    fair = event(db_session, "Jobmesse Magdeburg", date(2026, 11, 25), hours=7)
    duty(db_session, fair, counsellor, date(2026, 11, 25))
    biweekly(db_session)
    db_session.commit()
    return fair, counsellor


@pytest.mark.parametrize("role", ["admin", "lead", "counsellor", "staff", "readonly"])
def test_every_role_that_sees_events_sees_the_calendar(client_as, demo_week, role):
    client = client_as(role)
    page = client.get("/termine/kalender").get_data(as_text=True)
    assert "November 2026" in page
    assert "Jobmesse Magdeburg" in page
    assert "Koordinierungstreffen" in page
    assert 'aria-current="date"' in page
    assert "Heute" in page


def test_the_calendar_page_needs_as_many_queries_for_a_busy_month_as_for_a_quiet_one(
    frozen_time, db_session, admin_client, count_queries
):
    def measure():
        with count_queries() as statements:
            assert admin_client.get("/termine/kalender").status_code == 200
        return len(statements)

    people = [factories.make_user(db_session) for _ in range(3)]
    # One of each kind of entry first: a series beyond its rows costs one query more.
    duty(db_session, event(db_session, "Messe", date(2026, 11, 2)), people[0], date(2026, 11, 2))
    biweekly(db_session, "Reihe", horizon=0)
    db_session.commit()
    quiet = measure()
    for i in range(10):
        fair = event(db_session, f"Messe {i}", date(2026, 11, 2 + i), responsible=people[i % 3])
        for p in people:
            duty(db_session, fair, p, date(2026, 11, 2 + i))
        biweekly(db_session, f"Reihe {i}", horizon=0)
    db_session.commit()
    assert measure() == quiet


def test_the_calendar_asks_an_anonymous_visitor_to_log_in(client):
    response = client.get("/termine/kalender")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]


def test_the_month_grid_starts_on_monday_with_german_names(demo_week, admin_client):
    page = admin_client.get("/termine/kalender?monat=2026-12").get_data(as_text=True)
    assert "Dezember 2026" in page
    head = page.split("<thead>")[1].split("</thead>")[0]
    assert head.index("Montag") < head.index("Sonntag")
    assert "Koordinierungstreffen" in page  # 02.12. and 16.12. and 30.12.
    assert 'aria-current="date"' not in page


def test_the_week_and_agenda_views_list_the_duty_with_the_name(demo_week, admin_client):
    fair, counsellor = demo_week
    for view in ("woche", "liste"):
        page = admin_client.get(f"/termine/kalender?ansicht={view}&datum=2026-11-23").get_data(
            as_text=True
        )
        assert "Bea Beratung" in page, view
        assert f'href="/termine/{fair.id}"' in page
        assert "Mittwoch, 25.11.2026" in page


def test_my_duties_shows_only_the_logged_in_users_duties(client_as, demo_week, db_session):
    fair, counsellor = demo_week
    client = client_as("staff")
    duty(db_session, fair, client.user, date(2026, 11, 25), 13, 16)
    db_session.commit()
    page = client.get(
        f"/termine/kalender?ansicht=liste&datum=2026-11-23&person={client.user.id}"
    ).get_data(as_text=True)
    agenda = page.split('id="calendar-agenda"')[1]
    assert client.user.display_name in agenda
    assert "Bea Beratung" not in agenda
    assert "Koordinierungstreffen" not in agenda


@pytest.mark.parametrize(
    "query",
    [
        "monat=2026-13",
        "monat=0000-01",
        "monat=1899-12",
        "monat=2201-01",
        "ansicht=woche&datum=2026-02-30",
        "ansicht=liste&datum=9999-12-31",
        "ansicht=kaputt",
        "geschaeftsstelle=99999999999999999999",
        "person=abc",
        "art=x%27",
        "monat=%C3%A4",
    ],
)
def test_bad_calendar_parameters_never_fail_and_say_what_was_ignored(
    demo_week, admin_client, query
):
    response = admin_client.get(f"/termine/kalender?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    if "kaputt" not in query:
        assert 'class="alert alert-warning"' in page


@pytest.mark.parametrize("query", ["monat=%00", "art=%00", "q=%00"])
def test_a_nul_character_in_the_calendar_query_is_refused_not_a_server_error(admin_client, query):
    for path in ("/termine/kalender", "/termine/"):
        assert admin_client.get(f"{path}?{query}").status_code == 400


def test_the_calendar_is_in_the_main_navigation_and_on_the_events_page(admin_client):
    start = admin_client.get("/").get_data(as_text=True)
    assert 'href="/termine/kalender"' in start
    events = admin_client.get("/termine/").get_data(as_text=True)
    assert 'href="/termine/kalender"' in events


# --- past events and search --------------------------------------------------------------


def test_past_events_are_listed_latest_first_and_searchable_by_title_or_place(
    frozen_time, db_session, admin_client
):
    event(db_session, "Ausbildungsmesse Burg", date(2026, 10, 1))
    event(db_session, "Workshop Bewerbung", date(2026, 11, 2), kind="workshop")
    event(db_session, "Jobmesse Magdeburg", date(2026, 12, 1))
    db_session.commit()
    upcoming = admin_client.get("/termine/").get_data(as_text=True)
    assert "Jobmesse Magdeburg" in upcoming
    assert "Ausbildungsmesse Burg" not in upcoming
    past = admin_client.get("/termine/?zeitraum=vergangen").get_data(as_text=True)
    assert past.index("Workshop Bewerbung") < past.index("Ausbildungsmesse Burg")
    assert "Jobmesse Magdeburg" not in past
    found = admin_client.get("/termine/?zeitraum=vergangen&q=AUSBILDUNG").get_data(as_text=True)
    assert "Ausbildungsmesse Burg" in found
    assert "Workshop Bewerbung" not in found
    by_place = admin_client.get("/termine/?zeitraum=vergangen&q=messe+magdeburg").get_data(
        as_text=True
    )
    assert "Workshop Bewerbung" in by_place  # every event here is at Messe Magdeburg
    nothing = admin_client.get("/termine/?q=100%25_").get_data(as_text=True)
    assert "Keine Termine passen zu dieser Suche." in nothing


def test_the_past_events_list_is_paginated(frozen_time, db_session, admin_client):
    for i in range(55):
        event(db_session, f"Alter Termin {i:02d}", date(2026, 1, 1) + timedelta(days=i))
    db_session.commit()
    first = admin_client.get("/termine/?zeitraum=vergangen").get_data(as_text=True)
    assert "Alter Termin 54" in first
    assert "Alter Termin 00" not in first
    assert "zeitraum=vergangen&amp;seite=2" in first or "seite=2&amp;zeitraum=vergangen" in first
    second = admin_client.get("/termine/?zeitraum=vergangen&seite=2").get_data(as_text=True)
    assert "Alter Termin 00" in second


# --- duplicate warning -------------------------------------------------------------------


def _form(title, day="2026-12-01", **extra):
    data = {
        "kind": "fair",
        "title": title,
        "start_date": day,
        "start_time": "09:00",
        "end_date": day,
        "end_time": "16:00",
        "place": "Messehalle 2",
        "pattern": "none",
        "responsible_id": "0",
    }
    data.update(extra)
    return data


def test_saving_the_same_title_on_the_same_day_warns_and_saves_only_when_confirmed(
    frozen_time, db_session, admin_client
):
    existing = event(db_session, "Jobmesse Magdeburg", date(2026, 12, 1), hour=10)
    db_session.commit()
    before = db_session.scalar(sa.select(sa.func.count()).select_from(Event))
    response = admin_client.post("/termine/neu", data=_form("  jobmesse MAGDEBURG "))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Am selben Tag gibt es schon einen Termin mit diesem Titel" in page
    assert f'href="/termine/{existing.id}"' in page
    assert "Trotzdem speichern" in page
    assert 'value="Messehalle 2"' in page  # nothing typed is lost
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Event)) == before
    response = admin_client.post("/termine/neu", data=_form("  jobmesse MAGDEBURG ", trotzdem="1"))
    assert response.status_code == 302
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Event)) == before + 1


def test_no_warning_for_another_day_or_a_cancelled_twin(frozen_time, db_session, admin_client):
    event(db_session, "Jobmesse Magdeburg", date(2026, 12, 2))
    event(db_session, "Jobmesse Magdeburg", date(2026, 12, 1), status="cancelled")
    db_session.commit()
    response = admin_client.post("/termine/neu", data=_form("Jobmesse Magdeburg"))
    assert response.status_code == 302


def test_editing_other_fields_of_an_event_with_a_twin_does_not_ask_again(
    frozen_time, db_session, admin_client
):
    event(db_session, "Jobmesse Magdeburg", date(2026, 12, 1))
    mine = event(db_session, "Jobmesse Magdeburg", date(2026, 12, 1))
    other = event(db_session, "Ausbildungsmesse", date(2026, 12, 1))
    db_session.commit()
    response = admin_client.post(
        f"/termine/{mine.id}/bearbeiten", data=_form("Jobmesse Magdeburg", place="Halle 3")
    )
    assert response.status_code == 302
    renamed = admin_client.post(f"/termine/{other.id}/bearbeiten", data=_form("Jobmesse Magdeburg"))
    assert renamed.status_code == 200
    assert "Trotzdem speichern" in renamed.get_data(as_text=True)


# --- markup ------------------------------------------------------------------------------------


def test_every_calendar_view_the_past_list_and_the_duplicate_warning_are_valid_html(
    frozen_time, demo_week, db_session, admin_client
):
    missing = missing_validator()
    if missing:
        pytest.skip(missing)
    event(db_session, "Ausbildungsmesse Burg", date(2026, 10, 1), status="cancelled")
    db_session.commit()
    urls = [
        "/termine/kalender",
        "/termine/kalender?ansicht=woche&datum=2026-11-25",
        "/termine/kalender?ansicht=liste&art=fair",
        "/termine/kalender?ansicht=liste&datum=2027-06-01",
        "/termine/kalender?monat=2026-13&person=x",
        "/termine/?zeitraum=vergangen&q=messe",
    ]
    pages = {url: admin_client.get(url).get_data(as_text=True) for url in urls}
    pages["duplicate warning"] = admin_client.post(
        "/termine/neu", data=_form("Jobmesse Magdeburg", day="2026-11-25")
    ).get_data(as_text=True)
    assert "Trotzdem speichern" in pages["duplicate warning"]
    messages = vnu.validate(pages)
    errors = [str(m) for m in messages if m.kind == "error"]
    assert errors == []
