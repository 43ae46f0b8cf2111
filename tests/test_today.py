"""Start page "Mein Tag": per role what is due today, one-click actions, constant queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from flask import url_for

from crm.audit.models import AuditEntry
from crm.core import today
from crm.core.links import RecordLinks
from crm.events.models import Event, StaffSlot
from crm.followups import service as followups
from crm.followups.models import FollowUp
from crm.participants.models import SupportItem
from tests import factories

# frozen_time: Saturday 21.11.2026 09:00 Berlin (ISO week 47: 16.11. to 22.11.).
TODAY = date(2026, 11, 21)


def make_followup(session, assignee, subject, due_date, due_time=None):
    fu = followups.create_followup(
        session, subject=subject, due_date=due_date, due_time=due_time, assignee=assignee
    )
    session.commit()
    return fu


def make_event(session, title, starts_at, *, hours=2, status="planned"):
    event = Event(
        title=title,
        kind="fair",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        status=status,
    )
    session.add(event)
    session.flush()
    return event


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session, name="Magdeburg")


@pytest.fixture
def counsellor(client_as, office, frozen_time):
    return client_as("counsellor", office=office)


def test_a_counsellor_sees_own_overdue_and_todays_follow_ups_and_not_others(
    counsellor, db_session, frozen_time
):
    me = counsellor.user
    make_followup(db_session, me, "Rückruf Jobcenter", date(2026, 11, 19))
    make_followup(db_session, me, "Unterlagen prüfen", TODAY)
    make_followup(db_session, me, "Nächste Woche anrufen", date(2026, 11, 25))
    make_followup(db_session, factories.make_user(db_session), "Fremde Wiedervorlage", TODAY)
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    overdue = page.split('id="today-overdue"')[1].split("</ul>")[0]
    due = page.split('id="today-due"')[1].split("</ul>")[0]
    assert "Rückruf Jobcenter" in overdue
    assert "Unterlagen prüfen" in due
    assert "Nächste Woche anrufen" not in page
    assert "Fremde Wiedervorlage" not in page
    assert "Mein Tag" in page


def test_empty_sections_say_so_briefly(counsellor, frozen_time):
    page = counsellor.get("/").get_data(as_text=True)
    assert "Nichts überfällig." in page
    assert "Heute nichts fällig." in page
    assert "Heute keine Termine." in page
    assert "Niemand steht kurz vor dem Eintritt." in page


def test_done_from_the_start_page_returns_there_and_is_audited(counsellor, db_session, frozen_time):
    fu = make_followup(db_session, counsellor.user, "Rückruf Jobcenter", date(2026, 11, 19))
    response = counsellor.post(f"/wiedervorlagen/{fu.id}/erledigt", data={"zurueck": "start"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    db_session.expire_all()
    assert db_session.get(FollowUp, fu.id).status == "done"
    entry = db_session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "followup",
            AuditEntry.entity_id == fu.id,
            AuditEntry.action == "update",
        )
    ).one()
    assert entry.actor_id == counsellor.user.id
    assert "status" in entry.changes["fields"]
    page = counsellor.get("/").get_data(as_text=True)
    assert "Rückruf Jobcenter" not in page
    assert "erledigt" in page  # the flash message


def test_snooze_from_the_start_page_moves_the_follow_up_to_tomorrow(
    counsellor, db_session, frozen_time
):
    fu = make_followup(db_session, counsellor.user, "Rückruf Jobcenter", date(2026, 11, 19))
    response = counsellor.post(
        f"/wiedervorlagen/{fu.id}/zurueckstellen", data={"zurueck": "start", "period": "1d"}
    )
    assert response.headers["Location"] == "/"
    db_session.expire_all()
    moved = db_session.get(FollowUp, fu.id)
    assert followups.local_due(moved).date() == date(2026, 11, 22)
    assert db_session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.entity_type == "followup", AuditEntry.entity_id == fu.id)
        .where(AuditEntry.action == "update")
    )
    assert "Rückruf Jobcenter" not in counsellor.get("/").get_data(as_text=True)


def test_done_without_the_start_marker_still_returns_to_the_follow_up_list(
    counsellor, db_session, frozen_time
):
    fu = make_followup(db_session, counsellor.user, "Rückruf", TODAY)
    response = counsellor.post(f"/wiedervorlagen/{fu.id}/erledigt", data={"zurueck": "//evil"})
    assert response.headers["Location"] == "/wiedervorlagen/"


def test_someone_elses_follow_up_cannot_be_done_from_the_start_page(
    counsellor, db_session, frozen_time
):
    other = make_followup(db_session, factories.make_user(db_session), "Fremd", TODAY)
    response = counsellor.post(f"/wiedervorlagen/{other.id}/erledigt", data={"zurueck": "start"})
    assert response.status_code == 404
    db_session.expire_all()
    assert db_session.get(FollowUp, other.id).status == "open"


def test_todays_events_and_my_duties_show_with_links(counsellor, db_session, frozen_time):
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    fair = make_event(db_session, "Jobmesse Magdeburg", start)
    make_event(db_session, "Netzwerktreffen", datetime(2026, 11, 24, 13, 0, tzinfo=UTC))
    make_event(db_session, "Abgesagte Messe", start, status="cancelled")
    make_event(db_session, "Vergangene Messe", datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    db_session.add(
        StaffSlot(event=fair, user_id=counsellor.user.id, starts_at=start, ends_at=fair.ends_at)
    )
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    duties = page.split('id="today-duties"')[1].split("</ul>")[0]
    assert "Jobmesse Magdeburg" in duties
    assert f'href="/termine/{fair.id}"' in duties
    assert "Jobmesse Magdeburg" in page.split('id="today-events-today"')[1].split("</ul>")[0]
    assert "Netzwerktreffen" in page.split('id="today-events-soon"')[1].split("</ul>")[0]
    assert "Abgesagte Messe" not in page
    assert "Vergangene Messe" not in page


def test_a_busy_week_shows_the_next_events_and_links_to_the_calendar_for_the_rest(
    counsellor, db_session, frozen_time
):
    for n in range(12):
        make_event(db_session, f"Termin {n:02d}", datetime(2026, 11, 23, 8 + n % 9, n, tzinfo=UTC))
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    soon = page.split('id="today-events-soon"')[1].split("</ul>")[0]
    assert soon.count("<li") == today.EVENTS_SOON_SHOWN
    more = page.split('id="today-events-more"')[0].rsplit("<a", 1)[1]
    assert 'href="/termine/kalender?ansicht=liste"' in more


def test_a_quiet_week_lists_every_event_without_the_calendar_link(
    counsellor, db_session, frozen_time
):
    make_event(db_session, "Netzwerktreffen", datetime(2026, 11, 24, 13, 0, tzinfo=UTC))
    db_session.commit()
    assert 'id="today-events-more"' not in counsellor.get("/").get_data(as_text=True)


def test_my_own_events_beyond_the_week_show_the_next_three_with_links(
    counsellor, db_session, frozen_time
):
    other = factories.make_user(db_session, role="staff")
    mine = []
    for n, day in enumerate((14, 7, 21, 28)):
        event = make_event(db_session, f"Meine Messe {n}", datetime(2026, 12, day, 9, tzinfo=UTC))
        event.responsible_id = counsellor.user.id
        mine.append(event)
    foreign = make_event(db_session, "Fremde Messe", datetime(2026, 12, 3, 9, tzinfo=UTC))
    foreign.responsible_id = other.id
    dropped = make_event(
        db_session, "Abgesagte Messe", datetime(2026, 12, 2, 9, tzinfo=UTC), status="cancelled"
    )
    dropped.responsible_id = counsellor.user.id
    this_week = make_event(db_session, "Messe diese Woche", datetime(2026, 11, 25, 9, tzinfo=UTC))
    this_week.responsible_id = counsellor.user.id
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    later = page.split('id="today-my-later"')[1].split("</ul>")[0]
    # The next three in date order (7th, 14th, 21st December), each linked.
    assert later.count("<li") == 3
    assert (
        later.index("Meine Messe 1") < later.index("Meine Messe 0") < later.index("Meine Messe 2")
    )
    assert "Meine Messe 3" not in later
    assert f'href="/termine/{mine[0].id}"' in later
    for title in ("Fremde Messe", "Abgesagte Messe", "Messe diese Woche"):
        assert title not in later
    assert "Später: Veranstaltungen, für die ich verantwortlich bin" in page


def test_without_own_later_events_the_start_page_shows_no_such_heading(counsellor, frozen_time):
    assert 'id="today-my-later"' not in counsellor.get("/").get_data(as_text=True)


def test_a_counsellor_sees_own_participants_close_to_entry_and_with_open_items(
    counsellor, db_session, office, frozen_time
):
    me = counsellor.user
    near = factories.make_participant(
        db_session, counsellor=me, office=office, last_name="Fastdrin", sessions=((TODAY, 450),)
    )
    factories.make_participant(
        db_session, counsellor=me, office=office, last_name="Schondrin", sessions=((TODAY, 490),)
    )
    factories.make_participant(
        db_session, counsellor=me, office=office, last_name="Weitweg", sessions=((TODAY, 300),)
    )
    item = db_session.scalars(
        sa.select(SupportItem).where(SupportItem.participant_id == near.id)
    ).first()
    item.due_on = date(2026, 11, 25)
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    close = page.split('id="today-near-entry"')[1].split("</ul>")[0]
    assert "Fastdrin" in close
    assert "7:30" in close
    assert "Schondrin" not in close  # already entered (> 8 h)
    assert "Weitweg" not in close
    items = page.split('id="today-open-items"')[1].split("</ul>")[0]
    # The participant with a due item comes first.
    assert items.index("Fastdrin") < items.index("Weitweg")
    assert "25.11.2026" in items


def test_an_open_item_whose_next_due_date_has_passed_is_marked_overdue(
    counsellor, db_session, office, frozen_time
):
    """As on the open items page: a due date before today stands out on the start page."""
    me = counsellor.user
    late = factories.make_participant(db_session, counsellor=me, office=office, last_name="Spaet")
    soon = factories.make_participant(db_session, counsellor=me, office=office, last_name="Bald")
    for participant, due in ((late, date(2026, 11, 2)), (soon, date(2026, 11, 30))):
        item = db_session.scalars(
            sa.select(SupportItem).where(SupportItem.participant_id == participant.id)
        ).first()
        item.due_on = due
    db_session.commit()
    items = counsellor.get("/").get_data(as_text=True)
    items = items.split('id="today-open-items"')[1].split("</ul>")[0]
    rows = {row.split("</a>")[0].rsplit(">", 1)[1]: row for row in items.split("<li")[1:]}
    assert "überfällig" in rows["Testa Spaet"]
    assert "überfällig" not in rows["Testa Bald"]


def test_a_participant_of_another_office_never_appears(counsellor, db_session, frozen_time):
    # Even one that names this counsellor: the office decides what a counsellor may see.
    elsewhere = factories.make_office(db_session, name="Genthin")
    factories.make_participant(
        db_session,
        counsellor=counsellor.user,
        office=elsewhere,
        last_name="Anderswo",
        sessions=((TODAY, 450),),
    )
    db_session.commit()
    assert "Anderswo" not in counsellor.get("/").get_data(as_text=True)


def test_a_missed_data_entry_deadline_is_listed(counsellor, db_session, office, frozen_time):
    factories.make_participant(
        db_session,
        counsellor=counsellor.user,
        office=office,
        last_name="Ohneausgang",
        exit_on=date(2026, 10, 1),
    )
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    assert "Ohneausgang" in page.split('id="today-deadlines"')[1].split("</ul>")[0]


def test_staff_see_follow_ups_and_events_but_no_participant_sections(client_as, frozen_time):
    page = client_as("staff").get("/").get_data(as_text=True)
    assert 'id="today-followups"' in page
    assert 'id="today-events"' in page
    assert 'id="today-cases"' not in page
    assert 'id="today-week"' not in page


def _weekly_target(db_session, office, entries, exits):
    office.weekly_entries = entries
    office.weekly_exits = exits
    db_session.commit()


def test_lead_sees_that_one_entry_is_missing_this_week(client_as, db_session, office, frozen_time):
    lead = client_as("lead")
    _weekly_target(db_session, office, 2, 1)
    factories.make_participant(db_session, office=office, sessions=((TODAY, 500),))
    factories.make_participant(
        db_session, office=office, first_contact_on=date(2026, 1, 5), exit_on=date(2026, 11, 17)
    )
    db_session.commit()
    status = lead.get("/").get_data(as_text=True).split('id="today-week-status"')[1]
    status = status.split("</p>")[0]
    assert "noch 1 Eintritt fehlt" in status
    assert "Austritt" not in status


def test_on_a_sunday_the_lead_sees_the_entries_since_monday(
    client_as, db_session, office, frozen_time
):
    frozen_time.move_to(datetime(2026, 12, 6, 23, 30, tzinfo=followups.BERLIN))  # Sunday night
    lead = client_as("lead")
    _weekly_target(db_session, office, 1, 0)
    factories.make_participant(db_session, office=office, sessions=((date(2026, 11, 30), 500),))
    db_session.commit()
    page = lead.get("/").get_data(as_text=True).split('id="today-week"')[1]
    assert "Diese Woche (KW 49)" in page
    assert "Ziel dieser Woche erreicht" in page.split("</p>")[0]


def test_lead_sees_the_weekly_target_reached(client_as, db_session, office, frozen_time):
    lead = client_as("lead")
    _weekly_target(db_session, office, 1, 0)
    factories.make_participant(db_session, office=office, sessions=((TODAY, 500),))
    db_session.commit()
    status = lead.get("/").get_data(as_text=True).split('id="today-week-status"')[1]
    assert "Ziel dieser Woche erreicht" in status.split("</p>")[0]


def test_lead_sees_several_missing_exits_in_plural(client_as, db_session, office, frozen_time):
    lead = client_as("lead")
    _weekly_target(db_session, office, 0, 2)
    status = lead.get("/").get_data(as_text=True).split('id="today-week-status"')[1]
    assert "noch 2 Austritte fehlen" in status.split("</p>")[0]


def test_lead_sees_recently_changed_records_with_links(client_as, db_session, office, frozen_time):
    lead = client_as("lead")
    p = factories.make_participant(db_session, office=office, last_name="Neulich")
    db_session.commit()
    frozen_time.shift(60)
    org = factories.make_org(db_session, name="Stadtwerke Burg")
    db_session.commit()
    recent = lead.get("/").get_data(as_text=True).split('id="today-recent"')[1].split("</ul>")[0]
    assert f'href="/teilnehmende/{p.id}"' in recent
    assert "Neulich" in recent
    assert f'href="/kontakte/organisationen/{org.id}"' in recent
    assert recent.index("Stadtwerke Burg") < recent.index("Neulich")  # newest first


def test_a_counsellor_gets_no_recently_changed_list(counsellor, db_session, office, frozen_time):
    factories.make_org(db_session, name="Stadtwerke Burg")
    db_session.commit()
    assert 'id="today-recent"' not in counsellor.get("/").get_data(as_text=True)


def _fill(db_session, user, office, n):
    """n overdue and n due follow-ups, n events with a duty, n participants of each kind."""
    start = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    for i in range(n):
        followups.create_followup(
            db_session,
            subject=f"Alt {i}",
            due_date=date(2026, 11, 18),
            due_time=time(9, 0),
            assignee=user,
            person=factories.make_person(db_session),
        )
        followups.create_followup(
            db_session,
            subject=f"Heute {i}",
            due_date=TODAY,
            assignee=user,
            organisation=factories.make_org(db_session),
        )
        event = make_event(db_session, f"Termin {i}", start + timedelta(days=i % 5))
        later = make_event(db_session, f"Später {i}", start + timedelta(days=20 + i))
        later.responsible_id = user.id
        db_session.add(
            StaffSlot(
                event=event, user_id=user.id, starts_at=event.starts_at, ends_at=event.ends_at
            )
        )
        factories.make_participant(
            db_session, counsellor=user, office=office, sessions=((TODAY, 450),)
        )
        factories.make_participant(
            db_session, counsellor=user, office=office, exit_on=date(2026, 10, 1)
        )
    db_session.commit()


@pytest.mark.parametrize("role", ["counsellor", "lead"])
def test_the_start_page_needs_the_same_number_of_queries_for_n_and_3n_items(
    client_as, db_session, office, count_queries, frozen_time, role
):
    client = client_as(role, office=office)
    counts = []
    for n in (2, 6):
        _fill(db_session, client.user, office, n if not counts else n - 2)
        client.get("/")  # warm-up: the session's user and office are loaded the same way
        with count_queries() as statements:
            page = client.get("/")
        assert page.status_code == 200
        assert page.get_data(as_text=True).count('id="today-followup-') == 2 * n
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("scan", [50, 10, 3])
def test_open_items_list_the_ten_cases_with_the_most_urgent_due_date_whatever_is_read_ahead(
    counsellor, db_session, office, frozen_time, monkeypatch, scan
):
    # 50: every dated item fits in one read; 10: the read of open items stops at the 15th day,
    # so only earlier dates count (still 15 cases); 3: too few to settle ten cases, so the
    # whole caseload is grouped.
    monkeypatch.setattr("crm.core.today.OPEN_ITEM_SCAN", scan)
    me = counsellor.user
    colleague = factories.make_user(db_session, role="counsellor", office=office)
    expected = []
    # Two cases share a date: the name decides; an in-progress item counts as open.
    dues = [5, 3, 3, 9, 1, 12, 7, 2, 11, 4, 8, 6, 10, 13, 15, 14, 17, 16, 19, 18]
    for i, days in enumerate(dues):
        name = f"Fall{chr(ord('A') + i)}"
        p = factories.make_participant(db_session, counsellor=me, office=office, last_name=name)
        item = db_session.scalars(
            sa.select(SupportItem).where(SupportItem.participant_id == p.id)
        ).first()
        item.due_on = TODAY + timedelta(days=days)
        item.status = "in_progress" if i % 3 == 0 else "open"
        expected.append((days, f"Testa {name}"))
        # A colleague's case due earlier is read first and left out.
        other = factories.make_participant(db_session, counsellor=colleague, office=office)
        db_session.scalars(
            sa.select(SupportItem).where(SupportItem.participant_id == other.id)
        ).first().due_on = TODAY - timedelta(days=days)
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    items = page.split('id="today-open-items"')[1].split("</ul>")[0]
    shown = [line.split("</a>")[0] for line in items.split('">')[1:] if line.startswith("Testa")]
    # Sorted by name within a date: FallB (3) and FallC (3) are in name order.
    assert shown == [name for _days, name in sorted(expected)[:10]]
    assert "Teilnehmerin" not in items


def test_an_event_that_began_days_ago_and_runs_until_tomorrow_is_listed_for_today(
    counsellor, db_session, frozen_time
):
    began = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)
    make_event(db_session, "Ausstellung Anerkennung", began, hours=24 * 11)
    make_event(db_session, "Vorbei seit gestern", began, hours=24 * 9)
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    today_list = page.split('id="today-events-today"')[1].split("</ul>")[0]
    assert "Ausstellung Anerkennung" in today_list
    assert "Vorbei seit gestern" not in page


@pytest.mark.parametrize(
    ("endpoint", "argument"),
    [
        ("followups.detail", "fu_id"),
        ("followups.done", "fu_id"),
        ("followups.snooze", "fu_id"),
        ("contacts.person_detail", "person_id"),
        ("participants.detail", "participant_id"),
    ],
)
def test_the_start_pages_record_links_are_the_urls_url_for_builds(app, endpoint, argument):
    with app.test_request_context("/"):
        links = RecordLinks(endpoint, argument)
        for record_id in (1, 7, 42, 987654321, 2_000_000_000):
            assert links(record_id) == url_for(endpoint, **{argument: record_id})


def test_record_links_refuse_an_endpoint_without_the_id_in_its_path(app):
    with app.test_request_context("/"), pytest.raises(ValueError, match="path segment"):
        RecordLinks("contacts.index", "seite")


def test_the_lead_s_week_counts_open_the_list_of_this_week_s_entries(
    client_as, db_session, office, frozen_time
):
    lead = client_as("lead")
    _weekly_target(db_session, office, 2, 1)
    factories.make_participant(db_session, office=office, sessions=((TODAY, 500),))
    db_session.commit()
    page = lead.get("/").get_data(as_text=True).split('id="today-week"')[1]
    # Saturday 21.11.2026 is in week 47, Monday 16.11. to Sunday 22.11.
    link = "/teilnehmende/?kennzahl=eintritt&amp;von=2026-11-16&amp;bis=2026-11-22"
    assert f'id="today-week-entries"><a href="{link}">Eintritte: 1 von 2</a>' in page
    assert 'id="today-week-exits">Austritte: 0 von 1<' in page
    assert 'href="/teilnehmende/?status=near_entry"' in page
    listed = lead.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert 'id="participant-count">1 Teilnehmende' in listed
