"""Absences: who may keep whose, the date rules, the pages, and the inquiry round robin that
skips absent users while keeping the turn fair."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from crm.accounts import absences
from crm.accounts.models import Absence
from crm.audit.models import AuditEntry
from crm.intake import service
from crm.intake.models import Inquiry
from tests import factories

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Berlin, Monday 23.11.2026
MONDAY = date(2026, 11, 23)


def _create(session: Any, office_id: int, now: datetime = MONDAY_9) -> Inquiry:
    return service.create_inquiry(
        session,
        service.InquiryData(
            kind="person", topic="job", office_id=office_id, name="Olena", email="o@example.org"
        ),
        channel="web",
        now=now,
        consent_text="Einverstanden.",
        consent_version="test",
    )


def _rule(session: Any, office: Any, users: list[Any]) -> None:
    service.save_rule(session, None, office_id=office.id, topic="", user_ids=[u.id for u in users])


def _away(session: Any, user: Any, first: date, last: date, kind: str = "vacation") -> Absence:
    return absences.save_absence(
        session, user, user, first_day=first, last_day=last, kind=kind, note=""
    )


# --- round robin --------------------------------------------------------------------------------


def test_round_robin_gives_each_of_three_users_33_or_34_of_100_inquiries(app_ctx):
    session = app_ctx
    office = factories.make_office(session)
    team = [factories.make_user(session, office=office) for _ in range(3)]
    _rule(session, office, team)
    given = Counter(_create(session, office.id).assigned_to_id for _ in range(100))
    assert set(given) == {u.id for u in team}
    assert sorted(given.values()) == [33, 33, 34]


def test_users_of_another_office_never_get_an_inquiry_of_this_office(app_ctx):
    session = app_ctx
    office, other = factories.make_office(session), factories.make_office(session)
    team = [factories.make_user(session, office=office) for _ in range(3)]
    elsewhere = [factories.make_user(session, office=other) for _ in range(2)]
    _rule(session, office, team)
    _rule(session, other, elsewhere)
    given = {_create(session, office.id).assigned_to_id for _ in range(100)}
    assert given == {u.id for u in team}
    assert not given & {u.id for u in elsewhere}


def test_an_absent_user_gets_no_inquiry_during_the_absence_and_turns_again_after(app_ctx):
    session = app_ctx
    office = factories.make_office(session)
    team = [factories.make_user(session, office=office) for _ in range(3)]
    _rule(session, office, team)
    away = team[1]
    # Absent Monday to Wednesday (Berlin dates, both inclusive).
    _away(session, away, MONDAY, MONDAY + timedelta(days=2))
    during = Counter()
    for day in range(3):
        for hour in range(20):
            now = MONDAY_9 + timedelta(days=day, minutes=hour * 20)
            during[_create(session, office.id, now).assigned_to_id] += 1
    assert away.id not in during
    assert sorted(during.values()) == [30, 30]
    # Wednesday 23:30 Berlin is still Wednesday; Thursday 00:30 Berlin is the first day back.
    late_wednesday = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    assert _create(session, office.id, late_wednesday).assigned_to_id != away.id
    after = Counter(
        _create(session, office.id, datetime(2026, 11, 25, 23, 30, tzinfo=UTC)).assigned_to_id
        for _ in range(99)
    )
    # Back in the rotation with an equal share, no backlog of the missed turns.
    assert after == {u.id: 33 for u in team}


def test_when_everyone_in_the_rule_is_absent_the_present_lead_gets_it_not_an_absent_one(app_ctx):
    session = app_ctx
    office = factories.make_office(session)
    team = [factories.make_user(session, office=office) for _ in range(2)]
    first_lead = factories.make_user(session, role="lead", office=office)
    second_lead = factories.make_user(session, role="lead", office=office)
    _rule(session, office, team)
    for user in [*team, first_lead]:
        _away(session, user, MONDAY, MONDAY)
    assert _create(session, office.id).assigned_to_id == second_lead.id
    # Everyone absent: the first lead still owns it; an inquiry never stays without a person.
    _away(session, second_lead, MONDAY, MONDAY)
    admin_ids = set(
        session.scalars(sa.select(factories.User.id).where(factories.User.role == "admin"))
    )
    absences_of_admins = absences.absent_user_ids(session, admin_ids, MONDAY)
    chosen = _create(session, office.id).assigned_to_id
    assert chosen in ({first_lead.id} | (admin_ids - absences_of_admins))


# --- the rules of an absence ---------------------------------------------------------------------


def test_the_last_day_before_the_first_day_is_refused_in_german(app_ctx):
    user = factories.make_user(app_ctx)
    with pytest.raises(absences.AbsenceError) as refused:
        _away(app_ctx, user, MONDAY, MONDAY - timedelta(days=1))
    assert "letzte Tag" in str(refused.value)


def test_an_overlapping_absence_is_refused_naming_the_one_it_overlaps(app_ctx):
    user = factories.make_user(app_ctx)
    _away(app_ctx, user, MONDAY, MONDAY + timedelta(days=4))
    with pytest.raises(absences.AbsenceError) as refused:
        _away(app_ctx, user, MONDAY + timedelta(days=4), MONDAY + timedelta(days=8))
    assert "23.11.2026" in str(refused.value)
    assert "27.11.2026" in str(refused.value)
    # The day after is fine, and another user's absence on the same days too.
    _away(app_ctx, user, MONDAY + timedelta(days=5), MONDAY + timedelta(days=8))
    _away(app_ctx, factories.make_user(app_ctx), MONDAY, MONDAY)


def test_absent_until_follows_absences_that_continue_without_a_gap(app_ctx):
    user = factories.make_user(app_ctx)
    _away(app_ctx, user, MONDAY, MONDAY + timedelta(days=1))
    _away(app_ctx, user, MONDAY + timedelta(days=2), MONDAY + timedelta(days=3), kind="travel")
    _away(app_ctx, user, MONDAY + timedelta(days=7), MONDAY + timedelta(days=8))
    assert absences.absent_until(app_ctx, user.id, MONDAY) == MONDAY + timedelta(days=3)
    assert absences.absent_until(app_ctx, user.id, MONDAY + timedelta(days=4)) is None


def test_a_lead_keeps_the_absences_of_their_office_only_and_a_counsellor_only_their_own(app_ctx):
    office, other = factories.make_office(app_ctx), factories.make_office(app_ctx)
    lead = factories.make_user(app_ctx, role="lead", office=office)
    mine = factories.make_user(app_ctx, office=office)
    theirs = factories.make_user(app_ctx, office=other)
    admin = factories.make_user(app_ctx, role="admin")
    assert absences.may_manage(lead, mine)
    assert not absences.may_manage(lead, theirs)
    assert absences.may_manage(admin, theirs)
    assert not absences.may_manage(mine, lead)
    with pytest.raises(absences.AbsenceError):
        absences.save_absence(
            app_ctx, mine, lead, first_day=MONDAY, last_day=MONDAY, kind="sick", note=""
        )


def test_saving_an_absence_is_audited_without_its_kind_or_note(app_ctx):
    user = factories.make_user(app_ctx)
    absence = absences.save_absence(
        app_ctx, user, user, first_day=MONDAY, last_day=MONDAY, kind="sick", note="Grippe"
    )
    entry = app_ctx.scalar(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "absence", AuditEntry.entity_id == absence.id
        )
    )
    assert entry is not None
    assert entry.action == "create"
    assert "Grippe" not in str(entry.changes)


# --- pages ----------------------------------------------------------------------------------------


def _absence_count(session: Any, user_id: int) -> int:
    return session.scalar(
        sa.select(sa.func.count()).select_from(Absence).where(Absence.user_id == user_id)
    )


def test_a_user_adds_edits_and_deletes_their_own_absence(client_as, db_session):
    c = client_as("counsellor")
    page = c.get("/konto/abwesenheiten")
    assert page.status_code == 200
    assert "Meine Abwesenheiten" in page.get_data(as_text=True)
    added = c.post(
        "/konto/abwesenheiten",
        data={"first_day": "2026-12-21", "last_day": "2026-12-31", "kind": "vacation", "note": ""},
    )
    assert added.status_code == 302
    absence = db_session.scalar(sa.select(Absence).where(Absence.user_id == c.user.id))
    assert (absence.first_day, absence.last_day) == (date(2026, 12, 21), date(2026, 12, 31))
    edited = c.post(
        f"/abwesenheiten/{absence.id}",
        data={"first_day": "2026-12-22", "last_day": "2026-12-31", "kind": "travel", "note": "x"},
    )
    assert edited.status_code == 302
    db_session.expire_all()
    assert db_session.get(Absence, absence.id).kind == "travel"
    assert c.post(f"/abwesenheiten/{absence.id}/loeschen").status_code == 302
    assert _absence_count(db_session, c.user.id) == 0


def test_bad_dates_show_a_german_error_and_keep_what_was_typed(client_as, db_session):
    c = client_as("counsellor")
    page = c.post(
        "/konto/abwesenheiten",
        data={"first_day": "2026-12-21", "last_day": "2026-12-01", "kind": "sick", "note": "Kur"},
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Der letzte Tag darf nicht vor dem ersten Tag liegen." in html
    assert 'value="2026-12-21"' in html
    assert 'value="Kur"' in html
    garbage = c.post(
        "/konto/abwesenheiten",
        data={"first_day": "morgen", "last_day": "", "kind": "nonsense", "note": ""},
    )
    assert garbage.status_code == 200
    assert _absence_count(db_session, c.user.id) == 0


def test_an_absence_is_not_saved_without_a_csrf_token(client_as, db_session):
    c = client_as("counsellor")
    c.post(
        "/konto/abwesenheiten",
        data={"first_day": "2026-12-21", "last_day": "2026-12-22", "kind": "vacation"},
        csrf=False,
    )
    assert _absence_count(db_session, c.user.id) == 0


def test_a_counsellor_cannot_see_edit_or_delete_another_users_absence(client_as, db_session):
    owner = client_as("counsellor")
    other = client_as("counsellor")
    absence = _away(db_session, owner.user, MONDAY, MONDAY)
    db_session.commit()
    assert other.get(f"/abwesenheiten/{absence.id}").status_code == 404
    other.post(
        f"/abwesenheiten/{absence.id}",
        data={"first_day": "2026-12-01", "last_day": "2026-12-02", "kind": "sick"},
    )
    assert other.post(f"/abwesenheiten/{absence.id}/loeschen").status_code == 404
    assert other.get(f"/verwaltung/benutzer/{owner.user.id}/abwesenheiten").status_code == 403
    assert other.get("/verwaltung/abwesenheiten").status_code == 403
    db_session.expire_all()
    kept = db_session.get(Absence, absence.id)
    assert (kept.first_day, kept.kind) == (MONDAY, "vacation")


def test_a_lead_records_an_absence_for_a_user_of_their_office_but_not_of_another(
    client_as, db_session
):
    office, other = factories.make_office(db_session), factories.make_office(db_session)
    lead = client_as("lead", office=office)
    mine = factories.make_user(db_session, office=office, display_name="Maja Meins")
    theirs = factories.make_user(db_session, office=other)
    db_session.commit()
    team = lead.get("/verwaltung/abwesenheiten").get_data(as_text=True)
    assert "Maja Meins" in team
    data = {"first_day": "2026-12-21", "last_day": "2026-12-23", "kind": "sick", "note": ""}
    assert lead.post(f"/verwaltung/benutzer/{mine.id}/abwesenheiten", data=data).status_code == 302
    assert _absence_count(db_session, mine.id) == 1
    refused = lead.post(f"/verwaltung/benutzer/{theirs.id}/abwesenheiten", data=data)
    assert refused.status_code == 404
    assert _absence_count(db_session, theirs.id) == 0


def test_the_start_page_says_until_when_the_user_is_absent_and_shows_a_lead_the_team(
    client_as, db_session, frozen_time
):
    office = factories.make_office(db_session)
    lead = client_as("lead", office=office)
    counsellor = client_as("counsellor", office=office, display_name="Carla Abwesend")
    today = date(2026, 11, 21)
    _away(db_session, counsellor.user, today, today + timedelta(days=2))
    db_session.commit()
    own = counsellor.get("/").get_data(as_text=True)
    assert 'id="today-absent"' in own
    assert "23.11.2026" in own
    board = lead.get("/").get_data(as_text=True)
    assert 'id="today-absent"' not in board
    assert "Carla Abwesend" in board.split('id="today-absences"')[1].split("</section>")[0]


def test_on_a_sunday_the_lead_sees_the_absences_of_the_week_ending_that_day(
    client_as, db_session, frozen_time
):
    frozen_time.move_to(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))  # Sunday
    office = factories.make_office(db_session)
    lead = client_as("lead", office=office)
    monday = client_as("counsellor", office=office, display_name="Mona Montag")
    next_week = client_as("counsellor", office=office, display_name="Nils Naechstewoche")
    _away(db_session, monday.user, date(2026, 11, 30), date(2026, 11, 30))
    _away(db_session, next_week.user, date(2026, 12, 7), date(2026, 12, 8))
    db_session.commit()
    team = lead.get("/").get_data(as_text=True).split('id="today-absences"')[1]
    team = team.split("</section>")[0]
    assert "Mona Montag" in team
    assert "Nils Naechstewoche" not in team


def test_the_inquiry_page_hints_that_the_assignee_is_absent(client_as, db_session, frozen_time):
    office = factories.make_office(db_session)
    lead = client_as("lead", office=office)
    counsellor = factories.make_user(db_session, office=office)
    _rule(db_session, office, [counsellor])
    inquiry = _create(db_session, office.id, datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    assert inquiry.assigned_to_id == counsellor.id
    _away(db_session, counsellor, date(2026, 11, 21), date(2026, 11, 24))
    db_session.commit()
    html = lead.get(f"/anfragen/{inquiry.id}").get_data(as_text=True)
    assert 'id="inquiry-assignee-absent"' in html
    assert "24.11.2026" in html
