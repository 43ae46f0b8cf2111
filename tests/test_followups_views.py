"""Follow-up pages: my grouped list, create (also from a contact), actions, permissions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from crm.contacts.models import Activity
from crm.contacts.service import save_organisation, save_person
from crm.followups import service
from crm.followups.models import FollowUp
from tests import factories


def make_followup(session, assignee, **kwargs):
    fu = service.create_followup(
        session,
        subject=kwargs.pop("subject", "Rückruf Ausbildungsbetrieb"),
        due_date=kwargs.pop("due_date", date(2026, 11, 23)),
        due_time=kwargs.pop("due_time", time(9, 0)),
        assignee=assignee,
        **kwargs,
    )
    session.commit()
    return fu


def test_my_list_groups_follow_ups_with_counts(client_as, db_session, frozen_time):
    client = client_as("counsellor")
    me = client.user
    make_followup(db_session, me, subject="Gestern fällig", due_date=date(2026, 11, 20))
    make_followup(
        db_session, me, subject="Heute fällig", due_date=date(2026, 11, 21), due_time=None
    )
    make_followup(db_session, me, subject="Nächste Woche", due_date=date(2026, 11, 30))
    make_followup(db_session, factories.make_user(db_session), subject="Fremde Aufgabe")
    db_session.commit()
    page = client.get("/wiedervorlagen/").get_data(as_text=True)
    assert "Gestern fällig" in page
    assert "Heute fällig" in page
    assert "Nächste Woche" in page
    assert "Fremde Aufgabe" not in page
    assert 'id="count-overdue">1<' in page
    assert 'id="count-today">1<' in page
    # "This week" is Monday to Sunday: yesterday's and today's follow-ups are in it too.
    assert 'id="count-week">2<' in page
    assert 'id="count-later">1<' in page
    only = client.get("/wiedervorlagen/?gruppe=later").get_data(as_text=True)
    assert "Nächste Woche" in only
    assert "Gestern fällig" not in only


def test_create_form_prefilled_from_a_person_links_the_follow_up(client_as, db_session):
    client = client_as("staff")
    person = save_person(db_session, {"first_name": "Olena", "last_name": "Koval"})
    org = save_organisation(db_session, {"name": "Stadtwerke Burg"})
    db_session.commit()
    page = client.get(f"/wiedervorlagen/neu?person_id={person.id}&organisation_id={org.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Olena Koval" in html
    assert "Stadtwerke Burg" in html
    response = client.post(
        "/wiedervorlagen/neu",
        data={
            "subject": "Unterlagen anfordern",
            "due_date": "2026-12-01",
            "due_time": "",
            "assignee_id": str(client.user.id),
            "priority": "high",
            "note": "",
            "person_id": str(person.id),
            "organisation_id": str(org.id),
        },
    )
    assert response.status_code == 302
    fu = db_session.scalars(
        sa.select(FollowUp).where(FollowUp.subject == "Unterlagen anfordern")
    ).one()
    assert (fu.person_id, fu.organisation_id, fu.priority) == (person.id, org.id, "high")
    assert fu.has_time is False
    assert fu.due_at == service.due_moment(date(2026, 12, 1), None)
    assert fu.created_by_id == client.user.id


def test_create_refuses_a_read_only_user_as_assignee(client_as, db_session):
    client = client_as("counsellor")
    reader = factories.make_user(db_session, role="readonly")
    db_session.commit()
    response = client.post(
        "/wiedervorlagen/neu",
        data={
            "subject": "X",
            "due_date": "2026-12-01",
            "assignee_id": str(reader.id),
            "priority": "normal",
        },
    )
    assert response.status_code == 200
    assert db_session.scalar(sa.select(sa.func.count()).where(FollowUp.subject == "X")) == 0


def test_read_only_users_see_their_list_but_cannot_create_or_change(client_as, db_session):
    client = client_as("readonly")
    fu = make_followup(db_session, client.user)
    assert client.get("/wiedervorlagen/").status_code == 200
    assert client.get(f"/wiedervorlagen/{fu.id}").status_code == 200
    assert client.get("/wiedervorlagen/neu").status_code == 403
    assert (
        client.post(f"/wiedervorlagen/{fu.id}/erledigt", data={"outcome": "x"}).status_code == 403
    )
    assert client.post(f"/wiedervorlagen/{fu.id}/abbrechen").status_code == 403


def test_a_counsellor_cannot_open_or_change_someone_elses_follow_up(client_as, db_session):
    client = client_as("counsellor")
    other = factories.make_user(db_session)
    fu = make_followup(db_session, other, subject="Geheim")
    assert client.get(f"/wiedervorlagen/{fu.id}").status_code == 404
    assert client.post(f"/wiedervorlagen/{fu.id}/abbrechen").status_code == 404
    # The assignee filter is for leads and admins only: a counsellor still sees their own list.
    assert "Geheim" not in client.get(f"/wiedervorlagen/?bearbeitung={other.id}").get_data(
        as_text=True
    )


def test_a_lead_filters_the_list_by_assignee(client_as, db_session, frozen_time):
    client = client_as("lead")
    other = factories.make_user(db_session, display_name="Karl Beispiel")
    make_followup(db_session, other, subject="Messe vorbereiten")
    page = client.get(f"/wiedervorlagen/?bearbeitung={other.id}").get_data(as_text=True)
    assert "Messe vorbereiten" in page
    assert "Karl Beispiel" in page


def test_done_with_outcome_closes_and_logs_an_activity(client_as, db_session):
    client = client_as("counsellor")
    person = save_person(db_session, {"first_name": "Ali", "last_name": "Demir"})
    fu = make_followup(db_session, client.user, person=person)
    response = client.post(
        f"/wiedervorlagen/{fu.id}/erledigt", data={"outcome": "Termin vereinbart"}
    )
    assert response.status_code == 302
    db_session.refresh(fu)
    assert (fu.status, fu.outcome) == ("done", "Termin vereinbart")
    activity = db_session.scalars(sa.select(Activity).where(Activity.person_id == person.id)).one()
    assert activity.subject == "Wiedervorlage erledigt: Rückruf Ausbildungsbetrieb"
    # A second click finds it closed and changes nothing.
    again = client.post(f"/wiedervorlagen/{fu.id}/erledigt", data={"outcome": "noch mal"})
    assert again.status_code == 302
    db_session.refresh(fu)
    assert fu.outcome == "Termin vereinbart"


def test_snooze_one_week_and_custom_date(client_as, db_session, frozen_time):
    client = client_as("counsellor")
    fu = make_followup(db_session, client.user, due_date=date(2026, 11, 23))
    fu.reminded_at = datetime.now(UTC)
    db_session.commit()
    assert (
        client.post(f"/wiedervorlagen/{fu.id}/zurueckstellen", data={"period": "1w"}).status_code
        == 302
    )
    db_session.refresh(fu)
    assert fu.due_at == service.due_moment(date(2026, 11, 30), time(9, 0))
    assert fu.reminded_at is None
    response = client.post(
        f"/wiedervorlagen/{fu.id}/zurueckstellen",
        data={"period": "custom", "until_date": "2026-12-24", "until_time": "10:30"},
    )
    assert response.status_code == 302
    db_session.refresh(fu)
    assert fu.due_at == service.due_moment(date(2026, 12, 24), time(10, 30))
    missing = client.post(f"/wiedervorlagen/{fu.id}/zurueckstellen", data={"period": "custom"})
    assert missing.status_code == 400


def test_snoozing_to_a_day_in_the_past_is_refused_in_german(client_as, db_session, frozen_time):
    """Put off to a past day, the follow-up would come straight back as overdue."""
    client = client_as("counsellor")
    fu = make_followup(db_session, client.user, due_date=date(2026, 11, 23))
    db_session.commit()
    due = fu.due_at
    response = client.post(
        f"/wiedervorlagen/{fu.id}/zurueckstellen",
        data={"period": "custom", "until_date": "2026-11-20"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Das Datum darf nicht in der Vergangenheit liegen." in html
    assert 'value="2026-11-20"' in html
    db_session.refresh(fu)
    assert fu.due_at == due
    # Today is fine (frozen at 21.11.2026).
    today = client.post(
        f"/wiedervorlagen/{fu.id}/zurueckstellen",
        data={"period": "custom", "until_date": "2026-11-21"},
    )
    assert today.status_code == 302


def test_reassign_and_cancel(client_as, db_session):
    client = client_as("staff")
    colleague = factories.make_user(db_session, role="counsellor")
    fu = make_followup(db_session, client.user, created_by=client.user)
    response = client.post(
        f"/wiedervorlagen/{fu.id}/weitergeben", data={"assignee_id": str(colleague.id)}
    )
    assert response.status_code == 302
    db_session.refresh(fu)
    assert fu.assignee_id == colleague.id
    # The creator may still act on it after giving it away.
    assert client.post(f"/wiedervorlagen/{fu.id}/abbrechen").status_code == 302
    db_session.refresh(fu)
    assert fu.status == "cancelled"


def test_actions_need_a_csrf_token(client_as, db_session):
    client = client_as("counsellor")
    fu = make_followup(db_session, client.user)
    assert client.post(f"/wiedervorlagen/{fu.id}/abbrechen", csrf=False).status_code == 400
    db_session.refresh(fu)
    assert fu.status == "open"


def test_on_a_sunday_this_week_lists_the_follow_ups_from_monday_to_sunday(
    client_as, db_session, frozen_time
):
    frozen_time.move_to(datetime(2026, 12, 6, 15, 0, tzinfo=service.BERLIN))  # a Sunday
    client = client_as("counsellor")
    me = client.user
    due = {
        "Sonntag davor": date(2026, 11, 29),
        "Montag dieser Woche": date(2026, 11, 30),
        "Donnerstag dieser Woche": date(2026, 12, 3),
        "Sonntag heute": date(2026, 12, 6),
        "Montag danach": date(2026, 12, 7),
    }
    for subject, day in due.items():
        make_followup(db_session, me, subject=subject, due_date=day, due_time=None)
    page = client.get("/wiedervorlagen/?gruppe=week").get_data(as_text=True)
    assert 'id="count-week">3<' in page
    for subject in ("Montag dieser Woche", "Donnerstag dieser Woche", "Sonntag heute"):
        assert subject in page
    assert "Sonntag davor" not in page
    assert "Montag danach" not in page
    assert "Montag 30.11.2026 bis Sonntag 06.12.2026" in page


def test_the_detail_page_shows_actions_for_open_follow_ups(client_as, db_session):
    client = client_as("counsellor")
    fu = make_followup(db_session, client.user, note="Mit Mappe")
    html = client.get(f"/wiedervorlagen/{fu.id}").get_data(as_text=True)
    assert f'action="/wiedervorlagen/{fu.id}/erledigt"' in html
    assert f'action="/wiedervorlagen/{fu.id}/zurueckstellen"' in html
    assert "Mit Mappe" in html
    assert (datetime.now(UTC) - timedelta(days=1)) < fu.created_at


def test_the_group_counts_follow_the_same_rule_as_the_groups_around_today(
    client_as, db_session, frozen_time
):
    # frozen_time: Saturday 21.11.2026 09:00 Berlin; the week runs Monday 16. to Sunday 22.
    client = client_as("counsellor")
    me = client.user
    due = {
        "Heute 8 Uhr, vorbei": (date(2026, 11, 21), time(8, 0)),  # overdue
        "Heute ohne Uhrzeit": (date(2026, 11, 21), None),  # today, although 08:00 has passed
        "Heute 17 Uhr": (date(2026, 11, 21), time(17, 0)),  # today
        "Gestern ohne Uhrzeit": (date(2026, 11, 20), None),  # overdue
        "Sonntag": (date(2026, 11, 22), time(10, 0)),  # this week
        "Montag": (date(2026, 11, 23), None),  # later
    }
    for subject, (day, at) in due.items():
        make_followup(db_session, me, subject=subject, due_date=day, due_time=at)
    page = client.get("/wiedervorlagen/").get_data(as_text=True)
    groups = service.group_by_bucket(
        list(db_session.scalars(sa.select(FollowUp).where(FollowUp.assignee_id == me.id))),
        datetime.now(UTC),
    )
    assert {g: len(items) for g, items in groups.items()} == {
        "overdue": 2,
        "today": 2,
        "week": 5,  # Monday to Sunday: also today's and Friday's
        "later": 1,
    }
    for group, items in groups.items():
        assert f'id="count-{group}">{len(items)}<' in page


def test_a_lead_sees_each_colleague_s_overdue_follow_ups_and_each_number_opens_its_list(
    client_as, db_session, frozen_time
):
    lead = client_as("lead")
    busy = factories.make_user(db_session, display_name="Karla Rückstand")
    make_followup(db_session, busy, subject="Alt eins", due_date=date(2026, 11, 10))
    make_followup(db_session, busy, subject="Alt zwei", due_date=date(2026, 11, 19))
    make_followup(db_session, busy, subject="Heute", due_date=date(2026, 11, 21), due_time=None)
    make_followup(db_session, busy, subject="Anfang Dezember", due_date=date(2026, 12, 10))
    done = make_followup(db_session, busy, subject="Erledigt", due_date=date(2026, 11, 1))
    service.mark_done(db_session, done, by=busy, now=datetime.now(UTC))
    db_session.commit()
    start = lead.get("/").get_data(as_text=True)
    assert 'href="/wiedervorlagen/team"' in start
    page = lead.get("/wiedervorlagen/team").get_data(as_text=True)
    row = page.split(f'data-user-id="{busy.id}"')[1].split("</tr>")[0]
    overdue_link = f"/wiedervorlagen/?bearbeitung={busy.id}&amp;gruppe=overdue"
    assert f'href="{overdue_link}" class="fw-semibold text-danger">2<' in row
    assert 'data-group="today"><a' in row
    assert ">1<" in row.split('data-group="today"')[1]
    # Overdue from this week (19.11.) and today's count in "this week" as on the list.
    assert ">2<" in row.split('data-group="week"')[1]
    listed = lead.get(overdue_link.replace("&amp;", "&")).get_data(as_text=True)
    assert 'id="count-overdue">2<' in listed
    assert "Alt eins" in listed
    assert "Anfang Dezember" not in listed


def test_only_leads_and_admins_open_the_team_follow_ups(client_as):
    assert client_as("counsellor").get("/wiedervorlagen/team").status_code == 403
    assert client_as("admin").get("/wiedervorlagen/team").status_code == 200
