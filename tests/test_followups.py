"""Follow-ups: due moments, grouping in Berlin time, changes, and reminders sent exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from crm.contacts.models import Activity
from crm.contacts.service import save_organisation, save_person
from crm.followups import service
from crm.followups.models import FollowUp
from tests import factories
from tests.mail_helpers import message_of, queued

BERLIN = ZoneInfo("Europe/Berlin")
BASE_URL = "https://crm.example.org"


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def make_followup(session, *, due_date=date(2026, 11, 23), due_time=time(9, 0), **kwargs):
    assignee = kwargs.pop("assignee", None) or factories.make_user(session)
    return service.create_followup(
        session,
        subject=kwargs.pop("subject", "Angebot nachfassen"),
        due_date=due_date,
        due_time=due_time,
        assignee=assignee,
        **kwargs,
    )


def tick(session, now: datetime) -> int:
    return service.send_due_reminders(session, now=now, base_url=BASE_URL)


# --- due moments --------------------------------------------------------------------------------


def test_a_follow_up_with_a_time_is_due_at_that_berlin_time():
    assert service.due_moment(date(2026, 11, 23), time(9, 0)) == datetime(
        2026, 11, 23, 8, 0, tzinfo=UTC
    )


def test_a_date_only_follow_up_is_due_at_eight_berlin_in_winter_and_summer():
    assert service.due_moment(date(2026, 11, 23), None) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert service.due_moment(date(2027, 7, 1), None) == datetime(2027, 7, 1, 6, 0, tzinfo=UTC)


# --- grouping -----------------------------------------------------------------------------------


def g(due: datetime, has_time: bool, now: datetime) -> str:
    return service.group_of(due.astimezone(UTC), has_time, now.astimezone(UTC))


def d(day: date) -> datetime:
    return service.due_moment(day, None)


def test_grouping_just_before_midnight_on_sunday():
    now = berlin(2026, 11, 22, 23, 59)  # Sunday
    assert g(d(date(2026, 11, 21)), False, now) == "overdue"
    assert g(d(date(2026, 11, 22)), False, now) == "today"  # date-only: due all day
    assert g(berlin(2026, 11, 22, 23, 30), True, now) == "overdue"  # its time has passed
    # A week runs Monday to Sunday: on Sunday, Monday already belongs to "later".
    assert g(d(date(2026, 11, 23)), False, now) == "later"


def test_grouping_at_midnight_moves_yesterday_to_overdue_and_opens_a_new_week():
    now = berlin(2026, 11, 23, 0, 0)  # Monday
    assert g(d(date(2026, 11, 22)), False, now) == "overdue"
    assert g(d(date(2026, 11, 23)), False, now) == "today"
    assert g(berlin(2026, 11, 23, 23, 59), True, now) == "today"
    assert g(d(date(2026, 11, 24)), False, now) == "week"
    assert g(berlin(2026, 11, 29, 23, 59), True, now) == "week"  # Sunday night
    assert g(d(date(2026, 11, 30)), False, now) == "later"


def test_on_a_sunday_this_week_still_holds_monday_to_sunday():
    now = berlin(2026, 12, 6, 12, 0)  # Sunday
    groups = service.groups_of
    assert groups(d(date(2026, 11, 30)), False, now) == ("overdue", "week")  # this Monday
    assert groups(d(date(2026, 12, 6)), False, now) == ("today", "week")
    assert groups(berlin(2026, 12, 6, 23, 59), True, now) == ("today", "week")
    assert groups(d(date(2026, 11, 29)), False, now) == ("overdue",)  # last week's Sunday
    assert groups(d(date(2026, 12, 7)), False, now) == ("later",)


def test_this_week_turns_at_berlin_midnight_not_utc_midnight():
    sunday_night = berlin(2026, 12, 6, 23, 30)  # 22:30 UTC, still Sunday in both
    monday_early = berlin(2026, 12, 7, 0, 30)  # 23:30 UTC on Sunday, Monday in Berlin
    sunday_due = d(date(2026, 12, 6))
    monday_due = d(date(2026, 12, 7))
    assert "week" in service.groups_of(sunday_due, False, sunday_night)
    assert "week" not in service.groups_of(monday_due, False, sunday_night)
    assert "week" not in service.groups_of(sunday_due, False, monday_early)
    assert service.groups_of(monday_due, False, monday_early) == ("today", "week")


def test_grouping_uses_berlin_days_not_utc_days():
    now = berlin(2026, 11, 24, 12, 0)  # Tuesday
    # 00:30 on Wednesday in Berlin is still Tuesday in UTC: it is tomorrow, not today.
    assert g(berlin(2026, 11, 25, 0, 30), True, now) == "week"
    assert g(berlin(2026, 11, 24, 23, 30), True, now) == "today"


def test_grouping_across_the_daylight_saving_change():
    now = berlin(2027, 3, 28, 23, 30)  # Sunday, clocks went forward at 02:00
    assert g(d(date(2027, 3, 28)), False, now) == "today"
    assert g(d(date(2027, 3, 29)), False, now) == "later"


def test_the_grouped_query_agrees_with_the_pure_rule(app_ctx, frozen_time):
    session = app_ctx
    user = factories.make_user(session)
    other = factories.make_user(session)
    now = berlin(2026, 11, 24, 10, 0)  # Tuesday
    frozen_time.move_to(now)
    days = [date(2026, 11, 20) + timedelta(days=i) for i in range(14)]
    made = []
    for day in days:
        made.append(make_followup(session, due_date=day, due_time=None, assignee=user))
        made.append(make_followup(session, due_date=day, due_time=time(9, 30), assignee=user))
    make_followup(session, assignee=other)
    done = make_followup(session, due_date=date(2026, 11, 20), assignee=user)
    service.mark_done(session, done, outcome="", by=user, now=now)
    expected = service.group_by_bucket(made, now)
    groups = service.grouped_followups(session, user.id, now)
    assert {gr.key: gr.count for gr in groups} == {k: len(v) for k, v in expected.items()}
    assert {gr.key: [f.id for f in gr.items] for gr in groups} == {
        k: [f.id for f in v] for k, v in expected.items()
    }
    only = service.grouped_followups(session, user.id, now, only="later", limit=2, offset=2)
    assert [f.id for f in only[3].items] == [f.id for f in expected["later"][2:4]]
    assert only[0].items == []
    assert only[0].count == len(expected["overdue"])


# --- changes ------------------------------------------------------------------------------------


def test_marking_done_logs_a_note_on_the_linked_person_and_organisation(app_ctx, frozen_time):
    session = app_ctx
    user = factories.make_user(session)
    person = save_person(session, {"first_name": "Anna", "last_name": "Schulz"})
    org = save_organisation(session, {"name": "Elbe Logistik GmbH"})
    fu = make_followup(session, assignee=user, person=person, organisation=org)
    now = berlin(2026, 11, 23, 9, 30).astimezone(UTC)
    service.mark_done(session, fu, outcome="Zusage für zwei Praktika", by=user, now=now)
    assert (fu.status, fu.done_at, fu.outcome) == ("done", now, "Zusage für zwei Praktika")
    activity = session.scalars(sa.select(Activity).where(Activity.person_id == person.id)).one()
    assert activity.kind == "note"
    assert activity.subject == "Wiedervorlage erledigt: Angebot nachfassen"
    assert activity.text == "Zusage für zwei Praktika"
    assert (activity.organisation_id, activity.user_id) == (org.id, user.id)
    with pytest.raises(service.FollowUpError):
        service.cancel(session, fu)


def test_marking_done_without_a_linked_contact_logs_no_activity(app_ctx):
    session = app_ctx
    fu = make_followup(session)
    before = session.scalar(sa.select(sa.func.count(Activity.id)))
    service.mark_done(session, fu, outcome="erledigt", by=None, now=datetime.now(UTC))
    assert session.scalar(sa.select(sa.func.count(Activity.id))) == before


def test_snoozing_by_a_day_keeps_the_time_and_counts_from_today_when_overdue(app_ctx):
    session = app_ctx
    fu = make_followup(session, due_date=date(2026, 11, 16), due_time=time(14, 0))
    service.snooze_by(session, fu, 1, berlin(2026, 11, 23, 10, 0))
    assert fu.due_at == berlin(2026, 11, 24, 14, 0).astimezone(UTC)
    assert fu.snoozed_until == fu.due_at
    later = make_followup(session, due_date=date(2026, 12, 1), due_time=None)
    service.snooze_by(session, later, 7, berlin(2026, 11, 23, 10, 0))
    assert later.due_at == service.due_moment(date(2026, 12, 8), None)
    assert later.has_time is False


def test_cancelled_follow_ups_cannot_be_snoozed_or_reassigned(app_ctx):
    session = app_ctx
    fu = service.cancel(session, make_followup(session))
    with pytest.raises(service.FollowUpError):
        service.snooze(session, fu, date(2026, 12, 1), None)
    with pytest.raises(service.FollowUpError):
        service.reassign(session, fu, factories.make_user(session))


# --- reminders ----------------------------------------------------------------------------------


def test_a_follow_up_due_at_nine_is_queued_once_at_nine_with_its_cause(
    app_ctx, smtp_server, frozen_time
):
    session = app_ctx
    assignee = factories.make_user(session, display_name="Jana Krüger")
    fu = make_followup(session, assignee=assignee, note="Bitte Mappe mitnehmen")
    fu_id = fu.id
    session.commit()

    frozen_time.move_to(berlin(2026, 11, 23, 8, 59))
    assert tick(session, berlin(2026, 11, 23, 8, 59)) == 0
    assert queued(session) == []

    frozen_time.move_to(berlin(2026, 11, 23, 9, 0))
    assert tick(session, berlin(2026, 11, 23, 9, 0)) == 1
    frozen_time.move_to(berlin(2026, 11, 23, 9, 1))
    assert tick(session, berlin(2026, 11, 23, 9, 1)) == 0

    [row] = queued(session)
    assert (row.kind, row.status, row.recipient) == ("reminder", "queued", assignee.email)
    assert row.user_id == assignee.id
    assert row.person_id is None
    msg = message_of(row)
    assert row.message_id == str(msg["Message-ID"])
    assert str(msg["Subject"]) == row.subject == "Wiedervorlage fällig: Angebot nachfassen"
    assert str(msg["Auto-Submitted"]) == "auto-generated"
    assert str(msg["X-CRM-Followup"]) == str(fu_id)
    text = msg.get_body(("plain",)).get_content()
    assert "Guten Tag Jana Krüger," in text
    assert "Fällig: 23.11.2026, 09:00 Uhr" in text
    assert "Bitte Mappe mitnehmen" in text
    assert f"{BASE_URL}/wiedervorlagen/{fu_id}" in text
    html = msg.get_body(("html",)).get_content()
    assert f'href="{BASE_URL}/wiedervorlagen/{fu_id}"' in html
    reminded = session.get(FollowUp, fu_id).reminded_at
    assert reminded == berlin(2026, 11, 23, 9, 0).astimezone(UTC)
    # Queuing is a database write only: the job never talks to a mail server.
    assert smtp_server.connection_count == 0


def test_after_downtime_from_eight_to_eleven_the_first_tick_queues_once(app_ctx, frozen_time):
    session = app_ctx
    make_followup(session)
    session.commit()
    frozen_time.move_to(berlin(2026, 11, 23, 11, 0))
    assert tick(session, berlin(2026, 11, 23, 11, 0)) == 1
    assert tick(session, berlin(2026, 11, 23, 11, 1)) == 0
    assert len(queued(session)) == 1


def test_a_date_only_follow_up_is_reminded_at_eight_berlin(app_ctx):
    session = app_ctx
    make_followup(session, due_time=None)
    session.commit()
    assert tick(session, berlin(2026, 11, 23, 7, 59)) == 0
    assert tick(session, berlin(2026, 11, 23, 8, 0)) == 1
    [row] = queued(session)
    text = message_of(row).get_body(("plain",)).get_content()
    assert "  Fällig: 23.11.2026" in text.splitlines()  # no time for a date-only follow-up


def test_snoozing_re_arms_the_reminder(app_ctx):
    session = app_ctx
    fu = make_followup(session)
    session.commit()
    assert tick(session, berlin(2026, 11, 23, 9, 0)) == 1
    service.snooze_by(session, fu, 1, berlin(2026, 11, 23, 9, 5))
    session.commit()
    assert fu.reminded_at is None
    assert tick(session, berlin(2026, 11, 24, 8, 59)) == 0
    assert tick(session, berlin(2026, 11, 24, 9, 0)) == 1
    assert len(queued(session, "reminder")) == 2


def test_reassigning_reminds_the_new_assignee(app_ctx):
    session = app_ctx
    fu = make_followup(session)
    session.commit()
    assert tick(session, berlin(2026, 11, 23, 9, 0)) == 1
    colleague = factories.make_user(session)
    service.reassign(session, fu, colleague)
    session.commit()
    assert tick(session, berlin(2026, 11, 23, 9, 1)) == 1
    last = queued(session)[-1]
    assert (last.recipient, last.user_id) == (colleague.email, colleague.id)


def test_done_and_cancelled_follow_ups_are_not_reminded(app_ctx):
    session = app_ctx
    user = factories.make_user(session)
    service.mark_done(
        session, make_followup(session, assignee=user), by=user, now=datetime.now(UTC)
    )
    service.cancel(session, make_followup(session, assignee=user))
    session.commit()
    assert tick(session, berlin(2026, 11, 23, 12, 0)) == 0
    assert queued(session) == []


def test_a_reminder_that_cannot_be_built_marks_the_follow_up_and_is_not_retried(app_ctx):
    session = app_ctx
    broken = factories.make_user(session, email="keine-adresse")
    first = make_followup(session, due_time=time(8, 0), assignee=broken)
    second = make_followup(session)
    session.commit()
    assert tick(session, berlin(2026, 11, 23, 9, 0)) == 1  # the second one
    assert first.reminded_at is not None
    assert second.reminded_at is not None
    assert tick(session, berlin(2026, 11, 23, 9, 1)) == 0
    assert [r.user_id for r in queued(session)] == [second.assignee_id]


def test_a_crash_before_the_commit_loses_neither_the_mark_nor_the_message(app_ctx):
    session = app_ctx
    first = make_followup(session, due_time=time(8, 0))
    make_followup(session, due_time=time(8, 30))
    session.commit()
    first_id = first.id

    def die(_session):
        # kill -9 stand-in: the process ends between queuing and committing.
        raise KeyboardInterrupt

    event.listen(session, "before_commit", die, once=True)
    with pytest.raises(KeyboardInterrupt):
        tick(session, berlin(2026, 11, 23, 9, 0))
    session.rollback()
    assert session.get(FollowUp, first_id).reminded_at is None
    assert queued(session) == []
    # After the restart both are queued, each exactly once.
    assert tick(session, berlin(2026, 11, 23, 9, 1)) == 2
    assert tick(session, berlin(2026, 11, 23, 9, 2)) == 0
    ids = [message_of(r)["X-CRM-Followup"] for r in queued(session)]
    assert len(ids) == len(set(ids)) == 2


def test_the_batch_limit_is_respected(app_ctx):
    session = app_ctx
    user = factories.make_user(session)
    for minute in range(5):
        make_followup(session, assignee=user, due_time=time(8, minute))
    session.commit()
    now = berlin(2026, 11, 23, 9, 0)
    assert service.send_due_reminders(session, now, BASE_URL, batch=3) == 3
    assert service.send_due_reminders(session, now, BASE_URL, batch=3) == 2
    assert len(queued(session)) == 5
