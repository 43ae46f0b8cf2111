"""Follow-ups: due moments, grouping in Berlin time, changes, and reminders sent exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crm.contacts.models import Activity
from crm.contacts.service import save_organisation, save_person
from crm.followups import service
from crm.followups.models import FollowUp
from crm.mail import PermanentMailError, SMTPTransport, TemporaryMailError, Transport
from tests import factories

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


def smtp(server) -> SMTPTransport:
    return SMTPTransport(
        server.host, server.port, security="none", timeout=5, local_hostname="crm.test"
    )


def tick(session, server, now: datetime) -> int:
    return service.send_due_reminders(session, smtp(server), now=now, base_url=BASE_URL)


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


def test_a_follow_up_due_at_nine_is_reminded_once_at_nine(app_ctx, smtp_server, frozen_time):
    session = app_ctx
    assignee = factories.make_user(session, display_name="Jana Krüger")
    fu = make_followup(session, assignee=assignee, note="Bitte Mappe mitnehmen")
    fu_id = fu.id
    session.commit()

    frozen_time.move_to(berlin(2026, 11, 23, 8, 59))
    assert tick(session, smtp_server, berlin(2026, 11, 23, 8, 59)) == 0
    assert smtp_server.messages == []

    frozen_time.move_to(berlin(2026, 11, 23, 9, 0))
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 0)) == 1
    frozen_time.move_to(berlin(2026, 11, 23, 9, 1))
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 1)) == 0

    [received] = smtp_server.messages
    assert received.rcpt_tos == [assignee.email]
    msg = received.message
    assert str(msg["Subject"]) == "Wiedervorlage fällig: Angebot nachfassen"
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


def test_after_downtime_from_eight_to_eleven_the_first_tick_sends_once(
    app_ctx, smtp_server, frozen_time
):
    session = app_ctx
    make_followup(session)
    session.commit()
    frozen_time.move_to(berlin(2026, 11, 23, 11, 0))
    assert tick(session, smtp_server, berlin(2026, 11, 23, 11, 0)) == 1
    assert tick(session, smtp_server, berlin(2026, 11, 23, 11, 1)) == 0
    assert len(smtp_server.messages) == 1


def test_a_date_only_follow_up_is_reminded_at_eight_berlin(app_ctx, smtp_server):
    session = app_ctx
    make_followup(session, due_time=None)
    session.commit()
    assert tick(session, smtp_server, berlin(2026, 11, 23, 7, 59)) == 0
    assert tick(session, smtp_server, berlin(2026, 11, 23, 8, 0)) == 1
    [received] = smtp_server.messages
    text = received.message.get_body(("plain",)).get_content()
    assert "  Fällig: 23.11.2026" in text.splitlines()  # no time for a date-only follow-up


def test_snoozing_re_arms_the_reminder(app_ctx, smtp_server):
    session = app_ctx
    fu = make_followup(session)
    session.commit()
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 0)) == 1
    service.snooze_by(session, fu, 1, berlin(2026, 11, 23, 9, 5))
    session.commit()
    assert fu.reminded_at is None
    assert tick(session, smtp_server, berlin(2026, 11, 24, 8, 59)) == 0
    assert tick(session, smtp_server, berlin(2026, 11, 24, 9, 0)) == 1
    assert len(smtp_server.messages) == 2


def test_reassigning_reminds_the_new_assignee(app_ctx, smtp_server):
    session = app_ctx
    fu = make_followup(session)
    session.commit()
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 0)) == 1
    colleague = factories.make_user(session)
    service.reassign(session, fu, colleague)
    session.commit()
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 1)) == 1
    assert smtp_server.messages[-1].rcpt_tos == [colleague.email]


def test_done_and_cancelled_follow_ups_are_not_reminded(app_ctx, smtp_server):
    session = app_ctx
    user = factories.make_user(session)
    service.mark_done(
        session, make_followup(session, assignee=user), by=user, now=datetime.now(UTC)
    )
    service.cancel(session, make_followup(session, assignee=user))
    session.commit()
    assert tick(session, smtp_server, berlin(2026, 11, 23, 12, 0)) == 0
    assert smtp_server.messages == []


def test_a_temporary_smtp_failure_leaves_the_reminder_due_for_the_next_tick(app_ctx, smtp_server):
    session = app_ctx
    fu = make_followup(session)
    session.commit()
    smtp_server.script(data=["451 4.7.1 Try again later"])
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 0)) == 0
    assert session.get(FollowUp, fu.id).reminded_at is None
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 1)) == 1
    assert len(smtp_server.messages) == 1


def test_a_permanently_refused_reminder_is_not_retried_forever(app_ctx, smtp_server):
    session = app_ctx
    first = make_followup(session, due_time=time(8, 0))
    second = make_followup(session)
    session.commit()
    smtp_server.script(rcpt=["550 5.1.1 No such user"])
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 0)) == 1  # the second one
    assert first.reminded_at is not None
    assert second.reminded_at is not None
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 1)) == 0
    assert len(smtp_server.messages) == 1


class CrashAfterSend(Transport):
    """Hands the message on, then 'dies' before the caller can commit (kill -9 stand-in)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send_raw(self, raw, **hooks):
        self.inner.send_raw(raw, **hooks)
        raise KeyboardInterrupt


def test_a_crash_between_sending_and_commit_duplicates_at_most_that_one_message(
    app_ctx, smtp_server
):
    session = app_ctx
    make_followup(session, due_time=time(8, 0))
    make_followup(session, due_time=time(8, 30))
    session.commit()
    with pytest.raises(KeyboardInterrupt):
        service.send_due_reminders(
            session,
            CrashAfterSend(smtp(smtp_server)),
            now=berlin(2026, 11, 23, 9, 0),
            base_url=BASE_URL,
        )
    assert len(smtp_server.messages) == 1
    # After the restart: the interrupted one is sent again (the one duplicate), the other once.
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 1)) == 2
    assert tick(session, smtp_server, berlin(2026, 11, 23, 9, 2)) == 0
    ids = [m.message["X-CRM-Followup"] for m in smtp_server.messages]
    assert len(ids) == 3
    assert len(set(ids)) == 2


def test_the_batch_limit_is_respected(app_ctx, smtp_server):
    session = app_ctx
    user = factories.make_user(session)
    for minute in range(5):
        make_followup(session, assignee=user, due_time=time(8, minute))
    session.commit()
    now = berlin(2026, 11, 23, 9, 0)
    assert service.send_due_reminders(session, smtp(smtp_server), now, BASE_URL, batch=3) == 3
    assert service.send_due_reminders(session, smtp(smtp_server), now, BASE_URL, batch=3) == 2
    assert smtp_server.connection_count == 2  # one connection per batch


def test_nothing_due_opens_no_smtp_connection(app_ctx, smtp_server):
    assert tick(app_ctx, smtp_server, berlin(2026, 11, 23, 9, 0)) == 0
    assert smtp_server.connection_count == 0


def test_a_temporary_error_class_is_what_the_transport_raises_for_4xx():
    # Guard for the rule above: the service relies on this split of the mail layer.
    assert not issubclass(TemporaryMailError, PermanentMailError)
