"""Case work on participants: durations as typed, the contact log on the timeline, the next
contact and the planned transfer with their follow-ups, follow-ups on the participant page and
in "Mein Tag", scope, audit, erasure."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.followups import service as followups
from crm.followups.models import FollowUp
from crm.inputs import parse_duration
from crm.participants import service
from crm.participants.models import CounsellingSession, ParticipantContact
from crm.privacy import service as privacy
from tests import factories
from tests.factories import make_participant

# The frozen clock (tests/conftest.py) stands at Saturday, 21.11.2026, 09:00 Berlin.
TODAY = date(2026, 11, 21)
UNIQUE = "Qarachorlova"


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session)


@pytest.fixture
def counsellor(frozen_time, client_as, office):
    # Logged in on the frozen day: a login from the real clock's future would not count.
    return client_as("counsellor", office=office)


@pytest.fixture
def mine(db_session, counsellor, office):
    p = make_participant(
        db_session,
        office=office,
        counsellor=counsellor.user,
        last_name=UNIQUE,
        first_name="Dilnoza",
    )
    db_session.commit()
    return p


def _case_followups(s, p, kind: str, status: str | None = "open") -> list[FollowUp]:
    stmt = sa.select(FollowUp).where(FollowUp.participant_id == p.id, FollowUp.case_kind == kind)
    if status:
        stmt = stmt.where(FollowUp.status == status)
    return list(s.scalars(stmt.order_by(FollowUp.id)))


def _berlin_date(fu: FollowUp) -> date:
    return followups.local_due(fu).date()


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "minutes"),
    [
        ("90", 90),
        ("1:30", 90),
        ("1,5", 90),
        ("1.5", 90),
        ("1,5 h", 90),
        ("1.5h", 90),
        ("2 Std.", 120),
        ("90 min", 90),
        ("1 h 30 min", 90),
        ("0:15", 15),
        ("0,25 h", 15),
        ("  45 ", 45),
        ("24:00", 1440),
    ],
)
def test_a_duration_is_read_as_minutes_hours_and_minutes_or_decimal_hours(typed, minutes):
    assert parse_duration(typed) == minutes


@pytest.mark.parametrize(
    "typed",
    ["", "0", "0:00", "1:75", "anderthalb", "1,33", "1500", "24:01", "-30", "1:30:00", "1e2", "١٢"],
)
def test_a_duration_that_is_empty_ambiguous_or_beyond_a_day_is_refused(typed):
    assert parse_duration(typed) is None


def test_a_session_typed_as_hours_and_minutes_is_stored_in_minutes(counsellor, mine, db_session):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/termine",
        data={"session-held_on": "2026-11-20", "session-minutes": "1:30"},
    )
    assert response.status_code == 302
    db_session.expire_all()
    assert [s.minutes for s in mine.sessions] == [90]
    assert mine.total_minutes == 90


def test_a_duration_that_cannot_be_read_gets_a_german_error_and_the_typed_text_stays(
    counsellor, mine, db_session
):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/termine",
        data={
            "session-held_on": "2026-11-20",
            "session-minutes": "anderthalb",
            "session-note": "x",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Bitte eine Dauer wie 1:30" in html
    assert 'value="anderthalb"' in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CounsellingSession)) == 0


# --- the contact log ----------------------------------------------------------------------------


def test_contacts_are_not_counselling_hours_and_do_not_make_an_entry(app_ctx):
    s = app_ctx
    p = make_participant(s, sessions=((date(2026, 11, 2), 240), (date(2026, 11, 9), 210)))
    service.add_contact(
        s,
        p,
        kind="meeting",
        happened_at=datetime(2026, 11, 16, 10, 0, tzinfo=UTC),
        duration_minutes=120,
    )
    service.recompute_participant(s, p)
    assert p.total_minutes == 450
    assert p.entry_on is None


def test_a_contact_of_an_unknown_kind_or_impossible_duration_is_refused(app_ctx):
    s = app_ctx
    p = make_participant(s)
    at = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    with pytest.raises(service.ParticipantError):
        service.add_contact(s, p, kind="fax", happened_at=at)
    with pytest.raises(service.ParticipantError):
        service.add_contact(s, p, kind="call", happened_at=at, duration_minutes=0)


def test_a_logged_contact_appears_on_the_timeline_with_the_sessions_newest_first(
    counsellor, mine, db_session, frozen_time
):
    service.add_session(db_session, mine, held_on=date(2026, 11, 10), minutes=60, note="Termin A")
    service.add_session(db_session, mine, held_on=date(2026, 11, 19), minutes=60, note="Termin B")
    db_session.commit()
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/kontakte",
        data={
            "contact-kind": "call",
            "contact-happened_at": "2026-11-18T14:30",
            "contact-duration": "0:20",
            "contact-note": "Rückruf Jobcenter",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#verlauf")
    contact = db_session.scalar(sa.select(ParticipantContact))
    assert contact.duration_minutes == 20
    assert contact.user_id == counsellor.user.id
    # 14:30 in Berlin (CET) is 13:30 UTC.
    assert contact.happened_at == datetime(2026, 11, 18, 13, 30, tzinfo=UTC)
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    timeline = page[page.index('id="timeline"') :]
    order = [timeline.index(t) for t in ("Termin B", "Rückruf Jobcenter", "Termin A")]
    assert order == sorted(order)
    assert "Anruf" in timeline
    # Logged like every change to a participant's data.
    assert db_session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.entity_type == "participant_contact",
            AuditEntry.entity_id == contact.id,
            AuditEntry.action == "create",
        )
    )


def test_a_contact_form_with_errors_answers_in_german_and_keeps_what_was_typed(
    counsellor, mine, db_session
):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/kontakte",
        data={
            "contact-kind": "call",
            "contact-happened_at": "gestern",
            "contact-duration": "lang",
            "contact-note": "Wichtige Notiz",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Bitte eine Dauer wie 1:30" in html
    assert "Wichtige Notiz" in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ParticipantContact)) == 0


def test_a_contact_on_a_later_day_is_refused_with_the_way_to_plan_it(counsellor, mine, db_session):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/kontakte",
        data={
            "contact-kind": "call",
            "contact-happened_at": "2026-11-22T10:00",
            "contact-duration": "",
            "contact-note": "Zyxgeplant",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "dieser Tag liegt in der Zukunft" in html
    assert "als nächsten Kontakt" in html
    assert "Zyxgeplant" in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ParticipantContact)) == 0
    # Later today is still today: a call noted ahead of its minute is not refused.
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/kontakte",
        data={"contact-kind": "call", "contact-happened_at": "2026-11-21T18:00"},
    )
    assert response.status_code == 302


def test_a_contact_can_be_deleted_from_the_timeline(counsellor, mine, db_session):
    contact = service.add_contact(
        db_session, mine, kind="letter", happened_at=datetime(2026, 11, 3, 9, tzinfo=UTC)
    )
    db_session.commit()
    response = counsellor.post(f"/teilnehmende/{mine.id}/kontakte/{contact.id}/loeschen")
    assert response.status_code == 302
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ParticipantContact)) == 0


# --- next contact and planned transfer ----------------------------------------------------------


def test_a_next_contact_date_creates_moves_and_closes_one_follow_up_for_the_counsellor(app_ctx):
    s = app_ctx
    p = make_participant(s)
    plan = {"transfer_on": None, "today": TODAY}
    service.plan_case_dates(s, p, next_contact_on=date(2026, 11, 25), **plan)
    [fu] = _case_followups(s, p, "next_contact")
    assert fu.assignee_id == p.counsellor_id
    assert _berlin_date(fu) == date(2026, 11, 25)
    assert p.pseudonym in fu.subject
    assert p.last_name not in fu.subject  # the subject travels in reminder e-mails

    fu.reminded_at = datetime(2026, 11, 25, 7, tzinfo=UTC)
    service.plan_case_dates(s, p, next_contact_on=date(2026, 12, 2), **plan)
    assert _case_followups(s, p, "next_contact") == [fu]
    assert _berlin_date(fu) == date(2026, 12, 2)
    assert fu.reminded_at is None  # reminded again at the new date

    service.plan_case_dates(s, p, next_contact_on=None, **plan)
    assert _case_followups(s, p, "next_contact") == []
    assert fu.status == "cancelled"
    assert p.next_contact_on is None


def test_a_planned_transfer_creates_a_follow_up_the_configured_days_before(app_ctx):
    s = app_ctx
    p = make_participant(s)
    service.plan_case_dates(
        s,
        p,
        next_contact_on=None,
        transfer_on=date(2027, 3, 31),
        transfer_note="Ende Integrationskurs",
        lead_days=21,
        today=TODAY,
    )
    [fu] = _case_followups(s, p, "transfer")
    assert _berlin_date(fu) == date(2027, 3, 10)
    assert "Ende Integrationskurs" in fu.subject
    assert "31.03.2027" in fu.subject
    assert fu.assignee_id == p.counsellor_id
    assert _case_followups(s, p, "next_contact") == []


def test_a_transfer_sooner_than_the_lead_time_is_due_today(app_ctx):
    s = app_ctx
    p = make_participant(s)
    service.plan_case_dates(
        s, p, next_contact_on=None, transfer_on=TODAY + timedelta(days=3), today=TODAY
    )
    [fu] = _case_followups(s, p, "transfer")
    assert _berlin_date(fu) == TODAY


def test_saving_an_unchanged_date_does_not_bring_back_a_follow_up_already_done(app_ctx):
    s = app_ctx
    p = make_participant(s)
    service.plan_case_dates(s, p, next_contact_on=date(2026, 11, 25), transfer_on=None, today=TODAY)
    [fu] = _case_followups(s, p, "next_contact")
    followups.mark_done(s, fu, by=None, now=datetime(2026, 11, 25, 9, tzinfo=UTC))
    service.plan_case_dates(
        s,
        p,
        next_contact_on=date(2026, 11, 25),
        transfer_on=date(2027, 1, 29),
        today=TODAY,
    )
    assert _case_followups(s, p, "next_contact") == []
    assert len(_case_followups(s, p, "transfer")) == 1


def test_a_new_counsellor_takes_over_the_open_case_follow_ups(app_ctx):
    s = app_ctx
    p = make_participant(s)
    service.plan_case_dates(s, p, next_contact_on=date(2026, 12, 1), transfer_on=None, today=TODAY)
    successor = factories.make_user(s, role="counsellor", office=p.office)
    service.save_participant(s, {"counsellor_id": successor.id}, p)
    [fu] = _case_followups(s, p, "next_contact")
    assert fu.assignee_id == successor.id


def test_the_case_dates_are_planned_through_the_participant_page(
    counsellor, mine, db_session, frozen_time
):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/planung",
        data={
            "plan-next_contact_on": "2026-11-27",
            "plan-transfer_on": "2027-02-26",
            "plan-transfer_note": "Ende Sprachkurs B2",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#planung")
    db_session.expire_all()
    assert mine.next_contact_on == date(2026, 11, 27)
    assert mine.transfer_note == "Ende Sprachkurs B2"
    [transfer] = _case_followups(db_session, mine, "transfer")
    assert _berlin_date(transfer) == date(2027, 2, 12)  # 14 days before by default
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    listed = page[page.index('id="participant-followups"') :]
    assert "Ende Sprachkurs B2" in listed
    assert "Nächster Kontakt" in listed


def test_a_date_in_the_past_is_refused_in_german_and_nothing_typed_is_lost(
    counsellor, mine, db_session, frozen_time
):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/planung",
        data={
            "plan-next_contact_on": "2026-11-01",
            "plan-transfer_on": "2027-02-26",
            "plan-transfer_note": "Ende Integrationskurs",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Das Datum darf nicht in der Vergangenheit liegen." in html
    assert 'value="2026-11-01"' in html
    assert 'value="Ende Integrationskurs"' in html
    db_session.expire_all()
    assert mine.next_contact_on is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(FollowUp)) == 0


# --- follow-ups on the participant page and in "Mein Tag" ---------------------------------------


def test_the_participant_page_lists_its_open_follow_ups_and_offers_a_prefilled_new_one(
    counsellor, mine, db_session, frozen_time
):
    open_fu = followups.create_followup(
        db_session,
        subject="Zeugnisse übersetzen lassen",
        due_date=date(2026, 11, 24),
        assignee=counsellor.user,
        participant=mine,
    )
    done = followups.create_followup(
        db_session,
        subject="Termin bei der Kammer",
        due_date=date(2026, 11, 2),
        assignee=counsellor.user,
        participant=mine,
    )
    followups.mark_done(db_session, done, by=None, now=datetime(2026, 11, 2, 9, tzinfo=UTC))
    db_session.commit()
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    assert f'href="/wiedervorlagen/{open_fu.id}"' in page
    open_list = page.split('id="participant-followups"')[1].split("</ul>")[0]
    assert "Termin bei der Kammer" not in open_list
    assert "Termin bei der Kammer" in page.split('id="timeline"')[1]
    link = re.search(r'<a[^>]*id="new-followup"[^>]*>([^<]*)</a>', page)
    assert link
    assert link.group(1) == "Wiedervorlage anlegen"
    assert f'href="/wiedervorlagen/neu?participant_id={mine.id}"' in link.group(0)
    form = counsellor.get(f"/wiedervorlagen/neu?participant_id={mine.id}")
    assert form.status_code == 200
    assert f"Dilnoza {UNIQUE}" in form.get_data(as_text=True)


def _timeline(page: str) -> str:
    return page.split('id="timeline"')[1].split("</ol>")[0]


def test_a_follow_up_marked_done_shows_in_the_timeline_with_when_and_who(
    counsellor, mine, db_session, frozen_time
):
    service.add_session(db_session, mine, held_on=date(2026, 11, 19), minutes=60, note="Termin B")
    fu = followups.create_followup(
        db_session,
        subject="Anerkennungsbescheid anfordern",
        due_date=date(2026, 11, 20),
        assignee=counsellor.user,
        participant=mine,
    )
    db_session.commit()
    response = counsellor.post(
        f"/wiedervorlagen/{fu.id}/erledigt", data={"outcome": "Bescheid liegt vor"}
    )
    assert response.status_code == 302
    timeline = _timeline(counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True))
    entry = timeline.split('data-kind="followup_done"')[1].split("</li>")[0]
    assert "Wiedervorlage erledigt" in entry
    assert f'<a href="/wiedervorlagen/{fu.id}">Anerkennungsbescheid anfordern</a>' in entry
    assert "21.11.2026 09:00" in entry  # done on the frozen Saturday morning
    assert f"erledigt von {counsellor.user.display_name}" in entry
    assert "Bescheid liegt vor" in entry
    # Newest first: done on the 21st, before the session of the 19th.
    assert timeline.index("Anerkennungsbescheid") < timeline.index("Termin B")


def test_the_timeline_hides_the_subject_of_a_done_follow_up_the_viewer_may_not_see(
    client_as, counsellor, mine, db_session, office, frozen_time
):
    colleague = client_as("counsellor", office=office, display_name="Kollegin Kraus")
    fu = followups.create_followup(
        db_session,
        subject="Vertrauliche Absprache",
        due_date=date(2026, 11, 20),
        assignee=colleague.user,
        created_by=colleague.user,
        participant=mine,
    )
    followups.mark_done(
        db_session,
        fu,
        outcome="Geheim",
        by=colleague.user,
        now=datetime(2026, 11, 20, 9, tzinfo=UTC),
    )
    db_session.commit()
    # The participant's counsellor sees the participant, not her colleague's follow-up.
    assert not followups.can_see(counsellor.user, fu)
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    entry = _timeline(page).split('data-kind="followup_done"')[1].split("</li>")[0]
    assert "Wiedervorlage erledigt" in entry
    assert "erledigt von Kollegin Kraus" in entry
    assert "Vertrauliche Absprache" not in page
    assert "Geheim" not in page
    assert f"/wiedervorlagen/{fu.id}" not in page
    # A lead may see every follow-up, so the lead's page names it.
    lead_page = client_as("lead").get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    assert "Vertrauliche Absprache" in _timeline(lead_page)


def test_the_open_follow_ups_name_a_colleagues_follow_up_without_its_subject(
    client_as, counsellor, mine, db_session, office, frozen_time
):
    colleague = client_as("counsellor", office=office, display_name="Kollegin Kraus")
    fu = followups.create_followup(
        db_session,
        subject="Vertrauliche Absprache",
        due_date=date(2026, 11, 24),
        assignee=colleague.user,
        created_by=colleague.user,
        participant=mine,
    )
    db_session.commit()
    assert not followups.can_see(counsellor.user, fu)
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    open_list = page.split('id="participant-followups"')[1].split("</ul>")[0]
    assert "Eine Kollegin oder ein Kollege hat eine Wiedervorlage" in open_list
    assert "Kollegin Kraus" in open_list  # whose it is, and when, stay visible
    assert "24.11.2026" in open_list
    assert "Vertrauliche Absprache" not in page
    assert f"/wiedervorlagen/{fu.id}" not in page
    lead_page = client_as("lead").get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    assert "Vertrauliche Absprache" in lead_page.split('id="participant-followups"')[1]


def test_the_participant_page_runs_as_many_queries_with_one_or_many_done_follow_ups(
    counsellor, mine, db_session, count_queries
):
    def mark_one_done(n: int) -> None:
        helper = factories.make_user(db_session)
        fu = followups.create_followup(
            db_session,
            subject=f"Erledigt {n}",
            due_date=date(2026, 11, 2),
            assignee=helper,
            participant=mine,
        )
        followups.mark_done(db_session, fu, by=helper, now=datetime(2026, 11, 2, 9, tzinfo=UTC))
        db_session.commit()

    def count_page() -> int:
        with count_queries() as statements:
            assert counsellor.get(f"/teilnehmende/{mine.id}").status_code == 200
        return len(statements)

    mark_one_done(0)
    one = count_page()
    for n in range(1, 6):
        mark_one_done(n)
    assert count_page() == one


def test_mein_tag_names_and_links_the_participant_of_a_due_case_follow_up(
    counsellor, mine, db_session, frozen_time
):
    service.plan_case_dates(db_session, mine, next_contact_on=TODAY, transfer_on=None, today=TODAY)
    db_session.commit()
    page = counsellor.get("/").get_data(as_text=True)
    due = page[page.index('id="today-due"') :]
    assert f"Nächster Kontakt ({mine.pseudonym})" in due
    assert f'href="/teilnehmende/{mine.id}">Dilnoza {UNIQUE}</a>' in due


def test_mein_tag_does_not_name_a_participant_the_user_may_no_longer_see(
    frozen_time, client_as, db_session, mine
):
    # A follow-up of a counsellor in another office that still points at this participant.
    other = client_as("counsellor", office=factories.make_office(db_session))
    followups.create_followup(
        db_session, subject="Alte Aufgabe", due_date=TODAY, assignee=other.user, participant=mine
    )
    db_session.commit()
    page = other.get("/").get_data(as_text=True)
    assert "Alte Aufgabe" in page
    assert UNIQUE not in page


# --- scope --------------------------------------------------------------------------------------


def test_a_counsellor_of_another_office_can_neither_see_nor_add_case_work(
    client_as, db_session, mine
):
    contact = service.add_contact(
        db_session, mine, kind="call", happened_at=datetime(2026, 11, 3, 9, tzinfo=UTC)
    )
    db_session.commit()
    other = client_as("counsellor", office=factories.make_office(db_session))
    base = f"/teilnehmende/{mine.id}"
    data = {
        "contact-kind": "call",
        "contact-happened_at": "2026-11-18T14:30",
        "plan-next_contact_on": "2027-01-04",
    }
    for url in (
        base,
        f"{base}/kontakte",
        f"{base}/planung",
        f"{base}/kontakte/{contact.id}/loeschen",
    ):
        method = "GET" if url == base else "POST"
        assert other.open(url, method=method, data=data).status_code == 404, url
    staff = client_as("staff", office=mine.office)
    assert staff.post(f"{base}/kontakte", data=data).status_code == 403
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ParticipantContact)) == 1
    assert mine.next_contact_on is None


# --- erasure ------------------------------------------------------------------------------------


def test_erasing_a_participant_deletes_her_contact_log_and_leaves_others_alone(app_ctx):
    s = app_ctx
    p = make_participant(s, last_name=UNIQUE)
    neighbour = make_participant(s, office=p.office)
    at = datetime(2026, 11, 3, 9, tzinfo=UTC)
    service.add_contact(s, p, kind="call", happened_at=at, note=f"{UNIQUE} ruft an")
    kept = service.add_contact(s, neighbour, kind="email", happened_at=at, note="bleibt")
    service.plan_case_dates(
        s, p, next_contact_on=None, transfer_on=date(2027, 2, 1), transfer_note="Kurs", today=TODAY
    )
    s.flush()
    before = s.execute(
        sa.select(ParticipantContact.__table__).where(
            ParticipantContact.participant_id == neighbour.id
        )
    ).all()
    privacy.erase_participant(s, p)
    s.flush()
    assert (
        s.scalars(
            sa.select(ParticipantContact.id).where(ParticipantContact.participant_id == p.id)
        ).all()
        == []
    )
    after = s.execute(
        sa.select(ParticipantContact.__table__).where(
            ParticipantContact.participant_id == neighbour.id
        )
    ).all()
    assert after == before
    assert [r.id for r in after] == [kept.id]
    s.refresh(p)
    assert (p.transfer_on, p.transfer_note, p.next_contact_on) == (None, "", None)


def test_a_transfer_text_without_its_date_is_refused_and_kept_in_the_form(
    counsellor, mine, db_session
):
    response = counsellor.post(
        f"/teilnehmende/{mine.id}/planung",
        data={"plan-transfer_on": "", "plan-transfer_note": "Ende Berufssprachkurs"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Bitte auch das Datum des Übergangs angeben." in html
    assert 'value="Ende Berufssprachkurs"' in html
    db_session.expire_all()
    assert mine.transfer_note == ""


# --- a case follow-up moved on the follow-up pages --------------------------------------------


def test_snoozing_or_re_dating_the_next_contacts_follow_up_moves_the_participants_date(app_ctx):
    s = app_ctx
    p = make_participant(s)
    service.plan_case_dates(s, p, next_contact_on=date(2026, 11, 25), transfer_on=None, today=TODAY)
    [fu] = _case_followups(s, p, "next_contact")

    followups.snooze(s, fu, date(2026, 11, 27), None)
    assert p.next_contact_on == date(2026, 11, 27)

    followups.update_followup(
        s, fu, subject=fu.subject, note="", due_date=date(2026, 12, 3), due_time=None,
        priority=fu.priority,
    )  # fmt: skip
    assert p.next_contact_on == date(2026, 12, 3)
    assert _case_followups(s, p, "next_contact") == [fu]


def test_snoozing_the_transfers_reminder_leaves_the_transfer_date_alone(app_ctx):
    s = app_ctx
    p = make_participant(s)
    service.plan_case_dates(
        s, p, next_contact_on=None, transfer_on=date(2027, 3, 31), today=TODAY
    )  # fmt: skip
    [fu] = _case_followups(s, p, "transfer")
    followups.snooze(s, fu, date(2027, 3, 24), None)
    assert p.transfer_on == date(2027, 3, 31)
    assert p.next_contact_on is None


def test_tomorrow_on_mein_tag_moves_the_next_contact_of_the_participant_too(
    counsellor, mine, db_session, frozen_time
):
    service.plan_case_dates(db_session, mine, next_contact_on=TODAY, transfer_on=None, today=TODAY)
    db_session.commit()
    [fu] = _case_followups(db_session, mine, "next_contact")
    response = counsellor.post(f"/wiedervorlagen/{fu.id}/zurueckstellen", data={"period": "1d"})
    assert response.status_code == 302
    db_session.expire_all()
    assert mine.next_contact_on == TODAY + timedelta(days=1)
    page = counsellor.get(f"/teilnehmende/{mine.id}").get_data(as_text=True)
    assert "22.11.2026" in page
