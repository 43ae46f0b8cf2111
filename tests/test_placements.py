"""Placements: the internship's follow-up, the exit's placement, matching a firm's need with
participants (office scope, the release rule, the reasons), and the pages' permissions."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.contacts import service as contacts
from crm.followups.models import FollowUp
from crm.participants import service as participants
from crm.placements import service
from crm.placements.models import Placement
from tests.factories import make_office, make_org, make_participant, make_user

D = date
TODAY = D(2026, 11, 2)


def _need(session, org, occupation="Pflegefachkraft", level=""):
    return contacts.add_need(
        session,
        org,
        occupation=occupation,
        count=2,
        surveyed_on=TODAY,
        required_language_level=level,
    )


def _release(session, p, org, granted_on=None, **kwargs):
    return participants.add_release(
        session,
        p,
        organisation=org,
        granted_on=granted_on or D(2026, 10, 1),
        scope="Vermittlung",
        **kwargs,
    )


def _nurse(session, **kwargs):
    kwargs.setdefault("profession", "Pflegefachkraft (Krankenpflege)")
    return make_participant(session, **kwargs)


def _internship(session, p, org, ends_on, placement=None, status="active"):
    return service.save_placement(
        session,
        p,
        organisation=org,
        kind="internship",
        status=status,
        starts_on=D(2026, 11, 1),
        ends_on=ends_on,
        placement=placement,
        today=TODAY,
        lead_days=7,
    )


def _open_followups(session, p):
    return list(
        session.scalars(
            sa.select(FollowUp).where(FollowUp.participant_id == p.id, FollowUp.status == "open")
        )
    )


# --- the internship's follow-up -----------------------------------------------------------------


def test_an_internship_creates_a_follow_up_for_the_counsellor_seven_days_before_its_end(app_ctx):
    p = make_participant(app_ctx)
    pl = _internship(app_ctx, p, make_org(app_ctx), D(2026, 12, 20))
    [fu] = _open_followups(app_ctx, p)
    assert pl.followup_id == fu.id
    assert fu.assignee_id == p.counsellor_id
    assert fu.due_at.date() == D(2026, 12, 13)
    assert p.pseudonym in fu.subject
    assert p.last_name not in fu.subject


def test_moving_the_internships_end_moves_its_follow_up_instead_of_adding_one(app_ctx):
    p = make_participant(app_ctx)
    org = make_org(app_ctx)
    pl = _internship(app_ctx, p, org, D(2026, 12, 20))
    first = pl.followup_id
    _internship(app_ctx, p, org, D(2027, 1, 31), placement=pl)
    [fu] = _open_followups(app_ctx, p)
    assert fu.id == first
    assert fu.due_at.date() == D(2027, 1, 24)


def test_cancelling_the_internship_cancels_its_follow_up(app_ctx):
    p = make_participant(app_ctx)
    org = make_org(app_ctx)
    pl = _internship(app_ctx, p, org, D(2026, 12, 20))
    fu_id = pl.followup_id
    _internship(app_ctx, p, org, D(2026, 12, 20), placement=pl, status="cancelled")
    assert _open_followups(app_ctx, p) == []
    assert app_ctx.get(FollowUp, fu_id).status == "cancelled"


def test_saving_an_unchanged_internship_does_not_bring_back_a_done_follow_up(app_ctx):
    p = make_participant(app_ctx)
    org = make_org(app_ctx)
    pl = _internship(app_ctx, p, org, D(2026, 12, 20))
    pl.followup.status = "done"
    pl.followup.done_at = pl.followup.due_at
    app_ctx.flush()
    _internship(app_ctx, p, org, D(2026, 12, 20), placement=pl)
    assert _open_followups(app_ctx, p) == []


def test_an_internship_without_an_end_is_refused(app_ctx):
    p = make_participant(app_ctx)
    with pytest.raises(service.PlacementError):
        _internship(app_ctx, p, make_org(app_ctx), None)


def test_a_job_gets_no_follow_up(app_ctx):
    p = make_participant(app_ctx)
    service.save_placement(
        app_ctx,
        p,
        organisation=make_org(app_ctx),
        kind="job",
        status="active",
        starts_on=D(2026, 11, 1),
        today=TODAY,
    )
    assert _open_followups(app_ctx, p) == []


# --- the exit names its placement ---------------------------------------------------------------


def _job(session, participant, status: str = "active"):
    """A job at a new firm from 01.11.2026, for the exit tests."""
    return service.save_placement(
        session,
        participant,
        organisation=make_org(session),
        kind="job",
        status=status,
        starts_on=D(2026, 11, 1),
        today=TODAY,
    )


def test_an_exit_into_employment_names_its_placement_and_another_outcome_clears_it(app_ctx):
    p = make_participant(app_ctx)
    pl = _job(app_ctx, p)
    participants.record_exit(app_ctx, p, exit_on=D(2026, 11, 2), outcome="employment")
    service.set_exit_placement(app_ctx, p, pl.id)
    assert p.exit_placement_id == pl.id
    participants.record_exit(app_ctx, p, exit_on=D(2026, 11, 2), outcome="moved_away")
    assert p.exit_placement_id is None


def test_an_exit_naming_a_planned_placement_marks_it_as_begun(app_ctx):
    p = make_participant(app_ctx)
    pl = _job(app_ctx, p, "planned")
    participants.record_exit(app_ctx, p, exit_on=D(2026, 11, 2), outcome="employment")
    service.set_exit_placement(app_ctx, p, pl.id)
    assert pl.status == "active"


def test_an_exit_cannot_name_another_participants_placement(app_ctx):
    p = make_participant(app_ctx)
    other = make_participant(app_ctx)
    pl = _job(app_ctx, other)
    participants.record_exit(app_ctx, p, exit_on=D(2026, 11, 2), outcome="employment")
    with pytest.raises(service.PlacementError):
        service.set_exit_placement(app_ctx, p, pl.id)


# --- matching -----------------------------------------------------------------------------------


def test_a_participant_without_a_release_for_the_firm_is_never_suggested_only_counted(app_ctx):
    lead = make_user(app_ctx, role="lead")
    clinic = make_org(app_ctx, name="Klinikum")
    elsewhere = make_org(app_ctx, name="Anderswo")
    with_release = _nurse(app_ctx)
    _release(app_ctx, with_release, clinic)
    for_other_firm = _nurse(app_ctx)
    _release(app_ctx, for_other_firm, elsewhere)
    revoked = _nurse(app_ctx)
    _release(app_ctx, revoked, clinic, expires_on=D(2026, 10, 31))
    _nurse(app_ctx)  # no release at all
    result = service.suggest_for_need(app_ctx, lead, _need(app_ctx, clinic), on=TODAY)
    assert [s.participant.id for s in result.items] == [with_release.id]
    assert result.without_release == 3


def test_a_counsellor_gets_suggestions_from_their_own_office_only(app_ctx):
    mine, theirs = make_office(app_ctx), make_office(app_ctx)
    counsellor = make_user(app_ctx, role="counsellor", office=mine)
    clinic = make_org(app_ctx)
    own = _nurse(app_ctx, office=mine)
    foreign = _nurse(app_ctx, office=theirs)
    for p in (own, foreign):
        _release(app_ctx, p, clinic)
    result = service.suggest_for_need(app_ctx, counsellor, _need(app_ctx, clinic), on=TODAY)
    assert [s.participant.id for s in result.items] == [own.id]
    assert result.without_release == 0  # the other office's participant is not even counted


def test_staff_get_no_suggestions_at_all(app_ctx):
    staff = make_user(app_ctx, role="staff")
    clinic = make_org(app_ctx)
    p = _nurse(app_ctx)
    _release(app_ctx, p, clinic)
    result = service.suggest_for_need(app_ctx, staff, _need(app_ctx, clinic), on=TODAY)
    assert result.items == []
    assert result.without_release == 0


def test_suggestions_are_ranked_with_the_reasons_they_matched(app_ctx):
    lead = make_user(app_ctx, role="lead")
    clinic = make_org(app_ctx, city="Magdeburg")
    best = _nurse(
        app_ctx,
        profession="Pflegefachkraft",
        recognition_status="full",
        language_level="B2",
        city="Magdeburg",
    )
    word_only = _nurse(app_ctx, profession="Fachkraft für Pflege", language_level="A2")
    unrelated = make_participant(app_ctx, profession="Schweißer", target_field="Metallbau")
    exited = _nurse(app_ctx, profession="Pflegefachkraft")
    participants.record_exit(app_ctx, exited, exit_on=D(2026, 10, 1), outcome="other")
    for p in (best, word_only, unrelated, exited):
        _release(app_ctx, p, clinic)
    result = service.suggest_for_need(app_ctx, lead, _need(app_ctx, clinic, level="B1"), on=TODAY)
    assert [s.participant.id for s in result.items] == [best.id, word_only.id]
    reasons = [str(r) for r in result.items[0].reasons]
    assert any("Pflegefachkraft" in r for r in reasons)
    assert any("B2" in r and "B1" in r for r in reasons)
    assert any("Magdeburg" in r for r in reasons)
    assert result.items[0].points > result.items[1].points
    assert any("A2" in str(r) for r in result.items[1].reasons)


def test_a_participant_already_placed_for_the_need_is_not_suggested_again(app_ctx):
    lead = make_user(app_ctx, role="lead")
    clinic = make_org(app_ctx)
    p = _nurse(app_ctx)
    _release(app_ctx, p, clinic)
    need = _need(app_ctx, clinic)
    service.place_from_suggestion(app_ctx, lead, need, p.id, today=TODAY)
    assert service.suggest_for_need(app_ctx, lead, need, on=TODAY).items == []


def test_placing_from_a_suggestion_rechecks_the_release(app_ctx):
    lead = make_user(app_ctx, role="lead")
    clinic = make_org(app_ctx)
    p = _nurse(app_ctx)
    need = _need(app_ctx, clinic)
    with pytest.raises(service.PlacementError):
        service.place_from_suggestion(app_ctx, lead, need, p.id, today=TODAY)
    _release(app_ctx, p, clinic)
    pl = service.place_from_suggestion(app_ctx, lead, need, p.id, today=TODAY)
    assert (pl.status, pl.need_id, pl.organisation_id) == ("planned", need.id, clinic.id)


def test_the_participant_sees_the_open_needs_that_fit_and_whether_a_release_exists(app_ctx):
    clinic, home = make_org(app_ctx, name="Klinikum"), make_org(app_ctx, name="Pflegeheim")
    p = _nurse(app_ctx)
    _release(app_ctx, p, clinic)
    fits = _need(app_ctx, clinic)
    other = _need(app_ctx, home, occupation="Krankenpfleger/in")
    _need(app_ctx, home, occupation="Buchhaltung")
    full = contacts.add_need(
        app_ctx, home, occupation="Pflegefachkraft", count=1, surveyed_on=TODAY
    )
    service.save_placement(
        app_ctx,
        make_participant(app_ctx),
        organisation=home,
        kind="job",
        status="active",
        starts_on=TODAY,
        need=full,
        today=TODAY,
    )
    matches = service.needs_for_participant(app_ctx, p, on=TODAY)
    assert {m.need.id: m.released for m in matches} == {fits.id: True, other.id: False}


def test_text_overlap_is_simple_and_explainable():
    assert service.text_overlap("Pflegefachkraft", "pflegefachkraft (m/w/d)") == 2
    assert service.text_overlap("Altenpfleger", "Krankenpfleger") == 0
    assert service.text_overlap("Pflegefachkraft", "Pflege") == 2
    assert service.text_overlap("Fachkraft Pflege", "Krankenpflege") == 1
    assert service.text_overlap("Elektriker", "Bäcker") == 0


# --- the firm's page ----------------------------------------------------------------------------


def test_the_firm_page_names_only_visible_participants_and_counts_the_others(app_ctx):
    mine, theirs = make_office(app_ctx), make_office(app_ctx)
    counsellor = make_user(app_ctx, role="counsellor", office=mine)
    firm = make_org(app_ctx)
    for office in (mine, theirs, theirs):
        service.save_placement(
            app_ctx,
            make_participant(app_ctx, office=office),
            organisation=firm,
            kind="job",
            status="active",
            starts_on=TODAY,
            today=TODAY,
        )
    result = service.organisation_placements(app_ctx, counsellor, firm.id)
    assert [pl.participant.office_id for pl in result.items] == [mine.id]
    assert result.hidden == 2


def test_merging_firms_moves_their_placements(app_ctx):
    keep, drop = make_org(app_ctx), make_org(app_ctx)
    pl = service.save_placement(
        app_ctx,
        make_participant(app_ctx),
        organisation=drop,
        kind="job",
        status="active",
        starts_on=TODAY,
        today=TODAY,
    )
    service.move_organisation_placements(
        "organisation", session=app_ctx, keep_id=keep.id, drop_id=drop.id
    )
    app_ctx.expire_all()
    assert app_ctx.get(Placement, pl.id).organisation_id == keep.id


def test_list_filters_by_kind_status_office_and_period(app_ctx):
    lead = make_user(app_ctx, role="lead")
    office = make_office(app_ctx)
    firm = make_org(app_ctx)
    p = make_participant(app_ctx, office=office)
    intern = _internship(app_ctx, p, firm, D(2026, 12, 20))
    job = service.save_placement(
        app_ctx,
        p,
        organisation=firm,
        kind="job",
        status="planned",
        starts_on=D(2027, 3, 1),
        today=TODAY,
    )

    def ids(**kw):
        items, total = service.list_placements(app_ctx, lead, service.PlacementFilters(**kw))
        assert total == len(items)
        return {pl.id for pl in items}

    assert ids(office_id=office.id) == {intern.id, job.id}
    assert ids(office_id=office.id, kind="internship") == {intern.id}
    assert ids(office_id=office.id, status="planned") == {job.id}
    assert ids(office_id=office.id, start=D(2027, 1, 1)) == {job.id}
    assert ids(office_id=office.id, end=D(2026, 12, 31)) == {intern.id}
    assert ids(office_id=office.id, start=D(2026, 12, 21), end=D(2027, 2, 1)) == set()


def test_internship_due_date_is_not_before_today():
    assert service.internship_due_date(D(2026, 11, 5), 7, TODAY) == TODAY
    assert service.internship_due_date(D(2026, 12, 20), 7, TODAY) == D(2026, 12, 13)


def test_erasing_a_participant_empties_the_placement_notes_and_keeps_the_placement(app_ctx):
    from crm.privacy import erasure

    p = make_participant(app_ctx)
    pl = service.save_placement(
        app_ctx,
        p,
        organisation=make_org(app_ctx),
        kind="job",
        status="active",
        starts_on=TODAY,
        note="Frau Zyxerase kommt montags",
        today=TODAY,
    )
    erasure.erase(app_ctx, erasure.participant_subject(p), confirmed=erasure.ALL_MENTIONS)
    app_ctx.expire_all()
    kept = app_ctx.get(Placement, pl.id)
    assert (kept.note, kept.kind, kept.organisation_id) == ("", "job", pl.organisation_id)


def test_support_items_one_is_responsible_for_stay_in_their_open_items_after_the_exit(app_ctx):
    office = make_office(app_ctx)
    helper = make_user(app_ctx, role="counsellor", office=office)
    p = make_participant(app_ctx, office=office)
    other = make_participant(app_ctx, office=office)
    item = participants.checklist(app_ctx, p)[0]
    participants.set_support_responsible(app_ctx, item, helper)
    participants.record_exit(app_ctx, p, exit_on=TODAY, outcome="employment")
    found, total = participants.open_support_items(app_ctx, helper, helper.id)
    assert [i.id for i in found] == [item.id]
    assert total == 1
    assert other.id not in {i.participant_id for i in found}
