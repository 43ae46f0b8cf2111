"""Inquiries: assignment by rule, the public form (limit, honeypot, token, languages), the
acknowledgement in the outbox, the queue's permissions and status changes, Mein Tag."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.contacts.models import Organisation, Person
from crm.intake import service
from crm.intake.models import Inquiry, IntakeAttempt
from crm.mail.models import OutgoingMail
from tests import factories
from tests.mail_helpers import QueuedMail

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
IP = "198.51.100.23"


def _data(office_id: int | None, **overrides: Any) -> service.InquiryData:
    values: dict[str, Any] = {
        "kind": "person",
        "topic": "recognition",
        "office_id": office_id,
        "name": "Olena Kovalenko",
        "email": "olena@example.org",
    }
    values.update(overrides)
    return service.InquiryData(**values)


def _create(session: Any, office_id: int | None, *, ack: bool = False, **overrides: Any) -> Inquiry:
    return service.create_inquiry(
        session,
        _data(office_id, **overrides),
        channel="web",
        now=MONDAY_9,
        consent_text="Einverstanden.",
        consent_version="test",
        ack=service.AckSettings("Netzwerk <crm@netzwerk.example.org>") if ack else None,
    )


def _rule(session: Any, office: Any, users: list[Any], topic: str = "") -> None:
    service.save_rule(
        session, None, office_id=office.id, topic=topic, user_ids=[u.id for u in users]
    )


def _form_values(client: Any, query: str = "") -> dict[str, str]:
    page = client.get(f"/anfrage{query}").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert token, "no form token in the public form"
    return {"form_token": token.group(1)}


def _post_public(client: Any, office_row: Any, ip: str = IP, query: str = "", **fields: Any) -> Any:
    data = _form_values(client, query)
    data.update(
        {
            "kind": "person",
            "topic": "job",
            "office": str(office_row.id),
            "name": "Samir Haddad",
            "email": "samir@example.org",
            "contact_way": "email",
            "preferred_language": "de",
            "message": "Ich suche Arbeit als Elektroingenieur.",
            "consent": "y",
        }
    )
    data.update(fields)
    return client.post(f"/anfrage{query}", data=data, environ_base={"REMOTE_ADDR": ip}, csrf=False)


def _count(session: Any, model: Any) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# --- assignment ---------------------------------------------------------------------------------


def test_round_robin_is_fair_over_100_inquiries_and_skips_inactive_users_and_other_offices(
    app_ctx,
):
    session = app_ctx
    magdeburg, burg = factories.make_office(session), factories.make_office(session)
    team = [factories.make_user(session, office=magdeburg) for _ in range(3)]
    away = factories.make_user(session, office=magdeburg, is_active_flag=False)
    elsewhere = factories.make_user(session, office=burg)
    _rule(session, magdeburg, [*team, away])
    _rule(session, burg, [elsewhere])
    given = Counter(_create(session, magdeburg.id).assigned_to_id for _ in range(100))
    assert set(given) == {u.id for u in team}
    assert max(given.values()) - min(given.values()) <= 1
    assert _create(session, burg.id).assigned_to_id == elsewhere.id


def test_a_topic_rule_comes_before_the_office_rule_and_every_inquiry_gets_exactly_one_person(
    app_ctx,
):
    session = app_ctx
    office = factories.make_office(session)
    expert, generalist = (factories.make_user(session, office=office) for _ in range(2))
    _rule(session, office, [generalist])
    _rule(session, office, [expert], topic="recognition")
    assert _create(session, office.id, topic="recognition").assigned_to_id == expert.id
    job = _create(session, office.id, topic="job")
    assert job.assigned_to_id == generalist.id
    assert job.status == "assigned"


def test_without_a_rule_the_office_lead_gets_it_else_an_admin(app_ctx):
    session = app_ctx
    office, other = factories.make_office(session), factories.make_office(session)
    lead = factories.make_user(session, role="lead", office=office)
    admin = factories.make_user(session, role="admin")
    assert _create(session, office.id).assigned_to_id == lead.id
    fallback = _create(session, other.id).assigned_to_id
    assert fallback is not None
    assert session.get(factories.User, fallback).role == "admin"
    assert admin.id >= fallback  # the lowest admin id: stable


def test_the_first_response_is_due_after_two_working_days_skipping_the_weekend(app_ctx):
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert service.working_days_after(friday, 2).date().isoformat() == "2026-12-01"
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    due = service.working_days_after(saturday, 2)
    assert due.astimezone(service.BERLIN).isoformat().startswith("2026-12-02T08:00")


# --- acknowledgement ----------------------------------------------------------------------------


def test_the_acknowledgement_names_the_contact_person_and_is_rolled_back_with_the_inquiry(
    app_ctx,
):
    session = app_ctx
    office = factories.make_office(session)
    counsellor = factories.make_user(session, office=office, display_name="Bettina Beratung")
    _rule(session, office, [counsellor])
    session.commit()
    mails_before = _count(session, OutgoingMail)
    inquiry = _create(session, office.id, ack=True)
    session.flush()
    queued = QueuedMail(session, "inquiry").messages
    assert len(queued) == 1
    message = queued[0].message
    assert queued[0].rcpt_tos == ["olena@example.org"]
    assert "Bettina Beratung" in message.get_body(("plain",)).get_content()
    assert message["Reply-To"].addresses[0].addr_spec == counsellor.email
    assert inquiry.id is not None
    session.rollback()
    assert _count(session, OutgoingMail) == mails_before
    assert _count(session, Inquiry) == 0


def test_the_acknowledgement_follows_the_form_language(app_ctx):
    session = app_ctx
    office = factories.make_office(session)
    _rule(session, office, [factories.make_user(session, office=office)])
    for lang in ("en", "simple"):
        service.create_inquiry(
            session,
            _data(office.id),
            channel="web",
            now=MONDAY_9,
            consent_text="ok",
            consent_version="test",
            form_language=lang,
            ack=service.AckSettings("crm@netzwerk.example.org"),
        )
    english, simple = QueuedMail(session, "inquiry").messages
    assert english.message["Subject"] == "We have received your inquiry"
    assert "Your contact person is" in english.message.get_body(("plain",)).get_content()
    assert simple.message["Subject"] == "Wir haben Ihre Anfrage bekommen"
    assert "Diese Person ist für Sie da" in simple.message.get_body(("plain",)).get_content()


# --- the public form ------------------------------------------------------------------------------


def test_a_visitor_sends_the_public_form_and_the_inquiry_is_queued_with_consent_and_mail(
    client, db_session
):
    office = factories.make_office(db_session)
    counsellor = factories.make_user(db_session, office=office, display_name="Carla Contact")
    _rule(db_session, office, [counsellor])
    db_session.commit()
    response = _post_public(client, office)
    assert response.status_code == 200
    assert "Vielen Dank für Ihre Anfrage" in response.get_data(as_text=True)
    inquiry = db_session.scalars(sa.select(Inquiry)).one()
    assert (inquiry.channel, inquiry.status, inquiry.assigned_to_id) == (
        "web",
        "assigned",
        counsellor.id,
    )
    assert inquiry.consent_version
    assert "einverstanden" in inquiry.consent_text
    assert inquiry.consented_at is not None
    assert inquiry.source_ip_hash
    assert IP not in inquiry.source_ip_hash
    assert len(QueuedMail(db_session, "inquiry").messages) == 1
    # Nobody's address in the audit log either.
    ips = db_session.scalars(
        sa.select(AuditEntry.ip).where(AuditEntry.entity_type == "inquiry")
    ).all()
    assert ips
    assert all(IP not in (ip or "") for ip in ips)


def test_a_public_inquiry_never_enters_the_contacts(client, db_session):
    office = factories.make_office(db_session)
    db_session.commit()
    people, organisations = _count(db_session, Person), _count(db_session, Organisation)
    _post_public(client, office, kind="firm", organisation_name="Richter Metallbau GmbH")
    _post_public(client, office, website="http://spam.example")
    assert _count(db_session, Inquiry) == 1
    assert (_count(db_session, Person), _count(db_session, Organisation)) == (
        people,
        organisations,
    )


def test_the_honeypot_stores_nothing_and_sends_nothing_but_answers_like_a_real_inquiry(
    client, db_session
):
    office = factories.make_office(db_session)
    db_session.commit()
    response = _post_public(client, office, website="http://spam.example")
    assert response.status_code == 200
    assert "Vielen Dank für Ihre Anfrage" in response.get_data(as_text=True)
    assert _count(db_session, Inquiry) == 0
    assert QueuedMail(db_session, "inquiry").messages == []


def test_the_public_form_is_limited_per_address_in_the_database(
    app, client, db_session, monkeypatch
):
    monkeypatch.setitem(app.config, "CRM_INTAKE_MAX_PER_IP", 3)
    office = factories.make_office(db_session)
    db_session.commit()
    for _ in range(3):
        assert _post_public(client, office).status_code == 200
    refused = _post_public(client, office, message="Ein langer Text, den niemand neu tippen mag.")
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Zu viele Anfragen" in page
    # Nothing typed is lost: the form comes back filled in, ready to send again later.
    assert 'id="inquiry-form"' in page
    assert "Ein langer Text, den niemand neu tippen mag." in page
    assert 'value="Samir Haddad"' in page
    assert _count(db_session, Inquiry) == 3
    # Counted per address: another network still gets through.
    assert _post_public(client, office, ip="203.0.113.9").status_code == 200
    stored = db_session.scalars(sa.select(IntakeAttempt.ip_hash)).all()
    assert stored
    assert all(IP not in h for h in stored)


def test_a_form_sent_back_with_typing_errors_does_not_count_toward_the_limit(
    app, client, db_session, monkeypatch
):
    monkeypatch.setitem(app.config, "CRM_INTAKE_MAX_PER_IP", 2)
    office = factories.make_office(db_session)
    db_session.commit()
    for _ in range(4):
        corrected = _post_public(client, office, email="kein-at-zeichen", phone="")
        assert corrected.status_code == 200
        assert _count(db_session, Inquiry) == 0
    assert _post_public(client, office).status_code == 200
    assert _post_public(client, office).status_code == 200
    assert _post_public(client, office).status_code == 429
    assert _count(db_session, Inquiry) == 2


def test_a_post_without_a_genuine_form_token_is_refused_and_stores_nothing(client, db_session):
    office = factories.make_office(db_session)
    db_session.commit()
    for token in ("", "forged.token.value"):
        response = _post_public(client, office, form_token=token)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Das Formular ist abgelaufen" in page
        assert "Ich suche Arbeit als Elektroingenieur." in page
    assert _count(db_session, Inquiry) == 0


def test_an_expired_form_comes_back_filled_in_and_sends_with_one_more_click(client, db_session):
    office = factories.make_office(db_session)
    db_session.commit()
    expired = _post_public(client, office, form_token="", message="Drei Stunden geschrieben.")
    assert expired.status_code == 400
    page = expired.get_data(as_text=True)
    fresh = re.search(r'name="form_token" value="([^"]+)"', page)
    assert fresh is not None
    again = _post_public(
        client, office, form_token=fresh.group(1), message="Drei Stunden geschrieben."
    )
    assert again.status_code == 200
    assert _count(db_session, Inquiry) == 1


def test_missing_fields_are_named_in_german_and_nothing_is_stored(client, db_session):
    office = factories.make_office(db_session)
    db_session.commit()
    response = _post_public(client, office, name="", email="", phone="", consent="")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Bitte füllen Sie dieses Feld aus." in page
    assert "Bitte geben Sie eine E-Mail-Adresse oder eine Telefonnummer an." in page
    assert 'aria-invalid="true"' in page
    assert _count(db_session, Inquiry) == 0


def test_the_error_list_names_each_field_so_two_equal_messages_are_told_apart(client, db_session):
    office = factories.make_office(db_session)
    db_session.commit()
    response = _post_public(client, office, topic="", office="")
    root = lxml.html.fromstring(response.get_data(as_text=True))
    items = [li.text_content() for li in root.get_element_by_id("form-errors").iter("li")]
    assert items == [
        "Thema: Bitte wählen Sie eine der Möglichkeiten.",
        "Geschäftsstelle: Bitte wählen Sie eine der Möglichkeiten.",
    ]
    english = _post_public(client, office, query="?sprache=en", topic="", office="")
    assert "Topic: " in english.get_data(as_text=True)


@pytest.mark.parametrize(
    "junk",
    [
        {"kind": "alien", "topic": "x" * 500, "office": "99999999999999999999"},
        {"office": "²", "preferred_language": "klingon", "contact_way": ["a", "b"]},
        {"email": "not an address", "name": "x" * 5000, "message": "y" * 20000},
        {"consent": "maybe", "phone": "\u202e" * 60},
    ],
)
def test_junk_input_never_causes_a_server_error(client, db_session, junk):
    office = factories.make_office(db_session)
    db_session.commit()
    response = _post_public(client, office, **junk)
    assert response.status_code < 500
    assert _count(db_session, Inquiry) == 0


def test_office_and_topic_come_from_the_link_and_the_form_speaks_three_languages(
    client, db_session
):
    office = factories.make_office(db_session, "Genthin")
    factories.make_office(db_session, "Burg")
    db_session.commit()
    page = client.get(f"/anfrage?stelle={office.id}&thema=relocation").get_data(as_text=True)
    assert f'<option value="{office.id}" selected>Genthin</option>' in page
    assert '<option value="relocation" selected>' in page
    english = client.get("/anfrage?sprache=en").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "Send inquiry" in english
    simple = client.get("/anfrage?sprache=leicht").get_data(as_text=True)
    assert "Anfrage abschicken" in simple
    assert '<html lang="de">' in simple
    response = _post_public(client, office, query="?sprache=leicht", consent="")
    assert "Bitte sagen Sie, dass Sie einverstanden sind." in response.get_data(as_text=True)


def test_only_the_public_form_may_be_framed_and_only_by_the_configured_sites(
    app, client, db_session, monkeypatch
):
    monkeypatch.setitem(
        app.config,
        "CRM_INTAKE_FRAME_ANCESTORS",
        "https://www.example.org 'unsafe-inline'; script-src * https://*.example.net",
    )
    form = client.get("/anfrage")
    policy = form.headers["Content-Security-Policy"]
    assert "frame-ancestors https://www.example.org https://*.example.net;" in policy
    assert "unsafe-inline" not in policy
    assert "script-src *" not in policy
    assert "X-Frame-Options" not in form.headers
    login_page = client.get("/anmelden")
    assert "frame-ancestors 'none'" in login_page.headers["Content-Security-Policy"]
    assert login_page.headers["X-Frame-Options"] == "DENY"


# --- staff pages ----------------------------------------------------------------------------------


def test_a_counsellor_cannot_see_another_offices_inquiry(client_as, db_session):
    mine, theirs = factories.make_office(db_session), factories.make_office(db_session)
    client = client_as("counsellor", office=mine)
    colleague = factories.make_user(db_session, office=theirs)
    _rule(db_session, theirs, [colleague])
    other = _create(db_session, theirs.id, name="Fremde Anfrage")
    db_session.commit()
    assert client.get(f"/anfragen/{other.id}").status_code == 404
    assert "Fremde Anfrage" not in client.get("/anfragen/?ansicht=all").get_data(as_text=True)
    assert client.post(f"/anfragen/{other.id}/kontakt").status_code == 404
    lead = client_as("lead")
    assert lead.get(f"/anfragen/{other.id}").status_code == 200


def test_read_only_users_see_no_inquiries_and_only_leads_and_admins_reassign(client_as, db_session):
    office = factories.make_office(db_session)
    counsellor_client = client_as("counsellor", office=office)
    me = counsellor_client.user
    _rule(db_session, office, [me])
    inquiry = _create(db_session, office.id)
    db_session.commit()
    assert client_as("readonly").get("/anfragen/").status_code == 403
    assert (
        counsellor_client.post(f"/anfragen/{inquiry.id}/zuweisen", data={"user": me.id}).status_code
        == 403
    )
    other = factories.make_user(db_session, office=office, display_name="Neue Zuständige")
    db_session.commit()
    lead = client_as("lead")
    response = lead.post(f"/anfragen/{inquiry.id}/zuweisen", data={"user": other.id})
    assert response.status_code == 302
    db_session.refresh(inquiry)
    assert inquiry.assigned_to_id == other.id
    changes = db_session.scalars(
        sa.select(AuditEntry.changes).where(
            AuditEntry.entity_type == "inquiry", AuditEntry.entity_id == inquiry.id
        )
    ).all()
    assert any("assigned_to_id" in (c or {}).get("fields", []) for c in changes)


def test_marking_in_contact_sets_the_first_contact_once_and_closing_needs_a_reason(
    client_as, db_session
):
    office = factories.make_office(db_session)
    client = client_as("counsellor", office=office)
    _rule(db_session, office, [client.user])
    inquiry = _create(db_session, office.id)
    db_session.commit()
    assert client.post(f"/anfragen/{inquiry.id}/kontakt").status_code == 302
    db_session.refresh(inquiry)
    first = inquiry.first_contact_at
    assert inquiry.status == "in_contact"
    assert first is not None
    client.post(f"/anfragen/{inquiry.id}/kontakt")
    db_session.refresh(inquiry)
    assert inquiry.first_contact_at == first
    client.post(f"/anfragen/{inquiry.id}/schliessen", data={"reason": "nonsense"})
    db_session.refresh(inquiry)
    assert inquiry.status == "in_contact"
    client.post(f"/anfragen/{inquiry.id}/schliessen", data={"reason": "referred", "note": "IHK"})
    db_session.refresh(inquiry)
    assert (inquiry.status, inquiry.close_reason, inquiry.close_note) == (
        "closed",
        "referred",
        "IHK",
    )


def test_staff_forms_refuse_a_post_without_the_csrf_token(app, client_as, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    office = factories.make_office(db_session)
    client = client_as("staff", office=office)
    response = client.post(
        "/anfragen/neu",
        data={
            "kind": "person",
            "topic": "job",
            "name": "Ohne Token",
            "phone": "0391 1",
            "office": str(office.id),
            "contact_way": "phone",
            "preferred_language": "de",
            "channel": "hotline",
            "consent": "y",
        },
        csrf=False,
    )
    assert response.status_code == 400
    assert _count(db_session, Inquiry) == 0


def test_a_hotline_call_is_captured_assigned_and_shown_in_the_queue(client_as, db_session):
    office = factories.make_office(db_session)
    counsellor = factories.make_user(db_session, office=office, display_name="Rita Rückruf")
    _rule(db_session, office, [counsellor])
    client = client_as("staff", office=office)
    form = client.get("/anfragen/neu").get_data(as_text=True)
    assert "autofocus" in form
    assert "data-picker" in form
    response = client.post(
        "/anfragen/neu",
        data={
            "kind": "firm",
            "topic": "further_education",
            "name": "Thomas Richter",
            "organisation_name": "Richter Metallbau",
            "phone": "03921 555010",
            "office": str(office.id),
            "contact_way": "phone",
            "preferred_language": "de",
            "channel": "hotline",
            "consent": "y",
            "message": "Sucht Schweißer.",
        },
    )
    assert response.status_code == 302
    inquiry = db_session.scalars(sa.select(Inquiry)).one()
    assert (inquiry.channel, inquiry.created_by_id, inquiry.assigned_to_id) == (
        "hotline",
        client.user.id,
        counsellor.id,
    )
    queue = client.get("/anfragen/?ansicht=open").get_data(as_text=True)
    assert "Thomas Richter" in queue
    junk = client.post("/anfragen/neu", data={"kind": "x", "channel": "fax", "office": "-1"})
    assert junk.status_code == 200
    assert _count(db_session, Inquiry) == 1


def test_a_hotline_call_without_the_callers_consent_asks_the_staff_member_to_confirm_it(
    client_as, db_session
):
    office = factories.make_office(db_session)
    client = client_as("staff", office=office)
    response = client.post(
        "/anfragen/neu",
        data={
            "kind": "person",
            "topic": "job",
            "name": "Amal Haddad",
            "phone": "0391 555 0101",
            "office": str(office.id),
            "contact_way": "phone",
            "preferred_language": "de",
            "channel": "hotline",
            "message": "Ruft wegen der Anerkennung an.",
        },
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # Not the public form's "your details": the staff member confirms the caller's consent.
    assert "Bitte bestätigen Sie, dass die anrufende Person eingewilligt hat." in page
    assert "Bitte willigen Sie in die Speicherung Ihrer Angaben ein." not in page
    # Nothing typed is lost.
    assert 'value="Amal Haddad"' in page
    assert "Ruft wegen der Anerkennung an." in page
    assert _count(db_session, Inquiry) == 0


def test_overdue_inquiries_come_first_in_the_queue_and_show_in_mein_tag(
    client_as, db_session, frozen_time
):
    office = factories.make_office(db_session)
    client = client_as("counsellor", office=office)
    _rule(db_session, office, [client.user])
    now = datetime.now(UTC)
    fresh = service.create_inquiry(
        db_session,
        _data(office.id, name="Frisch Eingegangen"),
        channel="web",
        now=now,
        consent_text="ok",
        consent_version="t",
    )
    late = service.create_inquiry(
        db_session,
        _data(office.id, name="Lange Wartend"),
        channel="web",
        now=now - timedelta(days=7),
        consent_text="ok",
        consent_version="t",
    )
    db_session.commit()
    queue = client.get("/anfragen/?ansicht=mine").get_data(as_text=True)
    assert queue.index("Lange Wartend") < queue.index("Frisch Eingegangen")
    overdue = client.get("/anfragen/?ansicht=overdue").get_data(as_text=True)
    assert "Lange Wartend" in overdue
    assert "Frisch Eingegangen" not in overdue
    start = client.get("/").get_data(as_text=True)
    assert f'href="/anfragen/{late.id}"' in start
    assert f'href="/anfragen/{fresh.id}"' in start
    assert "Meine offenen Anfragen (2)" in start


def test_admins_configure_rules_and_find_the_link_and_embed_code(admin_client, db_session):
    office = factories.make_office(db_session, "Schönebeck")
    user = factories.make_user(db_session, office=office, display_name="Regel Person")
    db_session.commit()
    response = admin_client.post(
        "/verwaltung/anfragen/regeln/neu",
        data={"office": str(office.id), "topic": "job", "users": [str(user.id)]},
    )
    assert response.status_code == 302
    twice = admin_client.post(
        "/verwaltung/anfragen/regeln/neu",
        data={"office": str(office.id), "topic": "job", "users": [str(user.id)]},
    )
    assert "schon eine Regel" in twice.get_data(as_text=True)
    page = admin_client.get("/verwaltung/anfragen").get_data(as_text=True)
    assert "Regel Person" in page
    assert "&lt;iframe src=" in page
    assert "/anfrage" in page
    assert (
        admin_client.post(
            "/verwaltung/anfragen/regeln/neu", data={"office": "abc", "topic": "???"}
        ).status_code
        == 200
    )


def test_a_missed_first_response_is_escalated_to_the_office_lead_exactly_once(app_ctx):
    session = app_ctx
    office = factories.make_office(session)
    lead = factories.make_user(session, role="lead", office=office, display_name="Lutz Leitung")
    counsellor = factories.make_user(session, office=office)
    _rule(session, office, [counsellor])
    late = service.create_inquiry(
        session,
        _data(office.id, name="Lange Wartend"),
        channel="web",
        now=MONDAY_9 - timedelta(days=7),
        consent_text="ok",
        consent_version="t",
    )
    on_time = _create(session, office.id, name="Gerade Eingegangen")
    contacted = _create(session, office.id, name="Schon Erreicht")
    contacted.created_at = late.created_at
    contacted.first_response_due_at = late.first_response_due_at
    service.mark_in_contact(contacted, MONDAY_9 - timedelta(days=6))
    session.commit()
    settings = {"sender": "crm@netzwerk.example.org", "base_url": "https://crm.example.org"}
    assert service.escalate_overdue(session, MONDAY_9, **settings) == 1
    assert service.escalate_overdue(session, MONDAY_9, **settings) == 0
    (mail,) = QueuedMail(session, "notice").messages
    assert mail.rcpt_tos == [lead.email]
    body = mail.message.get_body(("plain",)).get_content()
    assert "Lange Wartend" in body
    assert f"https://crm.example.org/anfragen/{late.id}" in body
    assert on_time.escalated_at is None


def test_the_queue_costs_the_same_number_of_queries_however_many_inquiries_it_lists(
    client_as, db_session, count_queries
):
    office = factories.make_office(db_session)
    lead = client_as("lead", office=office)
    people = [factories.make_user(db_session, office=office) for _ in range(3)]
    _rule(db_session, office, people)
    _create(db_session, office.id)
    db_session.commit()
    with count_queries() as few:
        assert lead.get("/anfragen/?ansicht=all").status_code == 200
    for _ in range(12):
        _create(db_session, office.id)
    db_session.commit()
    with count_queries() as many:
        assert lead.get("/anfragen/?ansicht=all").status_code == 200
    assert len(many) == len(few)


def test_the_limit_counts_an_ipv6_sender_by_its_64_network():
    secret = "geheim"
    assert service.hash_ip(secret, "2001:db8:1:2::17") == service.hash_ip(
        secret, "2001:db8:1:2:ffff::1"
    )
    assert service.hash_ip(secret, "2001:db8:1:2::17") != service.hash_ip(secret, "2001:db8:1:3::1")
    assert service.hash_ip(secret, "::ffff:198.51.100.7") == service.hash_ip(secret, "198.51.100.7")
    assert service.hash_ip(secret, "198.51.100.7") != service.hash_ip(secret, "198.51.100.8")


def test_the_list_counts_one_inquiry_in_the_singular(client_as, db_session):
    office = factories.make_office(db_session)
    client = client_as("counsellor", office=office)
    _rule(db_session, office, [client.user])
    _create(db_session, office.id)
    db_session.commit()
    page = client.get("/anfragen/?ansicht=all").get_data(as_text=True)
    assert re.search(r'id="inquiry-count">\s*1 Anfrage\s*<', page), page


def test_an_inquiry_counts_as_received_at_the_moment_it_was_created_for(db_session):
    """Created for an earlier moment (the demo data's inquiries), it was received then: the
    time to first contact must not come out negative on the dashboard."""
    office = factories.make_office(db_session)
    inquiry = _create(db_session, office.id)
    assert inquiry.created_at == MONDAY_9
    service.mark_in_contact(inquiry, MONDAY_9 + timedelta(hours=5))
    assert inquiry.first_contact_at - inquiry.created_at == timedelta(hours=5)
