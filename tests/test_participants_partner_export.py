"""Exports for a partner leave out participants without a valid release; checklist config."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.database import utcnow
from crm.participants import service
from crm.participants.models import SupportItemType
from tests import factories
from tests.factories import make_participant, make_partner


def _rows(response) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_the_partner_export_contains_only_participants_with_a_valid_release(client_as, db_session):
    c = client_as("lead")
    partner = make_partner(db_session, name="Jobcenter Test")
    other = make_partner(db_session, name="Anderer Partner")
    today = utcnow().date()
    valid = make_participant(db_session, last_name="Mitfreigabe")
    expired = make_participant(db_session, last_name="Abgelaufen")
    revoked = make_participant(db_session, last_name="Widerrufen")
    elsewhere = make_participant(db_session, last_name="Anderswo")
    make_participant(db_session, last_name="Ohnefreigabe")
    service.add_release(
        db_session, valid, organisation=partner, granted_on=today - timedelta(days=3)
    )
    service.add_release(
        db_session,
        expired,
        organisation=partner,
        granted_on=date(2025, 1, 1),
        expires_on=today - timedelta(days=1),
    )
    release = service.add_release(
        db_session, revoked, organisation=partner, granted_on=date(2025, 1, 1)
    )
    service.revoke_release(db_session, release, today - timedelta(days=1))
    service.add_release(db_session, elsewhere, organisation=other, granted_on=date(2025, 1, 1))
    db_session.commit()

    response = c.get(f"/teilnehmende/partner-export?organisation={partner.id}")
    assert response.status_code == 200
    assert [r["Nachname"] for r in _rows(response)] == ["Mitfreigabe"]
    entry = db_session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id.desc())
    )
    assert f"#{partner.id}" in entry.summary


def test_a_counsellor_exports_only_their_own_office(client_as, db_session):
    office = factories.make_office(db_session)
    c = client_as("counsellor", office=office)
    partner = make_partner(db_session)
    mine = make_participant(db_session, office=office, counsellor=c.user, last_name="Eigene")
    theirs = make_participant(db_session, last_name="Fremde")
    for p in (mine, theirs):
        service.add_release(db_session, p, organisation=partner, granted_on=date(2025, 1, 1))
    db_session.commit()
    rows = _rows(c.get(f"/teilnehmende/partner-export?organisation={partner.id}"))
    assert [r["Nachname"] for r in rows] == ["Eigene"]


def test_staff_cannot_export_participants_for_a_partner(client_as):
    assert client_as("staff").get("/teilnehmende/partner-export").status_code == 403


def test_a_lead_adds_a_checklist_item_that_new_checklists_get(client_as, db_session):
    c = client_as("lead")
    response = c.post("/teilnehmende/checkliste", data={"name": "Führerschein umschreiben"})
    assert response.status_code == 302
    item_type = db_session.scalar(
        sa.select(SupportItemType).where(SupportItemType.name == "Führerschein umschreiben")
    )
    assert item_type.is_active
    p = make_participant(db_session)
    service.ensure_checklist(db_session, p)
    assert "Führerschein umschreiben" in [i.type.name for i in service.checklist(db_session, p)]
    c.post(f"/teilnehmende/checkliste/{item_type.id}/aktiv")
    db_session.refresh(item_type)
    assert not item_type.is_active


def test_counsellors_cannot_configure_the_checklist(client_as):
    c = client_as("counsellor")
    assert c.get("/teilnehmende/checkliste").status_code == 403
    assert c.post("/teilnehmende/checkliste", data={"name": "X"}).status_code == 403


def test_the_partner_export_states_the_recognition_status_in_german_words(client_as, db_session):
    """The partner's file said "in_progress" where the app says "in Bearbeitung"."""
    c = client_as("lead")
    partner = make_partner(db_session)
    p = make_participant(db_session, last_name="Statuswort", recognition_status="in_progress")
    service.add_release(db_session, p, organisation=partner, granted_on=date(2025, 1, 1))
    db_session.commit()
    (row,) = _rows(c.get(f"/teilnehmende/partner-export?organisation={partner.id}"))
    assert row["Anerkennungsstatus"] == "in Bearbeitung"
