"""Verwaltung → Postausgang: one list of everything the app sends, a message, retry, cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import lxml.html
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.database import utcnow
from crm.mail.models import OutgoingMail
from crm.mail.queue import enqueue
from crm.newsletters import campaigns as campaign_service
from crm.newsletters.models import Campaign, Delivery, Subscription
from crm.outbox import admin
from tests.newsletter_sending_helpers import make_campaign, make_list, make_subscribers

ROLES_WITHOUT = ("lead", "counsellor", "staff", "readonly")


def queue_mail(session, *, to="anna.berg@example.org", subject="Wiedervorlage fällig", **state):
    msg = EmailMessage()
    msg["From"] = "Netzwerk <crm@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Guten Tag,\nbitte zurückrufen.")
    msg.add_alternative("<p>Guten Tag</p><script>alert('x')</script>", subtype="html")
    row = enqueue(session, msg, kind=state.pop("kind", "reminder"))
    for key, value in state.items():
        setattr(row, key, value)
    session.flush()
    return row


def started(session, recipients=2):
    nl = make_list(session)
    make_subscribers(session, nl, recipients)
    campaign = make_campaign(session, nl)
    campaign_service.start_campaign(session, campaign)
    session.flush()
    deliveries = session.scalars(
        sa.select(Delivery).where(Delivery.campaign_id == campaign.id).order_by(Delivery.id)
    ).all()
    return campaign, deliveries


def fail(delivery, code=550, error="5.1.1 User unknown"):
    delivery.status, delivery.attempts, delivery.smtp_code, delivery.last_error = (
        "failed",
        1,
        code,
        error,
    )


def table_rows(html: str) -> dict[str, list[str]]:
    root = lxml.html.fromstring(html)
    return {
        tr.get("id"): [td.text_content().strip() for td in tr.findall("td")]
        for tr in root.get_element_by_id("mail-outbox").iter("tr")
        if tr.get("id")
    }


# --- the list ------------------------------------------------------------------------------------


def test_the_list_shows_queued_mail_and_campaign_deliveries_with_german_labels(
    client_as, db_session
):
    failed = queue_mail(
        db_session, status="failed", attempts=3, smtp_code=550, last_error="5.1.1 Unbekannt"
    )
    deferred = queue_mail(db_session, kind="digest", attempts=2, smtp_code=421)
    campaign, deliveries = started(db_session, 1)
    db_session.commit()
    rows = table_rows(client_as("admin").get("/verwaltung/postausgang").get_data(as_text=True))
    assert set(rows) == {f"mail-{failed.id}", f"mail-{deferred.id}", f"delivery-{deliveries[0].id}"}
    created, kind, to, subject, status, attempts, _next, answer, _sent, mid = rows[
        f"mail-{failed.id}"
    ]
    assert (kind, to, subject, status, attempts) == (
        "Erinnerung an Wiedervorlage",
        "anna.berg@example.org",
        "Wiedervorlage fällig",
        "Fehlgeschlagen",
        "3",
    )
    assert answer == "550 5.1.1 Unbekannt"
    assert mid == failed.message_id
    assert rows[f"mail-{deferred.id}"][1:5:3] == ["Tagesübersicht", "Zurückgestellt"]
    assert rows[f"mail-{deferred.id}"][6]  # a deferred row shows when it is tried next
    delivery = rows[f"delivery-{deliveries[0].id}"]
    assert delivery[1] == "Newsletter-Aussendung" or delivery[1].startswith("Newsletter")
    assert delivery[4] == "Wartend"
    assert delivery[3] == campaign.subject


def test_the_list_filters_by_status_and_kind_and_ignores_unknown_values(client_as, db_session):
    failed = queue_mail(db_session, status="failed", attempts=1)
    queued = queue_mail(db_session, kind="confirmation")
    _campaign, deliveries = started(db_session, 2)
    fail(deliveries[1])
    db_session.commit()
    admin_client = client_as("admin")

    def ids(**query):
        response = admin_client.get("/verwaltung/postausgang", query_string=query)
        assert response.status_code == 200
        return set(table_rows(response.get_data(as_text=True)))

    assert ids(status="failed") == {f"mail-{failed.id}", f"delivery-{deliveries[1].id}"}
    assert ids(art="confirmation") == {f"mail-{queued.id}"}
    assert ids(art="campaign", status="queued") == {f"delivery-{deliveries[0].id}"}
    assert ids(art="campaign", status="failed") == {f"delivery-{deliveries[1].id}"}
    everything = ids()
    assert len(everything) == 4
    assert ids(status="<script>", art="x' OR 1=1", ab="9.x") == everything


def test_keyset_pages_walk_both_tables_newest_first_without_gaps_or_repeats(db_session):
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    mails = [queue_mail(db_session, created_at=start + timedelta(minutes=2 * i)) for i in range(7)]
    _campaign, deliveries = started(db_session, 5)
    for i, d in enumerate(deliveries):
        d.created_at = start + timedelta(minutes=2 * i + 1)
    db_session.flush()
    seen: list[tuple[str, int]] = []
    cursor = admin.Cursor()
    pages = 0
    while True:
        page, cursor = admin.outbox_page(db_session, cursor=cursor, per_page=3)
        pages += 1
        seen += [(r.source, r.id) for r in page]
        if cursor is None:
            break
        # What the page links to is what the next request reads.
        cursor = admin.Cursor.decode(cursor.encode())
    expected = sorted(
        [("mail", m.id, m.created_at) for m in mails]
        + [("delivery", d.id, d.created_at) for d in deliveries],
        key=lambda t: t[2],
        reverse=True,
    )
    assert seen == [(source, i) for source, i, _at in expected]
    assert pages == 4


def test_a_page_reads_at_most_one_page_and_one_row_per_table(db_session, count_queries):
    for _ in range(30):
        queue_mail(db_session)
    db_session.flush()
    with count_queries() as counted:
        page, cursor = admin.outbox_page(db_session, per_page=10)
    assert len(page) == 10
    assert cursor is not None
    assert len(counted) == 2  # one bounded query per table
    assert all("LIMIT" in q.upper() for q in counted)


# --- one message ---------------------------------------------------------------------------------


def test_the_detail_page_shows_headers_and_text_and_the_html_only_as_text(client_as, db_session):
    row = queue_mail(db_session)
    db_session.commit()
    response = client_as("admin").get(f"/verwaltung/postausgang/{row.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    root = lxml.html.fromstring(html)
    headers = {
        tr.find("th").text_content(): tr.find("td").text_content()
        for tr in root.get_element_by_id("mail-headers").iter("tr")
    }
    assert headers["To"] == "anna.berg@example.org"
    assert headers["Message-ID"] == row.message_id
    assert "bitte zurückrufen" in root.get_element_by_id("mail-text").text_content()
    assert "<script>alert" not in html  # the HTML part never becomes page markup
    assert "&lt;script&gt;alert" in html
    assert not root.xpath("//iframe")


def test_a_message_whose_text_was_dropped_says_so(client_as, db_session):
    row = queue_mail(db_session, status="sent", sent_at=utcnow(), message=b"")
    db_session.commit()
    page = client_as("admin").get(f"/verwaltung/postausgang/{row.id}").get_data(as_text=True)
    assert "nicht mehr gespeichert" in page


def test_unknown_rows_are_404(client_as, db_session):
    admin_client = client_as("admin")
    assert admin_client.get("/verwaltung/postausgang/999999").status_code == 404
    assert admin_client.post("/verwaltung/postausgang/999999/erneut-senden").status_code == 404
    assert admin_client.get("/verwaltung/postausgang/kampagnen/999999").status_code == 404
    response = admin_client.post("/verwaltung/postausgang/kampagnen/999999/erneut-senden")
    assert response.status_code == 302  # with the German reason as a message


# --- retry and cancel ----------------------------------------------------------------------------


def test_an_admin_retries_a_failed_message_which_is_queued_now_and_audited(client_as, db_session):
    row = queue_mail(
        db_session,
        status="failed",
        attempts=5,
        smtp_code=550,
        last_error="5.1.1 User unknown",
        next_attempt_at=utcnow() + timedelta(days=3),
    )
    db_session.commit()
    before = utcnow()
    response = client_as("admin").post(
        f"/verwaltung/postausgang/{row.id}/erneut-senden", follow_redirects=True
    )
    assert "steht wieder in der Warteschlange" in response.get_data(as_text=True)
    db_session.expire_all()
    row = db_session.get(OutgoingMail, row.id)
    assert (row.status, row.attempts) == ("queued", 0)
    assert before <= row.next_attempt_at <= utcnow()
    entry = db_session.scalar(
        sa.select(AuditEntry).where(
            AuditEntry.action == "mail_retry", AuditEntry.entity_id == row.id
        )
    )
    assert entry is not None
    assert entry.entity_type == "mail_outbox"


def test_only_failed_messages_can_be_retried_and_only_queued_ones_cancelled(client_as, db_session):
    sent = queue_mail(db_session, status="sent", sent_at=utcnow())
    queued = queue_mail(db_session)
    db_session.commit()
    admin_client = client_as("admin")
    page = admin_client.post(
        f"/verwaltung/postausgang/{sent.id}/erneut-senden", follow_redirects=True
    ).get_data(as_text=True)
    assert "Nur eine fehlgeschlagene Nachricht" in page
    page = admin_client.post(
        f"/verwaltung/postausgang/{sent.id}/abbrechen", follow_redirects=True
    ).get_data(as_text=True)
    assert "Nur eine wartende Nachricht" in page
    admin_client.post(f"/verwaltung/postausgang/{queued.id}/abbrechen")
    db_session.expire_all()
    assert db_session.get(OutgoingMail, sent.id).status == "sent"
    assert db_session.get(OutgoingMail, queued.id).status == "cancelled"
    assert db_session.scalar(
        sa.select(sa.func.count()).where(
            AuditEntry.action == "mail_cancel", AuditEntry.entity_id == queued.id
        )
    )


def test_a_message_a_sender_claimed_meanwhile_is_not_cancelled(db_session):
    row = queue_mail(db_session)
    db_session.flush()
    # The sender's claim lands between the page load and the admin's click.
    db_session.execute(
        sa.update(OutgoingMail).where(OutgoingMail.id == row.id).values(status="sending")
    )
    with pytest.raises(admin.OutboxError):
        admin.cancel_mail(db_session, row)
    assert db_session.get(OutgoingMail, row.id).status == "sending"


def test_retry_and_cancel_need_the_csrf_token(client_as, db_session):
    failed = queue_mail(db_session, status="failed", attempts=1)
    queued = queue_mail(db_session)
    db_session.commit()
    admin_client = client_as("admin")
    for path in (f"{failed.id}/erneut-senden", f"{queued.id}/abbrechen"):
        response = admin_client.post(f"/verwaltung/postausgang/{path}", csrf=False)
        assert response.status_code == 400
    db_session.expire_all()
    assert db_session.get(OutgoingMail, failed.id).status == "failed"
    assert db_session.get(OutgoingMail, queued.id).status == "queued"


@pytest.mark.parametrize("role", ROLES_WITHOUT)
def test_only_admins_see_or_change_the_outbox(client_as, db_session, role):
    failed = queue_mail(db_session, status="failed", attempts=1)
    queued = queue_mail(db_session)
    _campaign, deliveries = started(db_session, 1)
    fail(deliveries[0])
    db_session.commit()
    user = client_as(role)
    for path in (
        "/verwaltung/postausgang",
        f"/verwaltung/postausgang/{failed.id}",
        f"/verwaltung/postausgang/kampagnen/{deliveries[0].id}",
        "/verwaltung/postausgang/dateien",
    ):
        assert user.get(path).status_code == 403, path
    for path in (
        f"/verwaltung/postausgang/{failed.id}/erneut-senden",
        f"/verwaltung/postausgang/{queued.id}/abbrechen",
        f"/verwaltung/postausgang/kampagnen/{deliveries[0].id}/erneut-senden",
    ):
        assert user.post(path).status_code == 403, path
    db_session.expire_all()
    assert db_session.get(OutgoingMail, failed.id).status == "failed"
    assert db_session.get(OutgoingMail, queued.id).status == "queued"
    assert db_session.get(Delivery, deliveries[0].id).status == "failed"


# --- campaign deliveries -------------------------------------------------------------------------


def _retry_delivery(client, delivery_id: int) -> str:
    return client.post(
        f"/verwaltung/postausgang/kampagnen/{delivery_id}/erneut-senden", follow_redirects=True
    ).get_data(as_text=True)


def test_retrying_a_delivery_of_a_finished_campaign_reopens_it_for_the_sender(
    client_as, db_session
):
    campaign, deliveries = started(db_session, 2)
    deliveries[0].status, deliveries[0].sent_at = "sent", utcnow()
    fail(deliveries[1])
    campaign.status, campaign.finished_at = "sent", utcnow()
    db_session.commit()
    page = _retry_delivery(client_as("admin"), deliveries[1].id)
    assert "wieder geöffnet" in page
    db_session.expire_all()
    assert db_session.get(Campaign, campaign.id).status == "sending"
    assert db_session.get(Campaign, campaign.id).finished_at is None
    again = db_session.get(Delivery, deliveries[1].id)
    assert (again.status, again.attempts) == ("queued", 0)
    assert db_session.get(Delivery, deliveries[0].id).status == "sent"  # nobody mailed twice


def test_retrying_a_delivery_of_a_paused_campaign_waits_for_the_resume(client_as, db_session):
    campaign, deliveries = started(db_session, 1)
    fail(deliveries[0])
    campaign.status = "paused"
    db_session.commit()
    page = _retry_delivery(client_as("admin"), deliveries[0].id)
    assert "sobald die Aussendung fortgesetzt wird" in page
    db_session.expire_all()
    assert db_session.get(Campaign, campaign.id).status == "paused"
    assert db_session.get(Delivery, deliveries[0].id).status == "queued"


def test_a_delivery_of_a_cancelled_campaign_or_without_consent_is_not_retried(
    client_as, db_session
):
    campaign, deliveries = started(db_session, 2)
    fail(deliveries[0])
    fail(deliveries[1])
    db_session.commit()
    # The second recipient unsubscribed after the failure.
    db_session.execute(
        sa.update(Subscription)
        .where(Subscription.person_id == deliveries[1].person_id)
        .values(status="unsubscribed", unsubscribed_at=utcnow())
    )
    db_session.commit()
    admin_client = client_as("admin")
    assert "keine gültige Einwilligung" in _retry_delivery(admin_client, deliveries[1].id)
    campaign.status = "cancelled"
    db_session.commit()
    assert "abgebrochen" in _retry_delivery(admin_client, deliveries[0].id)
    db_session.expire_all()
    assert {db_session.get(Delivery, d.id).status for d in deliveries} == {"failed"}
    assert db_session.get(Campaign, campaign.id).status == "cancelled"


# --- links ---------------------------------------------------------------------------------------


def test_the_administration_links_the_outbox_and_the_outbox_the_file_viewer(
    app, client_as, db_session, monkeypatch
):
    admin_client = client_as("admin")
    overview = admin_client.get("/verwaltung").get_data(as_text=True)
    assert 'href="/verwaltung/postausgang"' in overview
    monkeypatch.setitem(app.config, "CRM_MAIL_TRANSPORT", "file")
    page = admin_client.get("/verwaltung/postausgang").get_data(as_text=True)
    assert "Entwicklungs-Postausgang (Dateien)" in page
    assert admin_client.get("/verwaltung/postausgang/dateien").status_code == 200
    monkeypatch.setitem(app.config, "CRM_MAIL_TRANSPORT", "smtp")
    page = admin_client.get("/verwaltung/postausgang").get_data(as_text=True)
    assert "Entwicklungs-Postausgang" not in page


def test_a_test_send_tells_an_admin_where_its_row_is(client_as, db_session):
    from crm.newsletters.models import NewsletterTemplate

    lst = make_list(db_session)
    tpl = NewsletterTemplate(name="T", subject="Hallo", body_html="<p>Hallo</p>")
    db_session.add(tpl)
    db_session.commit()
    admin_client = client_as("admin")
    response = admin_client.post(
        f"/newsletter/vorlagen/{tpl.id}/testversand?liste={lst.id}", follow_redirects=True
    )
    row = db_session.scalar(sa.select(OutgoingMail).where(OutgoingMail.kind == "test"))
    assert row is not None
    assert f'href="/verwaltung/postausgang/{row.id}"' in response.get_data(as_text=True)
