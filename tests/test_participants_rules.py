"""Participant rules: deadline warnings, releases and referrals, sharing, checklist, scope."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.participants import service
from crm.participants.models import Participant, SupportItemType
from tests import factories
from tests.factories import make_participant, make_partner

D = date


# --- deadline warnings --------------------------------------------------------------------------


def _entered(session, **kwargs):
    p = make_participant(session, **kwargs)
    service.add_session(session, p, held_on=D(2026, 10, 1), minutes=481)
    return p


def test_incomplete_entry_data_warn_only_after_28_days(app_ctx):
    p = _entered(app_ctx, country_of_origin="Syrien", profession="Bauingenieur")
    assert p.entry_on == D(2026, 10, 1)
    assert service.deadline_warnings(p, D(2026, 10, 29)) == []  # day 28: still in time
    [warning] = service.deadline_warnings(p, D(2026, 10, 30))
    assert warning.kind == "entry_incomplete"
    assert warning.due_on == D(2026, 10, 29)
    assert set(warning.missing) == {"language_level", "target_field"}


def test_complete_entry_data_never_warn(app_ctx):
    p = _entered(
        app_ctx,
        country_of_origin="Ukraine",
        profession="Buchhalterin",
        language_level="B2",
        target_field="Öffentliche Verwaltung",
    )
    assert service.deadline_warnings(p, D(2027, 6, 1)) == []


def test_an_exit_without_outcome_warns_after_28_days_and_stops_once_recorded(app_ctx):
    p = make_participant(app_ctx)
    service.record_exit(app_ctx, p, exit_on=D(2026, 10, 1))
    assert service.deadline_warnings(p, D(2026, 10, 29)) == []
    assert [w.kind for w in service.deadline_warnings(p, D(2026, 10, 30))] == ["exit_incomplete"]
    service.record_exit(app_ctx, p, exit_on=D(2026, 10, 1), outcome="employment")
    assert service.deadline_warnings(p, D(2026, 10, 30)) == []


def test_the_warning_filter_in_sql_agrees_with_the_function(app_ctx):
    lead = factories.make_user(app_ctx, role="lead")
    late = _entered(app_ctx)
    fine = _entered(
        app_ctx,
        country_of_origin="Indien",
        profession="IT",
        language_level="B1",
        target_field="IT",
    )
    exited = make_participant(app_ctx)
    service.record_exit(app_ctx, exited, exit_on=D(2026, 9, 1))
    today = D(2026, 11, 21)
    items, _ = service.list_participants(
        app_ctx, lead, service.ParticipantFilters(state="warnings"), today
    )
    ids = {p.id for p in items}
    assert {late.id, exited.id} <= ids
    assert fine.id not in ids
    for p in (late, exited, fine):
        assert bool(service.deadline_warnings(p, today)) == (p.id in ids)


# --- releases and referrals ---------------------------------------------------------------------


@pytest.fixture
def case(app_ctx):
    return make_participant(app_ctx), make_partner(app_ctx, "Jobcenter Testland")


def test_an_outgoing_referral_without_a_release_is_refused_in_german(app_ctx, case):
    p, partner = case
    with pytest.raises(service.ConsentMissingError) as exc:
        service.create_referral(
            app_ctx, p, organisation=partner, referred_on=D(2026, 3, 1), direction="to"
        )
    assert "Schweigepflichtentbindung" in str(exc.value)
    assert p.referrals == []


def test_an_expired_release_does_not_allow_sending(app_ctx, case):
    p, partner = case
    service.add_release(
        app_ctx, p, organisation=partner, granted_on=D(2026, 1, 1), expires_on=D(2026, 2, 28)
    )
    service.create_referral(
        app_ctx, p, organisation=partner, referred_on=D(2026, 2, 28), direction="to"
    )
    with pytest.raises(service.ConsentMissingError):
        service.create_referral(
            app_ctx, p, organisation=partner, referred_on=D(2026, 3, 1), direction="to"
        )


def test_a_revoked_release_does_not_allow_sending_from_the_revocation_day(app_ctx, case):
    p, partner = case
    release = service.add_release(app_ctx, p, organisation=partner, granted_on=D(2026, 1, 1))
    service.revoke_release(app_ctx, release, D(2026, 3, 1))
    service.create_referral(
        app_ctx, p, organisation=partner, referred_on=D(2026, 2, 28), direction="to"
    )
    with pytest.raises(service.ConsentMissingError):
        service.create_referral(
            app_ctx, p, organisation=partner, referred_on=D(2026, 3, 1), direction="to"
        )


def test_a_release_for_another_partner_does_not_count(app_ctx, case):
    p, partner = case
    other = make_partner(app_ctx)
    service.add_release(app_ctx, p, organisation=other, granted_on=D(2026, 1, 1))
    with pytest.raises(service.ConsentMissingError):
        service.create_referral(
            app_ctx, p, organisation=partner, referred_on=D(2026, 3, 1), direction="to"
        )


def test_a_valid_release_allows_sending_and_is_kept_with_the_referral(app_ctx, case):
    p, partner = case
    release = service.add_release(
        app_ctx, p, organisation=partner, granted_on=D(2026, 1, 1), expires_on=D(2026, 12, 31)
    )
    referral = service.create_referral(
        app_ctx, p, organisation=partner, referred_on=D(2026, 3, 1), direction="to"
    )
    assert referral.status == "sent"
    assert referral.consent_release_id == release.id


def test_an_incoming_referral_needs_no_release(app_ctx, case):
    p, partner = case
    referral = service.create_referral(
        app_ctx, p, organisation=partner, referred_on=D(2026, 3, 1), direction="from"
    )
    assert referral.direction == "from"


def test_setting_a_referral_back_to_sent_needs_a_valid_release(app_ctx, case):
    p, partner = case
    release = service.add_release(app_ctx, p, organisation=partner, granted_on=D(2026, 1, 1))
    referral = service.create_referral(
        app_ctx, p, organisation=partner, referred_on=D(2026, 3, 1), direction="to"
    )
    service.set_referral_status(app_ctx, referral, "declined")
    service.revoke_release(app_ctx, release, D(2026, 2, 1))
    with pytest.raises(service.ConsentMissingError):
        service.set_referral_status(app_ctx, referral, "sent")
    assert referral.status == "declined"


def test_exports_for_a_partner_leave_out_participants_without_valid_release(app_ctx):
    partner = make_partner(app_ctx)
    office = factories.make_office(app_ctx)
    valid, expired, revoked, other, none = (
        make_participant(app_ctx, office=office) for _ in range(5)
    )
    service.add_release(app_ctx, valid, organisation=partner, granted_on=D(2026, 1, 1))
    service.add_release(
        app_ctx, expired, organisation=partner, granted_on=D(2026, 1, 1), expires_on=D(2026, 2, 1)
    )
    r = service.add_release(app_ctx, revoked, organisation=partner, granted_on=D(2026, 1, 1))
    service.revoke_release(app_ctx, r, D(2026, 2, 1))
    service.add_release(
        app_ctx, other, organisation=make_partner(app_ctx), granted_on=D(2026, 1, 1)
    )
    on = D(2026, 3, 1)
    ids = set(
        app_ctx.scalars(
            service.participants_shareable_with(partner.id, on).with_only_columns(Participant.id)
        )
    )
    mine = {valid.id, expired.id, revoked.id, other.id, none.id}
    assert ids & mine == {valid.id}
    counsellor = factories.make_user(
        app_ctx, role="counsellor", office=factories.make_office(app_ctx)
    )
    assert (
        list(app_ctx.scalars(service.participants_shareable_with(partner.id, on, counsellor))) == []
    )


# --- checklist ----------------------------------------------------------------------------------


def test_a_new_participant_gets_every_active_checklist_item_open(app_ctx):
    p = make_participant(app_ctx)
    items = service.checklist(app_ctx, p)
    keys = [i.type.key for i in items]
    assert keys[:3] == ["housing", "registration_office", "residence_permit"]
    assert len(items) == 10
    assert {i.status for i in items} == {"open"}
    assert service.progress_of(items).percent == 0


def test_checklist_progress_counts_done_of_the_items_that_are_needed(app_ctx):
    p = make_participant(app_ctx)
    items = service.checklist(app_ctx, p)
    for item in items[:3]:
        service.update_support_item(app_ctx, item, status="done", today=D(2026, 3, 1))
    for item in items[3:5]:
        service.update_support_item(app_ctx, item, status="not_needed")
    progress = service.progress_of(service.checklist(app_ctx, p))
    assert (progress.done, progress.relevant, progress.percent) == (3, 8, 38)
    assert items[0].done_on == D(2026, 3, 1)
    service.update_support_item(app_ctx, items[0], status="in_progress")
    assert items[0].done_on is None


def test_a_new_item_type_reaches_existing_participants(app_ctx):
    p = make_participant(app_ctx)
    app_ctx.add(SupportItemType(key="", name="Führerschein", position=200))
    app_ctx.flush()
    [added] = service.ensure_checklist(app_ctx, p)
    assert added.type.name == "Führerschein"
    assert service.ensure_checklist(app_ctx, p) == []


def test_open_items_per_counsellor_list_open_and_in_progress_by_due_date(app_ctx):
    office = factories.make_office(app_ctx)
    me = factories.make_user(app_ctx, role="counsellor", office=office)
    p = make_participant(app_ctx, office=office, counsellor=me)
    items = service.checklist(app_ctx, p)
    service.update_support_item(app_ctx, items[0], status="in_progress", due_on=D(2026, 5, 1))
    service.update_support_item(app_ctx, items[1], status="open", due_on=D(2026, 4, 1))
    for item in items[2:]:
        service.update_support_item(app_ctx, item, status="done")
    make_participant(app_ctx, office=office)  # someone else's
    found, total = service.open_support_items(app_ctx, me, me.id)
    assert total == 2
    assert [i.id for i in found] == [items[1].id, items[0].id]


# --- scope --------------------------------------------------------------------------------------


def test_the_scope_shows_counsellors_their_office_and_leads_everything(app_ctx):
    a, b = factories.make_office(app_ctx), factories.make_office(app_ctx)
    pa, pb = make_participant(app_ctx, office=a), make_participant(app_ctx, office=b)

    def visible(user):
        return set(
            app_ctx.scalars(service.visible_participants(user).with_only_columns(Participant.id))
        ) & {pa.id, pb.id}

    assert visible(factories.make_user(app_ctx, role="counsellor", office=a)) == {pa.id}
    assert visible(factories.make_user(app_ctx, role="counsellor", office=None)) == set()
    assert visible(factories.make_user(app_ctx, role="lead")) == {pa.id, pb.id}
    assert visible(factories.make_user(app_ctx, role="admin")) == {pa.id, pb.id}
    assert visible(factories.make_user(app_ctx, role="staff", office=a)) == set()
    assert visible(factories.make_user(app_ctx, role="readonly", office=a)) == set()


def test_erased_participants_are_out_of_scope_unless_asked_for(app_ctx):
    from crm.database import utcnow

    lead = factories.make_user(app_ctx, role="lead")
    p = make_participant(app_ctx)
    p.erased_at = utcnow()
    app_ctx.flush()
    assert service.get_participant(app_ctx, lead, p.id) is None
    stmt = service.visible_participants(lead, include_erased=True).where(Participant.id == p.id)
    assert app_ctx.scalar(stmt) is p


def test_an_exit_cannot_precede_the_first_contact(app_ctx):
    p = make_participant(app_ctx, first_contact_on=D(2026, 3, 1))
    with pytest.raises(service.ParticipantError):
        service.record_exit(app_ctx, p, exit_on=D(2026, 2, 1), outcome="employment")


def test_merging_organisations_moves_referrals_and_referrer_and_puts_releases_under_review(
    app_ctx,
):
    from crm.contacts.service import merge_organisations

    keep, drop = make_partner(app_ctx), make_partner(app_ctx, name="Verein Brücke e.V.")
    p = make_participant(app_ctx, referring_organisation_id=drop.id)
    release = service.add_release(app_ctx, p, organisation=drop, granted_on=D(2026, 1, 1))
    referral = service.create_referral(
        app_ctx, p, organisation=drop, referred_on=D(2026, 2, 1), direction="to"
    )
    merge_organisations(app_ctx, keep, drop, user=factories.make_user(app_ctx, role="lead"))
    app_ctx.expire_all()
    assert p.referring_organisation_id == keep.id
    assert release.organisation_id == keep.id
    assert release.review == "pending"
    assert release.agreed_organisation_name == "Verein Brücke e.V."
    assert not release.is_valid_on(D(2026, 3, 1))
    assert service.valid_release(app_ctx, p, keep.id, D(2026, 3, 1)) is None
    assert referral.organisation_id == keep.id
    assert app_ctx.scalar(sa.select(sa.func.count()).where(Participant.id == p.id)) == 1
