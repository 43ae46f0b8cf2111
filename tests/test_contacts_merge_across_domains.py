"""Merging contacts that other domains refer to: participants' releases, referrals, the audit log.

Issue 12, finding 1: a staff user could re-target participants' releases from confidentiality by
merging organisations, and the rows other domains changed were not audited.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.contacts import service as contacts
from crm.contacts.models import Organisation
from crm.events import service as events
from crm.events.models import Event, EventContact, Lead
from crm.followups.models import FollowUp
from crm.newsletters import service as newsletters
from crm.newsletters.models import ConsentEvent, Subscription
from crm.participants import service
from crm.participants.models import ConsentRelease, Participant, Referral
from tests import factories
from tests.factories import make_list, make_participant

GRANTED = date(2026, 1, 5)


def org(session, name, kind):
    return contacts.save_organisation(session, {"name": name, "kind": kind})


@pytest.fixture
def shared_with_association(db_session):
    """An employer, an association, and a participant whose release names the association."""
    employer = org(db_session, "Stahlbau Elbe GmbH", "employer")
    association = org(db_session, "Verein Brücke e.V.", "association")
    participant = make_participant(db_session, last_name="Amiri")
    release = service.add_release(
        db_session, participant, organisation=association, granted_on=GRANTED
    )
    db_session.commit()
    return employer, association, participant, release


def export_names(client, organisation_id) -> list[str]:
    response = client.get(f"/teilnehmende/partner-export?organisation={organisation_id}")
    assert response.status_code == 200
    text = response.get_data().decode("utf-8-sig")
    return [row["Nachname"] for row in csv.DictReader(io.StringIO(text), delimiter=";")]


def merge(client, keep, drop):
    return client.post(
        f"/kontakte/organisationen/{keep.id}/zusammenfuehren/{drop.id}",
        data={"keep": str(keep.id)},
    )


# --- (a) who may merge ---------------------------------------------------------------------------


def test_staff_cannot_merge_an_association_named_in_a_release_into_an_employer(
    client_as, db_session, shared_with_association
):
    employer, association, participant, release = shared_with_association
    staff, lead = client_as("staff"), client_as("lead")

    response = merge(staff, employer, association)

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Diese Zusammenführung betrifft Daten von Teilnehmenden" in page
    assert "Nur Projektleitung oder Administration" in page
    db_session.expire_all()
    assert db_session.get(Organisation, association.id) is not None
    assert db_session.get(ConsentRelease, release.id).organisation_id == association.id
    assert export_names(lead, employer.id) == []
    assert export_names(lead, association.id) == ["Amiri"]


@pytest.mark.parametrize("reference", ["referral", "referrer"])
def test_staff_cannot_merge_away_an_organisation_that_a_referral_or_referrer_names(
    client_as, db_session, reference
):
    keep = org(db_session, "Bildungswerk Nord", "education")
    drop = org(db_session, "Bildungswerk Nord gGmbH", "education")
    if reference == "referrer":
        make_participant(db_session, referring_organisation_id=drop.id)
    else:
        p = make_participant(db_session)
        service.create_referral(
            db_session, p, organisation=drop, referred_on=GRANTED, direction="from"
        )
    db_session.commit()

    assert merge(client_as("staff"), keep, drop).status_code == 403
    db_session.expire_all()
    assert db_session.get(Organisation, drop.id) is not None


def test_staff_are_warned_on_the_merge_page_who_may_merge_records_participants_refer_to(
    client_as, shared_with_association
):
    employer, association, _p, _r = shared_with_association
    page = client_as("staff").get(
        f"/kontakte/organisationen/{employer.id}/zusammenfuehren/{association.id}"
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="merge-blockers"' in html
    assert "Nur Projektleitung oder Administration" in html


def test_staff_are_offered_the_direction_they_may_merge_in_instead_of_a_refusal(
    client_as, db_session, shared_with_association
):
    employer, association, _p, _r = shared_with_association
    staff = client_as("staff")
    url = f"/kontakte/organisationen/{employer.id}/zusammenfuehren/{association.id}"
    html = staff.get(url).get_data(as_text=True)
    # Dropping the association would move a participant's release: only keeping it is allowed.
    assert f'id="keep-{association.id}" value="{association.id}" checked' in html
    assert f'id="keep-{employer.id}" value="{employer.id}" disabled' in html
    allowed = html.split('id="merge-allowed-keep">', 1)[1].split("</p>", 1)[0]
    assert (
        allowed == f"Sie können sie selbst zusammenführen, wenn Sie Nr. {association.id} behalten."
    )
    assert merge(staff, association, employer).status_code == 302


def test_staff_see_no_merge_button_when_both_records_hold_participant_data(
    client_as, db_session, shared_with_association
):
    employer, association, _p, _r = shared_with_association
    make_participant(db_session, referring_organisation_id=employer.id)
    db_session.commit()
    html = (
        client_as("staff")
        .get(f"/kontakte/organisationen/{employer.id}/zusammenfuehren/{association.id}")
        .get_data(as_text=True)
    )
    assert 'id="merge-blockers"' in html
    assert 'id="merge-form"' not in html
    assert 'id="merge-allowed-keep"' not in html
    assert f'href="/kontakte/organisationen/{employer.id}">Zurück</a>' in html


def test_staff_still_merge_organisations_that_no_participant_data_names(client_as, db_session):
    keep = org(db_session, "Bäckerei Schäfer", "employer")
    drop = org(db_session, "Baeckerei Schaefer", "employer")
    db_session.commit()
    drop_id = drop.id
    assert merge(client_as("staff"), keep, drop).status_code == 302
    db_session.expire_all()
    assert db_session.get(Organisation, drop_id) is None


def test_the_merge_service_refuses_a_user_without_participant_rights(
    app_ctx, shared_with_association
):
    employer, association, _p, _r = shared_with_association
    staff = factories.make_user(app_ctx, role="staff")
    with pytest.raises(contacts.MergeRefusedError):
        contacts.merge_organisations(app_ctx, employer, association, user=staff)


# --- (b) releases are never silently moved ------------------------------------------------------


def test_after_a_lead_merges_the_partner_export_leaves_the_participant_out_until_confirmed(
    client_as, db_session, shared_with_association
):
    employer, association, participant, release = shared_with_association
    lead = client_as("lead")

    response = merge(lead, employer, association)

    assert response.status_code == 302
    notice = lead.get(response.headers["Location"]).get_data(as_text=True)
    review_url = f"/teilnehmende/freigaben/pruefen?organisation={employer.id}"
    assert f'href="{review_url}"' in notice
    assert export_names(lead, employer.id) == []
    review = lead.get(review_url).get_data(as_text=True)
    assert f'data-release-id="{release.id}"' in review
    assert "Verein Brücke e.V." in review

    decided = lead.post(
        f"/teilnehmende/freigaben/{release.id}/pruefen", data={"decision": "confirm"}
    )

    assert decided.status_code == 302
    assert export_names(lead, employer.id) == ["Amiri"]
    db_session.expire_all()
    assert db_session.get(ConsentRelease, release.id).review == ""


def test_a_release_marked_as_needing_renewal_blocks_referrals_to_the_merged_organisation(
    client_as, db_session, shared_with_association
):
    employer, association, participant, release = shared_with_association
    admin = client_as("admin")
    assert merge(admin, employer, association).status_code == 302

    decided = admin.post(
        f"/teilnehmende/freigaben/{release.id}/pruefen", data={"decision": "renew"}
    )

    assert decided.status_code == 302
    db_session.expire_all()
    assert db_session.get(ConsentRelease, release.id).review == "renew"
    assert export_names(admin, employer.id) == []
    with pytest.raises(service.ConsentMissingError):
        service.create_referral(
            db_session,
            db_session.get(Participant, participant.id),
            organisation=db_session.get(Organisation, employer.id),
            referred_on=date(2026, 6, 1),
            direction="to",
        )
    detail = admin.get(f"/teilnehmende/{participant.id}").get_data(as_text=True)
    assert 'data-review="renew"' in detail


def test_a_release_awaiting_review_blocks_referrals_until_it_is_confirmed(
    app_ctx, shared_with_association
):
    employer, association, participant, release = shared_with_association
    lead = factories.make_user(app_ctx, role="lead")
    contacts.merge_organisations(app_ctx, employer, association, user=lead)
    with pytest.raises(service.ConsentMissingError):
        service.create_referral(
            app_ctx, participant, organisation=employer, referred_on=GRANTED, direction="to"
        )
    service.review_release(app_ctx, release, "confirm")
    referral = service.create_referral(
        app_ctx, participant, organisation=employer, referred_on=GRANTED, direction="to"
    )
    assert referral.consent_release_id == release.id


def test_releases_awaiting_review_are_linked_from_the_participant_page_and_the_list(
    client_as, db_session, shared_with_association
):
    employer, association, participant, release = shared_with_association
    lead = client_as("lead")
    assert merge(lead, employer, association).status_code == 302

    detail = lead.get(f"/teilnehmende/{participant.id}").get_data(as_text=True)
    assert 'data-review="pending"' in detail
    assert f"/teilnehmende/freigaben/pruefen?organisation={employer.id}" in detail
    listing = lead.get("/teilnehmende/").get_data(as_text=True)
    assert 'id="releases-to-review"' in listing
    assert 'href="/teilnehmende/freigaben/pruefen"' in listing


@pytest.mark.parametrize("role", ["counsellor", "staff", "readonly"])
def test_only_leads_and_admins_may_review_releases_moved_by_a_merge(
    client_as, db_session, shared_with_association, role
):
    employer, association, _participant, release = shared_with_association
    contacts.merge_organisations(
        db_session, employer, association, user=factories.make_user(db_session, role="admin")
    )
    db_session.commit()
    c = client_as(role)
    assert c.get("/teilnehmende/freigaben/pruefen").status_code == 403
    post = c.post(f"/teilnehmende/freigaben/{release.id}/pruefen", data={"decision": "confirm"})
    assert post.status_code == 403
    db_session.expire_all()
    assert db_session.get(ConsentRelease, release.id).review == "pending"


def test_a_review_decision_must_be_confirm_or_renew(client_as, db_session, shared_with_association):
    employer, association, _participant, release = shared_with_association
    lead = client_as("lead")
    assert merge(lead, employer, association).status_code == 302
    bad = lead.post(f"/teilnehmende/freigaben/{release.id}/pruefen", data={"decision": "x"})
    assert bad.status_code == 400
    assert lead.post("/teilnehmende/freigaben/999999/pruefen").status_code == 404


# --- (c) every row another domain changes is audited ---------------------------------------------


def moved_rows(session) -> set[tuple[str, int, str]]:
    entries = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "merge_move"))
    return {(e.entity_type, e.entity_id, e.changes["fields"][0]) for e in entries}


def test_every_row_an_organisation_merge_changes_in_other_domains_is_in_the_audit_log(
    client_as, db_session
):
    session = db_session
    client = client_as("lead")
    lead = client.user
    keep = org(session, "Stahlbau Elbe GmbH", "employer")
    drop = org(session, "Verein Brücke e.V.", "association")
    p = make_participant(session, referring_organisation_id=drop.id)
    release = service.add_release(session, p, organisation=drop, granted_on=GRANTED)
    referral = service.create_referral(
        session, p, organisation=drop, referred_on=GRANTED, direction="to"
    )
    event = events.create_event(
        session,
        events.EventData(
            kind="fair",
            title="Jobmesse",
            start_local=datetime.combine(date(2027, 3, 10), time(9)),
            end_local=datetime.combine(date(2027, 3, 10), time(17)),
            organiser_id=drop.id,
        ),
    )
    lead_row = events.capture_lead(
        session,
        event,
        events.LeadData(first_name="Eva", last_name="Kontakt", organisation_name=drop.name),
        captured_by=lead,
        assignee=lead,
        now=datetime.now(UTC),
    )
    assert lead_row.organisation_id == drop.id
    followups = set(
        session.scalars(sa.select(FollowUp.id).where(FollowUp.organisation_id == drop.id))
    )
    assert followups
    session.commit()

    assert merge(client, keep, drop).status_code == 302

    assert moved_rows(session) == {
        ("participant", p.id, "referring_organisation_id"),
        ("referral", referral.id, "organisation_id"),
        ("consent_release", release.id, "organisation_id"),
        ("consent_release", release.id, "agreed_organisation_name"),
        ("consent_release", release.id, "review"),
        ("event", event.id, "organiser_id"),
        ("lead", lead_row.id, "organisation_id"),
        *{("followup", i, "organisation_id") for i in followups},
    }
    session.expire_all()
    assert session.get(Event, event.id).organiser_id == keep.id
    assert session.get(Lead, lead_row.id).organisation_id == keep.id
    assert session.get(Referral, referral.id).organisation_id == keep.id
    assert {session.get(FollowUp, i).organisation_id for i in followups} == {keep.id}


def test_every_row_a_person_merge_changes_in_other_domains_is_in_the_audit_log(
    client_as, db_session
):
    session = db_session
    keep = contacts.save_person(
        session, {"first_name": "Eva", "last_name": "Doppelt", "email": "eva@example.org"}
    )
    drop = contacts.save_person(
        session, {"first_name": "Eva", "last_name": "Doppelt2", "email": "eva2@example.org"}
    )
    both, only_drop = make_list(session), make_list(session)
    newsletters.record_consent(session, person=keep, lst=both, method="paper")
    newsletters.record_consent(session, person=drop, lst=both, method="paper")
    moved_sub = newsletters.record_consent(session, person=drop, lst=only_drop, method="paper")
    event = events.create_event(
        session,
        events.EventData(
            kind="presentation",
            title="Vorstellung",
            start_local=datetime.combine(date(2027, 3, 10), time(9)),
            end_local=datetime.combine(date(2027, 3, 10), time(10)),
        ),
    )
    other_event = events.create_event(
        session,
        events.EventData(
            kind="presentation",
            title="Zweite Vorstellung",
            start_local=datetime.combine(date(2027, 3, 11), time(9)),
            end_local=datetime.combine(date(2027, 3, 11), time(10)),
        ),
    )
    events.set_contact(session, event, keep, "invited")
    duplicate = events.set_contact(session, event, drop, "invited")
    moved_contact = events.set_contact(session, other_event, drop, "invited")
    session.flush()
    drop_subs = {
        s.list_id: s.id
        for s in session.scalars(sa.select(Subscription).where(Subscription.person_id == drop.id))
    }
    ledger = list(
        session.scalars(sa.select(ConsentEvent.id).where(ConsentEvent.person_id == drop.id))
    )
    assert ledger
    session.commit()
    duplicate_id, moved_sub_id, moved_contact_id = duplicate.id, moved_sub.id, moved_contact.id

    response = client_as("staff").post(
        f"/kontakte/personen/{keep.id}/zusammenfuehren/{drop.id}", data={"keep": str(keep.id)}
    )
    assert response.status_code == 302

    rows = moved_rows(session)
    assert ("newsletter_subscription", moved_sub_id, "person_id") in rows
    assert ("newsletter_subscription", drop_subs[both.id], "person_id") in rows  # merged, deleted
    assert {("consent_event", i, "person_id") for i in ledger} <= rows
    assert ("event_contact", duplicate_id, "person_id") in rows  # deleted: keep is invited
    assert ("event_contact", moved_contact_id, "person_id") in rows
    session.expire_all()
    assert session.get(EventContact, moved_contact_id).person_id == keep.id
    assert session.get(EventContact, duplicate_id) is None


# --- deleting an organisation that participants' data name ---------------------------------------


@pytest.mark.parametrize("role", ["staff", "counsellor"])
def test_staff_and_counsellors_cannot_delete_an_organisation_named_in_a_release(
    client_as, db_session, shared_with_association, role
):
    _employer, association, _participant, release = shared_with_association
    response = client_as(role).post(f"/kontakte/organisationen/{association.id}/loeschen")
    assert response.status_code == 403
    assert "Nur Projektleitung oder Administration" in response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(ConsentRelease, release.id) is not None


def test_the_releases_a_lead_deletes_with_an_organisation_are_in_the_audit_log(
    client_as, db_session, shared_with_association
):
    _employer, association, _participant, release = shared_with_association
    release_id = release.id
    assert client_as("lead").post(
        f"/kontakte/organisationen/{association.id}/loeschen"
    ).status_code == (302)
    entries = db_session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "delete_cascade")
    ).all()
    assert {(e.entity_type, e.entity_id) for e in entries} == {("consent_release", release_id)}


def test_an_organisation_several_people_work_at_is_deleted_without_error(client_as, db_session):
    association = org(db_session, "Verein Brücke e.V.", "association")
    for n in range(2):
        person = contacts.save_person(db_session, {"first_name": "Ina", "last_name": f"M{n}"})
        contacts.add_affiliation(db_session, person, association)
    db_session.commit()
    org_id = association.id
    response = client_as("staff").post(f"/kontakte/organisationen/{org_id}/loeschen")
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(Organisation, org_id) is None


def test_a_release_marked_as_needing_renewal_stays_so_through_a_later_merge(
    app_ctx, shared_with_association
):
    employer, association, _participant, release = shared_with_association
    lead = factories.make_user(app_ctx, role="lead")
    contacts.merge_organisations(app_ctx, employer, association, user=lead)
    service.review_release(app_ctx, release, "renew")
    successor = org(app_ctx, "Stahlbau Elbe Holding", "employer")
    contacts.merge_organisations(app_ctx, successor, employer, user=lead)
    assert release.organisation_id == successor.id
    assert release.review == "renew"
    assert release.agreed_organisation_name == "Verein Brücke e.V."
