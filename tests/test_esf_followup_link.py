"""The ESF Plus short survey six months after the exit: the daily job mails the personal link
through the outbox (once, on time, only to those it concerns), the anonymous answer records
the result and closes the follow-up, and links that are forged, replaced, expired or used
are refused with a clear page; the counsellor's button respects office scope and CSRF."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.database import utcnow
from crm.esf import followup_link, service
from crm.esf.models import EsfFollowupLink, EsfRecord
from crm.followups.models import FollowUp
from crm.intake.models import Inquiry
from crm.jobs.periodic import send_esf_followup_links
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from crm.participants.models import ParticipantContact
from crm.privacy import service as privacy
from tests import factories
from tests.factories import make_participant
from tests.mail_helpers import QueuedMail

LINK = re.compile(r"https?://\S+/esf-plus/kurzumfrage/(\S+?)\?sprache=(de|en)")
# The frozen clock says 21.11.2026: an exit on 21.05.2026 is due today.
DUE_EXIT = date(2026, 5, 21)


@pytest.fixture
def office(db_session):
    return factories.make_office(db_session)


@pytest.fixture
def counsellor(client_as, office):
    return client_as("counsellor", office=office)


def _former(db_session, office, counsellor_user, *, exit_on=DUE_EXIT, email="ana@example.org"):
    return make_participant(
        db_session,
        office=office,
        counsellor=counsellor_user,
        first_name="Ana",
        last_name=f"Lopes{email.split('@')[0]}",
        email=email,
        sessions=((date(2026, 1, 12), 600),),
        exit_on=exit_on,
        outcome="employment",
    )


def _six_month_followup(db_session, p):
    rec = db_session.scalar(sa.select(EsfRecord).where(EsfRecord.participant_id == p.id))
    return db_session.get(FollowUp, rec.followup_id)


def _token_of(message) -> tuple[str, str]:
    match = LINK.search(message.get_body(("plain",)).get_content())
    assert match, "no link in the mail"
    return match.group(1), match.group(2)


def _deliver(app, db_session, smtp_server):
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
    send_outbox(
        db_session,
        transport,
        stores_for(app.config),
        SenderSettings(backoff_base=timedelta(0), connection_backoff=0),
    )
    return smtp_server.messages


def _answer_url(token: str) -> str:
    return f"/esf-plus/kurzumfrage/{token}"


def _sent_link(db_session, p, when=None):
    """Send the link as the job would (at `when`), and return its token from the mail."""
    from flask import current_app

    from crm.esf import mails

    mail = mails.link_mail(current_app.config, str(current_app.secret_key), "https://crm.test")
    followup_link.send_link(db_session, p, mail, now=when or utcnow())
    db_session.commit()
    last = QueuedMail(db_session).messages[-1]
    return _token_of(last.message)[0]


# --- the daily job ------------------------------------------------------------------------------


def test_the_job_mails_each_due_former_participant_once_through_smtp(
    frozen_time, app, db_session, office, counsellor, smtp_server
):
    due = _former(db_session, office, counsellor.user)
    english = _former(db_session, office, counsellor.user, email="john@example.org")
    db_session.add(
        Inquiry(
            kind="person",
            topic="job",
            office_id=office.id,
            name="John Smith",
            email="john@example.org",
            channel="web",
            message="Job search",
            status="converted",
            preferred_language="en",
            converted_at=utcnow(),
            participant_id=english.id,
        )
    )
    # Tomorrow is the six-month date of this one: not yet.
    _former(db_session, office, counsellor.user, exit_on=date(2026, 5, 22), email="b@example.org")
    # No address: the counsellor phones.
    _former(db_session, office, counsellor.user, email="")
    # The counsellor has already recorded the result.
    done = _former(db_session, office, counsellor.user, email="c@example.org")
    service.record_long_result(
        db_session, done, "employment", date(2026, 11, 2), by=counsellor.user, now=utcnow()
    )
    # Six-month date long past (before the catch-up window): left to the counsellor.
    _former(db_session, office, counsellor.user, exit_on=date(2026, 2, 10), email="d@example.org")
    db_session.commit()

    assert send_esf_followup_links(app) == 2
    assert send_esf_followup_links(app) == 0

    received = {m.rcpt_tos[0]: m.message for m in _deliver(app, db_session, smtp_server)}
    assert sorted(received) == ["ana@example.org", "john@example.org"]
    german = received["ana@example.org"]
    assert german["Subject"] == "Zwei kurze Fragen sechs Monate nach Ihrer Beratung"
    body = german.get_body(("plain",)).get_content()
    assert "Guten Tag Ana Lopesana," in body
    # Nothing of the ESF data in the mail, let alone special-category data.
    assert "Behinderung" not in body
    assert "erwerbstätig" not in body
    assert _token_of(german)[1] == "de"
    assert received["john@example.org"]["Subject"] == (
        "Two short questions six months after your counselling"
    )
    assert _token_of(received["john@example.org"])[1] == "en"
    link = followup_link.link_of(db_session, due)
    assert link.sent_at is not None
    assert link.answered_at is None
    assert link.token_hash == followup_link.token_hash(_token_of(german)[0])


def test_the_job_is_registered_daily_with_a_stable_id():
    from crm.jobs.periodic import JOBS

    (job,) = [j for j in JOBS if j.id == "send-esf-followup-links"]
    assert job.trigger == "cron"
    assert not job.every_tick


# --- the anonymous answer -----------------------------------------------------------------------


def test_the_answer_records_employment_closes_the_follow_up_and_is_taken_once(
    frozen_time, app_ctx, client, office, counsellor
):
    db_session = app_ctx
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    token = _sent_link(db_session, p)

    page = client.get(_answer_url(token))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sind Sie heute erwerbstätig (auch selbstständig)?" in html
    assert "Hat sich Ihre Situation auf dem Arbeitsmarkt seit dem Ende der Beratung" in html
    assert "keine Angabe" in html

    response = client.post(_answer_url(token), data={"employed": "yes", "improved": "no"})
    assert response.status_code == 200
    rec = service.record_of(db_session, p)
    db_session.refresh(rec)
    assert (rec.long_result, rec.long_result_on) == ("employment", date(2026, 11, 21))
    assert _six_month_followup(db_session, p).status == "done"
    link = followup_link.link_of(db_session, p)
    db_session.refresh(link)
    assert (link.employed, link.improved) == ("yes", "no")
    assert link.answered_at is not None
    (note,) = db_session.scalars(
        sa.select(ParticipantContact.note).where(ParticipantContact.participant_id == p.id)
    )
    assert note.startswith("Kurzumfrage beantwortet")
    # Audited as the public page, naming the fields, never her answers.
    (entry,) = db_session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "esf_followup_link", AuditEntry.action == "update"
        )
    )
    assert entry.actor_label == "public-esf-survey"
    assert "yes" not in str(entry.changes)

    again = client.post(_answer_url(token), data={"employed": "no", "improved": "yes"})
    assert again.status_code == 409
    assert "bereits beantwortet" in again.get_data(as_text=True)
    assert "bereits beantwortet" in client.get(_answer_url(token)).get_data(as_text=True)
    db_session.refresh(rec)
    assert rec.long_result == "employment"


def test_improved_counts_when_not_in_work_and_neither_leaves_the_result_to_the_counsellor(
    frozen_time, app_ctx, client, office, counsellor
):
    db_session = app_ctx
    improved = _former(db_session, office, counsellor.user)
    neither = _former(db_session, office, counsellor.user, email="n@example.org")
    db_session.commit()
    t1 = _sent_link(db_session, improved)
    t2 = _sent_link(db_session, neither)

    assert (
        client.post(_answer_url(t1), data={"employed": "unknown", "improved": "yes"}).status_code
        == 200
    )
    assert (
        client.post(_answer_url(t2), data={"employed": "no", "improved": "unknown"}).status_code
        == 200
    )

    assert service.record_of(db_session, improved).long_result == "improved"
    rec = service.record_of(db_session, neither)
    db_session.refresh(rec)
    assert rec.long_result == ""
    # The follow-up stays for the counsellor, the answer is in the contact log.
    assert _six_month_followup(db_session, neither).status == "open"
    (note,) = db_session.scalars(
        sa.select(ParticipantContact.note).where(ParticipantContact.participant_id == neither.id)
    )
    assert note == (
        "Kurzumfrage beantwortet (6 Monate nach Austritt): erwerbstätig: nein; "
        "Situation verbessert: keine Angabe"
    )


def test_a_missing_answer_is_asked_for_again_and_nothing_is_stored(
    frozen_time, app_ctx, client, office, counsellor
):
    db_session = app_ctx
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    token = _sent_link(db_session, p)
    response = client.post(_answer_url(token), data={"employed": "yes", "improved": "maybe"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Bitte beantworten Sie beide Fragen" in html
    assert 'value="yes" checked' in html
    assert followup_link.link_of(db_session, p).answered_at is None


def test_a_tampered_or_replaced_link_gets_a_clear_message_in_either_language(
    frozen_time, app_ctx, client, office, counsellor
):
    db_session = app_ctx
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    old = _sent_link(db_session, p)
    new = _sent_link(db_session, p)
    assert old != new
    for token in (old, new[:-2] + ("AA" if not new.endswith("AA") else "BB"), "x" * 600):
        response = client.get(_answer_url(token))
        assert response.status_code == 404
        assert "nicht gültig" in response.get_data(as_text=True)
        assert client.post(_answer_url(token), data={"employed": "yes"}).status_code == 404
    english = client.get(_answer_url(old) + "?sprache=en")
    assert english.status_code == 404
    assert "not valid" in english.get_data(as_text=True)
    assert client.get(_answer_url(new)).status_code == 200
    assert followup_link.link_of(db_session, p).answered_at is None


def test_answers_after_the_links_validity_are_refused(
    frozen_time, app_ctx, client, office, counsellor
):
    db_session = app_ctx
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    token = _sent_link(db_session, p, when=utcnow() - timedelta(days=61))
    page = client.get(_answer_url(token))
    assert page.status_code == 410
    assert "abgelaufen" in page.get_data(as_text=True)
    response = client.post(_answer_url(token), data={"employed": "yes", "improved": "yes"})
    assert response.status_code == 410
    assert service.record_of(db_session, p).long_result == ""
    assert followup_link.link_of(db_session, p).answered_at is None


def test_the_answer_needs_the_csrf_token_and_a_filled_honeypot_stores_nothing(
    frozen_time, app_ctx, client, office, counsellor
):
    db_session = app_ctx
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    token = _sent_link(db_session, p)
    data = {"employed": "yes", "improved": "yes"}
    assert client.post(_answer_url(token), data=data, csrf=False).status_code == 400
    bot = client.post(_answer_url(token), data={**data, "website": "http://spam.example"})
    assert bot.status_code == 200
    assert followup_link.link_of(db_session, p).answered_at is None
    assert service.record_of(db_session, p).long_result == ""


def test_many_posts_from_one_address_are_throttled(
    frozen_time, app, app_ctx, client, office, counsellor
):
    db_session = app_ctx
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    token = _sent_link(db_session, p)
    limit = int(app.config.get("CRM_INTAKE_MAX_PER_IP", 5)) * 2
    for _ in range(limit):
        assert client.post(_answer_url(token), data={}).status_code == 422
    assert client.post(_answer_url(token), data={}).status_code == 429


# --- the counsellor's button and what staff see -------------------------------------------------


def _send_url(p) -> str:
    return f"/teilnehmende/{p.id}/esf-plus/kurzumfrage"


def test_the_counsellor_sends_and_resends_the_link_and_sees_that_no_answer_came(
    frozen_time, client, db_session, office, counsellor
):
    p = _former(db_session, office, counsellor.user, exit_on=date(2026, 9, 30))
    db_session.commit()
    response = counsellor.post(_send_url(p))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/teilnehmende/{p.id}#esf")
    (first,) = QueuedMail(db_session).messages
    assert first.rcpt_tos == ["ana@example.org"]
    token, lang = _token_of(first.message)
    assert lang == "de"

    detail = counsellor.get(f"/teilnehmende/{p.id}").get_data(as_text=True)
    assert "Kurzumfrage gesendet am 21.11.2026, noch keine Antwort" in detail
    assert "Kurzumfrage erneut senden" in detail
    fu = _six_month_followup(db_session, p)
    fu_page = counsellor.get(f"/wiedervorlagen/{fu.id}").get_data(as_text=True)
    assert "Kurzumfrage gesendet am 21.11.2026, noch keine Antwort" in fu_page
    esf_page = counsellor.get(f"/teilnehmende/{p.id}/esf-plus").get_data(as_text=True)
    assert "Kurzumfrage gesendet am 21.11.2026, noch keine Antwort" in esf_page

    # Sent again: a new link, the old one stops working.
    assert counsellor.post(_send_url(p)).status_code == 302
    second = QueuedMail(db_session).messages[-1]
    new_token = _token_of(second.message)[0]
    assert new_token != token
    assert client.get(_answer_url(token)).status_code == 404
    assert (
        client.post(_answer_url(new_token), data={"employed": "no", "improved": "yes"}).status_code
        == 200
    )

    # Answered: no more sending, the card says what came back.
    assert counsellor.post(_send_url(p)).status_code == 302
    assert len(QueuedMail(db_session).messages) == 2
    detail = counsellor.get(f"/teilnehmende/{p.id}").get_data(as_text=True)
    assert "Kurzumfrage beantwortet am 21.11.2026" in detail
    assert "Kurzumfrage erneut senden" not in detail


def test_without_an_address_or_an_exit_nothing_is_sent(db_session, office, counsellor):
    no_mail = _former(db_session, office, counsellor.user, email="")
    no_exit = make_participant(
        db_session, office=office, counsellor=counsellor.user, email="x@example.org"
    )
    db_session.commit()
    for p in (no_mail, no_exit):
        assert counsellor.post(_send_url(p)).status_code == 302
    assert QueuedMail(db_session).messages == []
    assert db_session.scalar(sa.select(sa.func.count(EsfFollowupLink.id))) == 0


def test_the_send_button_respects_roles_office_scope_and_csrf(
    client_as, db_session, office, counsellor
):
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    other = client_as("counsellor", office=factories.make_office(db_session))
    assert other.post(_send_url(p)).status_code == 404
    for role in ("staff", "readonly"):
        assert client_as(role).post(_send_url(p)).status_code == 403
    assert counsellor.post(_send_url(p), csrf=False).status_code == 400
    assert counsellor.get(_send_url(p)).status_code == 405
    assert QueuedMail(db_session).messages == []


def test_an_erased_participants_link_is_in_her_erasure_plan(
    frozen_time, app, app_ctx, office, counsellor
):
    db_session = app_ctx
    p = _former(db_session, office, counsellor.user)
    db_session.commit()
    _sent_link(db_session, p)
    outbox = {"outbox": Path(app.config["CRM_MAIL_OUTBOX_DIR"])}
    plan = privacy.erasure_preview(db_session, p, directories=outbox)
    assert "esf_followup_link" in {a.table.name for a in plan.actions}


def test_result_for_prefers_employment():
    assert followup_link.result_for("yes", "yes") == "employment"
    assert followup_link.result_for("no", "yes") == "improved"
    assert followup_link.result_for("unknown", "no") == ""
