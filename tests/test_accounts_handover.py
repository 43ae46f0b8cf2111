"""Handing over what a leaving user holds before an admin deactivates them (Verwaltung →
Benutzer → Deaktivieren → Übergabe)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from crm.accounts.models import User
from crm.audit.models import AuditEntry
from crm.bulk import handover
from crm.events.models import Event
from crm.followups import service as followups
from crm.followups.models import FollowUp
from crm.intake import service as intake
from crm.intake.models import Inquiry
from crm.participants.models import Participant
from tests import factories

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _holdings(session: Any) -> dict[str, Any]:
    """A leaving counsellor of office A with something of every kind, and colleagues."""
    office, elsewhere = factories.make_office(session), factories.make_office(session)
    leaver = factories.make_user(
        session, role="counsellor", office=office, display_name="Lena Gehtweg"
    )
    # She also works in the second office, where the colleague does not.
    leaver.offices = [office, elsewhere]
    colleague = factories.make_user(
        session, role="counsellor", office=office, display_name="Kim Kollegin"
    )
    here = [factories.make_participant(session, office=office, counsellor=leaver) for _ in range(2)]
    there = factories.make_participant(session, office=elsewhere, counsellor=leaver)
    exited = factories.make_participant(
        session, office=office, counsellor=leaver, exit_on=date(2026, 10, 1), outcome="other"
    )
    fu = followups.create_followup(
        session,
        subject="Bewerbung nachfassen",
        due_date=date(2026, 11, 30),
        due_time=None,
        assignee=leaver,
    )
    done = followups.create_followup(
        session, subject="Erledigt", due_date=date(2026, 11, 2), due_time=None, assignee=leaver
    )
    followups.mark_done(session, done, by=leaver, now=NOW)
    inquiry = intake.create_inquiry(
        session,
        intake.InquiryData(
            kind="person", topic="recognition", office_id=office.id, name="Olena K", email="o@x.de"
        ),
        channel="web",
        now=NOW,
        consent_text="Einverstanden.",
        consent_version="test",
    )
    intake.assign(inquiry, leaver, NOW)
    coming = factories.make_event(session, day=date(2027, 3, 10), responsible_id=leaver.id)
    past = factories.make_event(session, day=date(2026, 1, 10), responsible_id=leaver.id)
    session.flush()
    return {
        "office": office,
        "elsewhere": elsewhere,
        "leaver": leaver,
        "colleague": colleague,
        "here": here,
        "there": there,
        "exited": exited,
        "followup": fu,
        "done": done,
        "inquiry": inquiry,
        "coming": coming,
        "past": past,
    }


def test_holdings_count_only_what_is_still_open(app_ctx: Any) -> None:
    w = _holdings(app_ctx)
    held = handover.holdings(app_ctx, w["leaver"], NOW)
    # Exited participants, done follow-ups and past events are history, not holdings; the exit
    # itself opened a follow-up (the ESF Plus survey six months later), which is hers.
    assert held == handover.Holdings(participants=3, followups=2, inquiries=1, events=1)
    assert held.total == 7


def test_hand_over_moves_everything_and_keeps_participants_in_their_office(app_ctx: Any) -> None:
    w = _holdings(app_ctx)
    leaver, colleague = w["leaver"], w["colleague"]
    result = handover.hand_over(app_ctx, leaver, colleague.id, NOW)
    assert (result.participants, result.participants_other_office) == (2, 1)
    assert (result.followups, result.inquiries, result.events) == (2, 1, 1)

    def counsellor(p: Participant) -> int:
        return app_ctx.scalar(sa.select(Participant.counsellor_id).where(Participant.id == p.id))

    assert [counsellor(p) for p in w["here"]] == [colleague.id, colleague.id]
    # Another office's participant stays: the colleague does not work there.
    assert counsellor(w["there"]) == leaver.id
    assert counsellor(w["exited"]) == leaver.id
    assert app_ctx.get(FollowUp, w["followup"].id).assignee_id == colleague.id
    assert app_ctx.get(FollowUp, w["done"].id).assignee_id == leaver.id
    assert app_ctx.get(Inquiry, w["inquiry"].id).assigned_to_id == colleague.id
    assert app_ctx.get(Event, w["coming"].id).responsible_id == colleague.id
    assert app_ctx.get(Event, w["past"].id).responsible_id == leaver.id
    assert handover.holdings(app_ctx, leaver, NOW) == handover.Holdings(participants=1)


def test_every_handed_over_record_is_in_the_audit_log(app_ctx: Any) -> None:
    w = _holdings(app_ctx)
    handover.hand_over(app_ctx, w["leaver"], w["colleague"].id, NOW)
    app_ctx.flush()
    entries = app_ctx.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()

    def changed(entity_type: str, entity_id: int) -> bool:
        return any(
            e.entity_type == entity_type
            and e.entity_id == entity_id
            and e.action in ("update", "handover")
            for e in entries
        )

    assert all(changed("participant", p.id) for p in w["here"])
    assert changed("followup", w["followup"].id)
    assert changed("inquiry", w["inquiry"].id)
    assert changed("event", w["coming"].id)
    summary = [e for e in entries if e.action == "handover" and e.entity_type == "user_account"]
    assert len(summary) == 1
    assert summary[0].entity_id == w["leaver"].id
    assert "Kim Kollegin" in summary[0].summary


def test_a_colleague_who_cannot_counsel_takes_the_tasks_but_not_the_participants(
    app_ctx: Any,
) -> None:
    w = _holdings(app_ctx)
    assistant = factories.make_user(app_ctx, role="staff", office=w["office"])
    result = handover.hand_over(app_ctx, w["leaver"], assistant.id, NOW)
    assert (result.participants, result.participants_not_counsellor) == (0, 3)
    assert result.followups == 2


@pytest.mark.parametrize("who", ["leaver", "inactive", "reader", "missing"])
def test_only_an_active_other_colleague_can_take_over(app_ctx: Any, who: str) -> None:
    w = _holdings(app_ctx)
    ids = {
        "leaver": w["leaver"].id,
        "inactive": factories.make_user(app_ctx, office=w["office"], is_active_flag=False).id,
        "reader": factories.make_user(app_ctx, role="readonly", office=w["office"]).id,
        "missing": 987654321,
    }
    with pytest.raises(handover.HandoverError):
        handover.hand_over(app_ctx, w["leaver"], ids[who], NOW)


# --- the page ---------------------------------------------------------------------------------


def test_the_user_list_leads_to_the_handover_page_with_counts_and_links(
    admin_client: Any, db_session: Any
) -> None:
    w = _holdings(db_session)
    db_session.commit()
    leaver = w["leaver"]
    assert f"/verwaltung/benutzer/{leaver.id}/uebergabe" in admin_client.get(
        "/verwaltung/benutzer"
    ).get_data(True)
    page = admin_client.get(f"/verwaltung/benutzer/{leaver.id}/uebergabe").get_data(True)
    assert "Übergabe" in page
    assert f"beratung={leaver.id}" in page
    assert f"bearbeitung={leaver.id}" in page
    assert "Ohne Übergabe deaktivieren" in page
    assert "Kim Kollegin" in page
    # The leaving person is no choice for herself.
    assert f'value="{leaver.id}"' not in page


def test_handing_over_and_deactivating_reports_the_skipped_participants(
    admin_client: Any, db_session: Any
) -> None:
    w = _holdings(db_session)
    db_session.commit()
    leaver, colleague = w["leaver"], w["colleague"]
    response = admin_client.post(
        f"/verwaltung/benutzer/{leaver.id}/uebergabe",
        data={"colleague_id": colleague.id, "action": "handover"},
        follow_redirects=True,
    )
    text = response.get_data(True)
    assert response.status_code == 200
    assert "An Kim Kollegin übergeben: Teilnehmende 2" in text
    assert "Nicht übergebene Teilnehmende: 1" in text
    db_session.expire_all()
    assert db_session.get(User, leaver.id).is_active is False
    assert db_session.get(FollowUp, w["followup"].id).assignee_id == colleague.id


def test_deactivating_without_handover_keeps_everything_with_the_leaver(
    admin_client: Any, db_session: Any
) -> None:
    w = _holdings(db_session)
    db_session.commit()
    leaver = w["leaver"]
    response = admin_client.post(
        f"/verwaltung/benutzer/{leaver.id}/uebergabe",
        data={"colleague_id": "kaputt", "action": "without"},
    )
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(User, leaver.id).is_active is False
    assert db_session.get(FollowUp, w["followup"].id).assignee_id == leaver.id


@pytest.mark.parametrize("value", ["", "abc", "999999999999999999999", "self", "inactive"])
def test_a_bad_colleague_gets_a_german_message_and_nobody_is_deactivated(
    admin_client: Any, db_session: Any, value: str
) -> None:
    w = _holdings(db_session)
    inactive = factories.make_user(db_session, office=w["office"], is_active_flag=False)
    db_session.commit()
    leaver = w["leaver"]
    chosen = {"self": str(leaver.id), "inactive": str(inactive.id)}.get(value, value)
    response = admin_client.post(
        f"/verwaltung/benutzer/{leaver.id}/uebergabe",
        data={"colleague_id": chosen, "action": "handover"},
    )
    assert response.status_code == 200
    text = response.get_data(True)
    assert "is-invalid" in text
    db_session.expire_all()
    assert db_session.get(User, leaver.id).is_active is True
    assert db_session.get(FollowUp, w["followup"].id).assignee_id == leaver.id


def test_the_handover_needs_admin_users_and_a_csrf_token(
    admin_client: Any, client_as: Any, db_session: Any
) -> None:
    w = _holdings(db_session)
    db_session.commit()
    url = f"/verwaltung/benutzer/{w['leaver'].id}/uebergabe"
    lead = client_as("lead", office=w["office"])
    assert lead.get(url).status_code == 403
    data = {"colleague_id": w["colleague"].id, "action": "handover"}
    assert lead.post(url, data=data).status_code == 403
    forged = admin_client.post(url, data={**data, "csrf_token": "forged"}, csrf=False)
    assert forged.status_code == 400
    forged_without = admin_client.post(
        url, data={"action": "without", "csrf_token": "forged"}, csrf=False
    )
    assert forged_without.status_code == 400
    db_session.expire_all()
    assert db_session.get(User, w["leaver"].id).is_active is True
    assert admin_client.get("/verwaltung/benutzer/987654321/uebergabe").status_code == 404


def test_an_admin_cannot_hand_over_and_deactivate_herself(admin_client: Any) -> None:
    me = admin_client.user
    response = admin_client.post(
        f"/verwaltung/benutzer/{me.id}/uebergabe", data={"action": "without"}
    )
    assert response.status_code == 302
    assert admin_client.get(f"/verwaltung/benutzer/{me.id}/uebergabe").status_code == 302
