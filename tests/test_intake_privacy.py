"""Inquiries in the privacy domain: the Art. 15 lookup and report find them, erasure on request
removes them with their acknowledgement and logs it, the retention rules erase old unconverted
ones and keep recent and worked-on ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from crm.audit.models import AuditEntry
from crm.database import utcnow
from crm.intake import service
from crm.intake.models import Inquiry
from crm.jobs.periodic import apply_retention_rules
from crm.mail.models import OutgoingMail
from crm.privacy import retention
from crm.privacy.models import ErasureRecord
from crm.privacy.service import reapply_erasures
from scripts import validate_html as vnu
from tests import factories
from tests.vnu_helpers import missing_validator

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EMAIL = "olena.kovalenko@example.org"
DAY = timedelta(days=1)


def _create(session: Any, office: Any, **overrides: Any) -> Inquiry:
    values: dict[str, Any] = {
        "kind": "person",
        "topic": "recognition",
        "office_id": office.id,
        "name": "Olena Kovalenko",
        "email": EMAIL,
        "phone": "0391 555 0123",
        "message": "Ich möchte mein Diplom als Ärztin anerkennen lassen.",
    }
    values.update(overrides)
    return service.create_inquiry(
        session,
        service.InquiryData(**values),
        channel="web",
        now=MONDAY_9,
        consent_text="Ich bin einverstanden, dass meine Angaben gespeichert werden.",
        consent_version="2026-12",
        ack=service.AckSettings("Netzwerk <crm@netzwerk.example.org>"),
    )


@pytest.fixture
def inquiry(app_ctx: Any) -> Inquiry:
    db_session = app_ctx
    office = factories.make_office(db_session, name="Geschäftsstelle Magdeburg")
    counsellor = factories.make_user(db_session, office=office, display_name="Bettina Beratung")
    service.save_rule(db_session, None, office_id=office.id, topic="", user_ids=[counsellor.id])
    found = _create(db_session, office)
    service.mark_in_contact(found, MONDAY_9 + DAY)
    service.close(found, "not_eligible", "Abschluss fehlt noch.", MONDAY_9 + 2 * DAY)
    db_session.commit()
    return found


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _mails_to(session: Any, address: str) -> int:
    stmt = sa.select(sa.func.count()).where(sa.func.lower(OutgoingMail.recipient) == address)
    return session.scalar(stmt) or 0


@pytest.mark.parametrize("query", [EMAIL.upper(), "+49 391 5550123", "kovalenko olena"])
def test_the_privacy_lookup_finds_an_inquiry_by_email_phone_or_name(
    client_as, db_session, inquiry, query
):
    html = client_as("admin").get("/datenschutz/auskunft", query_string={"q": query})
    assert html.status_code == 200
    page = html.get_data(as_text=True)
    assert f'value="inquiry:{inquiry.id}"' in page
    assert f"/datenschutz/anfragen/{inquiry.id}/auskunft" in page


def test_the_report_lists_the_inquiry_with_status_history_consent_and_acknowledgement(
    client_as, db_session, inquiry
):
    response = client_as("admin").get(f"/datenschutz/auskunft/bericht?r=inquiry:{inquiry.id}")
    assert response.status_code == 200
    text = _text(response.get_data(as_text=True))
    assert "Anfragen" in text
    for shown in (
        "Olena Kovalenko",
        EMAIL,
        "Ärztin anerkennen",
        "Anerkennung",  # the topic, in German
        "Bettina Beratung",  # assigned to
        "Erstkontakt am",
        "Abgeschlossen",
        "Grund für den Abschluss",
        "2026-12",  # consent version
        "Ich bin einverstanden",
        "Eingangsbestätigung",  # the acknowledgement from the outbox
        "Speicherdauer",
        "Anfragen: gelöscht 6 Monate nach dem Abschluss",
    ):
        assert shown in text, shown
    assert "not_eligible" not in text
    assert "recognition" not in text
    pdf = client_as("admin").get(f"/datenschutz/auskunft/bericht.pdf?r=inquiry:{inquiry.id}")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"


def test_erasing_an_inquiry_on_request_removes_it_and_its_acknowledgement_and_logs_it(
    client_as, app_ctx, inquiry
):
    db_session = app_ctx
    other = _create(db_session, inquiry.office, name="Samir Haddad", email="samir@example.org")
    db_session.commit()
    iid, other_id = inquiry.id, other.id
    assert _mails_to(db_session, EMAIL) == 1
    admin = client_as("admin")
    preview = admin.get(f"/datenschutz/anfragen/{iid}/loeschen")
    assert preview.status_code == 200
    assert "Olena Kovalenko" in preview.get_data(as_text=True)

    response = admin.post(
        f"/datenschutz/anfragen/{iid}/loeschen", data={"confirm": "yes", "legal_basis": "request"}
    )
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(Inquiry, iid) is None
    assert _mails_to(db_session, EMAIL) == 0
    assert db_session.get(Inquiry, other_id) is not None
    assert _mails_to(db_session, "samir@example.org") == 1
    rec = db_session.scalars(
        sa.select(ErasureRecord).where(ErasureRecord.subject_type == "inquiry")
    ).one()
    assert rec.subject_id == iid
    assert rec.legal_basis == "request"
    assert rec.row_ids["inquiry"] == [iid]
    assert "inquiries" in rec.categories
    assert "mail" in rec.categories
    # The audit log keeps who changed what, never her values.
    about = db_session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "inquiry", AuditEntry.entity_id == iid
        )
    ).all()
    assert about
    assert all("Olena" not in repr(e.changes) and "Olena" not in e.summary for e in about)
    assert admin.get(f"/datenschutz/anfragen/{iid}/auskunft").status_code == 404
    # Re-applying the log after a restore finds it gone and touches no other record.
    assert reapply_erasures(db_session) == [(rec, False)]
    assert db_session.get(Inquiry, other_id) is not None


def _age(session: Any, inquiry: Inquiry, **values: Any) -> None:
    session.execute(sa.update(Inquiry).where(Inquiry.id == inquiry.id).values(**values))


def _state(session: Any, app: Any, key: str) -> retention.RuleState:
    return next(s for s in retention.preview(session, app.config, utcnow()) if s.rule.key == key)


def test_retention_erases_old_unconverted_inquiries_and_keeps_recent_and_worked_on_ones(
    app, app_ctx
):
    s = app_ctx
    office = factories.make_office(s)
    factories.make_user(s, office=office, role="lead")
    now = utcnow()
    closed_long_ago = _create(s, office, name="Alt Geschlossen", email="alt@example.org")
    closed_recently = _create(s, office, name="Neu Geschlossen", email="neu@example.org")
    abandoned = _create(s, office, name="Nie Bearbeitet", email="nie@example.org")
    open_worked_on = _create(s, office, name="Noch Offen", email="offen@example.org")
    converted = _create(s, office, name="Schon Kontakt", email="kontakt@example.org")
    s.flush()
    long_ago = now - relativedelta(months=13)
    for row in (closed_long_ago, closed_recently):
        service.close(row, "spam", "", now)
    s.flush()
    _age(s, closed_long_ago, closed_at=now - relativedelta(months=6) - DAY)
    _age(s, closed_recently, closed_at=now - relativedelta(months=5))
    _age(s, abandoned, updated_at=long_ago, created_at=long_ago)
    _age(s, open_worked_on, updated_at=now - relativedelta(months=11), created_at=long_ago)
    # Converted long ago into a participant who still exists: its data lives on that record.
    participant = factories.make_participant(s, office=office)
    _age(
        s,
        converted,
        status="converted",
        converted_at=long_ago,
        participant_id=participant.id,
        updated_at=long_ago,
        created_at=long_ago,
    )
    s.commit()
    ids = {
        name: row.id
        for name, row in (
            ("closed_long_ago", closed_long_ago),
            ("closed_recently", closed_recently),
            ("abandoned", abandoned),
            ("open_worked_on", open_worked_on),
            ("converted", converted),
        )
    }
    assert _state(s, app, "inquiries_closed").due == 1
    assert _state(s, app, "inquiries_untouched").due == 1

    done = retention.run(s, app.config, utcnow())
    s.commit()

    assert (done["inquiries_closed"], done["inquiries_untouched"]) == (1, 1)
    kept = set(s.scalars(sa.select(Inquiry.id).where(Inquiry.id.in_(ids.values()))))
    assert kept == {ids["closed_recently"], ids["open_worked_on"], ids["converted"]}
    assert _mails_to(s, "alt@example.org") == 0
    assert _mails_to(s, "nie@example.org") == 0
    assert _mails_to(s, "neu@example.org") == 1
    logged = s.scalars(
        sa.select(ErasureRecord.subject_id).where(
            ErasureRecord.subject_type == "inquiry", ErasureRecord.legal_basis == "retention"
        )
    ).all()
    assert sorted(logged) == sorted([ids["closed_long_ago"], ids["abandoned"]])
    assert _state(s, app, "inquiries_closed").due == 0


def test_the_inquiry_retention_periods_are_set_by_admins_on_the_retention_page(
    admin_client, db_session
):
    page = admin_client.get("/datenschutz/aufbewahrung/").get_data(as_text=True)
    assert 'id="rule-inquiries_closed"' in page
    assert 'id="rule-inquiries_untouched"' in page
    values = {
        rule.key: str(value)
        for rule, value in zip(
            retention.ALL_RULES,
            retention.settings(db_session, admin_client.application.config).values(),
            strict=True,
        )
    }
    values["inquiries_closed"] = "3"
    saved = admin_client.post("/datenschutz/aufbewahrung/", data=values)
    assert saved.status_code == 302
    assert retention.settings(db_session, admin_client.application.config)["inquiries_closed"] == 3


@pytest.mark.parametrize("role", ["readonly", "counsellor", "staff", "lead"])
def test_only_admins_reach_an_inquirys_report_and_erasure(client_as, db_session, inquiry, role):
    c = client_as(role)
    for url in (
        f"/datenschutz/auskunft?q={EMAIL}",
        f"/datenschutz/auskunft/bericht?r=inquiry:{inquiry.id}",
        f"/datenschutz/anfragen/{inquiry.id}/auskunft",
        f"/datenschutz/anfragen/{inquiry.id}/loeschen",
    ):
        assert c.get(url).status_code == 403, url
    refused = c.post(f"/datenschutz/anfragen/{inquiry.id}/loeschen", data={"confirm": "yes"})
    assert refused.status_code == 403
    assert db_session.get(Inquiry, inquiry.id) is not None


def _closed_long_ago(session: Any, **overrides: Any) -> int:
    office = factories.make_office(session)
    factories.make_user(session, office=office, role="lead")
    old = _create(session, office, **overrides)
    service.close(old, "spam", "", utcnow())
    session.flush()
    _age(session, old, closed_at=utcnow() - relativedelta(months=7))
    session.commit()
    return old.id


def test_the_nightly_retention_job_erases_a_long_closed_inquiry(app, app_ctx):
    iid = _closed_long_ago(app_ctx, email="nacht@example.org")

    done = apply_retention_rules(app)

    assert done["inquiries_closed"] >= 1
    app_ctx.expire_all()
    assert app_ctx.get(Inquiry, iid) is None
    assert _mails_to(app_ctx, "nacht@example.org") == 0


def test_an_admin_applies_the_rules_on_the_retention_page_and_the_inquiry_is_erased(
    app, app_ctx, admin_client
):
    iid = _closed_long_ago(app_ctx, email="seite@example.org")

    response = admin_client.post("/datenschutz/aufbewahrung/", data={"run": "1"})

    assert response.status_code == 302
    app_ctx.expire_all()
    assert app_ctx.get(Inquiry, iid) is None


@pytest.mark.slow
def test_the_inquiry_privacy_pages_are_valid_html(client_as, app_ctx, inquiry):
    missing = missing_validator()
    if missing:
        pytest.skip(missing)
    admin = client_as("admin")
    urls = (
        f"/datenschutz/auskunft?q={EMAIL}",
        f"/datenschutz/auskunft/bericht?r=inquiry:{inquiry.id}",
        f"/datenschutz/anfragen/{inquiry.id}/auskunft",
        f"/datenschutz/anfragen/{inquiry.id}/loeschen",
        "/datenschutz/aufbewahrung/",
    )
    pages = {}
    for url in urls:
        response = admin.get(url)
        assert response.status_code == 200, url
        pages[url] = response.get_data(as_text=True)

    messages = vnu.validate(pages)

    errors = [str(m) for m in messages if m.kind == "error"]
    assert not errors, "\n".join(errors)
