"""Campaign pages: create from a template, start, progress partial, recipients, archive."""

from __future__ import annotations

from typing import Any

from flask import Flask

from crm.mail import SMTPTransport
from crm.mail.store import stores_for
from crm.newsletters.models import Campaign, NewsletterTemplate
from crm.newsletters.sending import SenderSettings, send_outbox
from tests.factories import make_list
from tests.fixtures.smtp import SMTPTestServer
from tests.mail_helpers import QueuedMail
from tests.newsletter_sending_helpers import make_subscribers


def test_staff_create_start_and_watch_a_campaign_to_the_archive(
    app: Flask, client_as: Any, db_session: Any, smtp_server: SMTPTestServer
) -> None:
    nl = make_list(db_session)
    make_subscribers(db_session, nl, 3)
    template = NewsletterTemplate(
        name="Herbst", subject="Hallo {{ vorname }}", body_text="Text", body_html="<p>HTML</p>"
    )
    db_session.add(template)
    db_session.commit()
    client = client_as("staff")

    assert client.get("/newsletter/aussendungen/neu").status_code == 200
    response = client.post(
        "/newsletter/aussendungen/neu",
        data={"name": "Herbst 2026", "list_id": nl.id, "template_id": template.id},
    )
    assert response.status_code == 302, response.data
    campaign = db_session.query(Campaign).filter_by(name="Herbst 2026").one()
    assert campaign.subject == "Hallo {{ vorname }}"
    assert campaign.status == "draft"

    assert client.post(f"/newsletter/aussendungen/{campaign.id}/starten").status_code == 302
    db_session.refresh(campaign)
    assert campaign.status == "sending"
    partial = client.get(f"/newsletter/aussendungen/{campaign.id}/fortschritt").get_data(True)
    assert 'data-percent="0"' in partial
    assert 'data-hx-trigger="every 2s"' in partial

    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none")
    send_outbox(db_session, transport, stores_for(app.config), SenderSettings())

    partial = client.get(f"/newsletter/aussendungen/{campaign.id}/fortschritt").get_data(True)
    assert 'data-percent="100"' in partial
    assert "hx-trigger" not in partial  # polling stops once sent
    page = client.get(f"/newsletter/aussendungen/{campaign.id}").get_data(True)
    assert page.count('data-delivery-status="sent"') == 3
    for message in smtp_server.messages:
        assert str(message.message["Message-ID"]) in page.replace("&lt;", "<").replace("&gt;", ">")
    archive = client.get("/newsletter/aussendungen/").get_data(True)
    assert f'data-campaign-id="{campaign.id}"' in archive


def test_readonly_users_cannot_start_campaigns(client_as: Any, db_session: Any) -> None:
    nl = make_list(db_session)
    campaign = Campaign(name="X", list_id=nl.id, subject="s")
    db_session.add(campaign)
    db_session.commit()
    client = client_as("counsellor")
    assert client.get(f"/newsletter/aussendungen/{campaign.id}").status_code == 200
    assert client.post(f"/newsletter/aussendungen/{campaign.id}/starten").status_code == 403
    db_session.refresh(campaign)
    assert campaign.status == "draft"


def test_a_campaign_the_sender_paused_on_errors_says_why_and_that_it_resumes_by_itself(
    app: Flask, client_as: Any, db_session: Any, smtp_server: SMTPTestServer
) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from tests.newsletter_sending_helpers import started_campaign

    campaign, _ = started_campaign(db_session, 2)
    smtp_server.refuse_for(60, "421 4.3.2 Wartungsarbeiten")
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none")
    settings = replace(SenderSettings(), pause_after=timedelta(0), connection_backoff=0)
    report = send_outbox(db_session, transport, stores_for(app.config), settings)
    assert report.paused == [campaign.id]

    partial = client_as("staff").get(f"/newsletter/aussendungen/{campaign.id}/fortschritt")
    text = " ".join(partial.get_data(True).split())
    assert "Versand pausiert: seit " in text
    assert (
        "keine Nachricht angenommen; letzte Antwort des Servers: 421 4.3.2 Wartungsarbeiten" in text
    )
    assert "läuft von selbst weiter" in text


def test_campaigns_are_linked_from_the_navigation_and_the_newsletter_page(client_as: Any) -> None:
    client = client_as("staff")
    start = client.get("/").get_data(True)
    assert 'href="/newsletter/aussendungen/"' in start
    overview = client.get("/newsletter/").get_data(True)
    assert 'href="/newsletter/aussendungen/"' in overview
    campaigns = client.get("/newsletter/aussendungen/").get_data(True)
    # Only the campaigns entry is marked active there, not the newsletter entry as well.
    assert campaigns.count('nav-link active" href="/newsletter') == 1


def test_a_draft_campaigns_own_text_can_be_sent_as_a_test_to_the_staff_member(
    client_as: Any, db_session: Any
) -> None:
    nl = make_list(db_session)
    make_subscribers(db_session, nl, 2)
    template = NewsletterTemplate(
        name="Winter", subject="Vorlage", body_text="Vorlagentext", body_html="<p>Vorlage</p>"
    )
    db_session.add(template)
    db_session.commit()
    client = client_as("staff")
    client.post(
        "/newsletter/aussendungen/neu",
        data={"name": "Dezember", "list_id": nl.id, "template_id": template.id},
    )
    campaign = db_session.query(Campaign).filter_by(name="Dezember").one()
    # The campaign's own copy is what goes out, so the test must show that copy.
    campaign.subject = "Rückblick Jobmesse"
    campaign.body_text = "Text der Dezember-Ausgabe"
    db_session.commit()

    page = client.get(f"/newsletter/aussendungen/{campaign.id}").get_data(True)
    assert f"/newsletter/aussendungen/{campaign.id}/testversand" in page
    response = client.post(f"/newsletter/aussendungen/{campaign.id}/testversand")
    assert response.status_code == 302
    [queued] = QueuedMail(db_session, "test").messages
    assert queued.rcpt_tos == [client.user.email]
    assert str(queued.message["Subject"]) == "[Test] Rückblick Jobmesse"
    assert "Text der Dezember-Ausgabe" in queued.message.get_body(("plain",)).get_content()
    db_session.refresh(campaign)
    assert campaign.status == "draft"  # a test sends nothing to the subscribers
    shown = client.get(response.headers["Location"]).get_data(True)
    assert "liegt im Postausgang" in shown


def test_the_campaign_page_shows_the_issue_text_as_it_goes_out(
    client_as: Any, db_session: Any
) -> None:
    nl = make_list(db_session)
    template = NewsletterTemplate(
        name="Winter",
        subject="Neues",
        body_text="{{ anrede }},\n\nTermine im {{ liste }}.",
        body_html="<p>HTML</p>",
    )
    db_session.add(template)
    db_session.commit()
    client = client_as("staff")
    client.post(
        "/newsletter/aussendungen/neu",
        data={"name": "Dezember", "list_id": nl.id, "template_id": template.id},
    )
    campaign = db_session.query(Campaign).filter_by(name="Dezember").one()
    page = client.get(f"/newsletter/aussendungen/{campaign.id}").get_data(True)
    shown = page.split('id="campaign-text">', 1)[1].split("</pre>", 1)[0]
    assert "Sehr geehrte Frau Dr. Beispiel,\n\nTermine im " in shown
    assert "{{" not in shown
    # A copy that no longer renders names the problem instead of failing the page.
    campaign.body_text = "{{ unbekannt"
    db_session.commit()
    response = client.get(f"/newsletter/aussendungen/{campaign.id}")
    assert response.status_code == 200
    assert 'id="campaign-problem"' in response.get_data(True)


def test_the_schedule_button_of_a_draft_says_what_it_does(client_as: Any, db_session: Any) -> None:
    nl = make_list(db_session)
    template = NewsletterTemplate(name="Monat", subject="Neues", body_text="Hallo")
    db_session.add(template)
    db_session.commit()
    client = client_as("staff")
    client.post(
        "/newsletter/aussendungen/neu",
        data={"name": "Januar", "list_id": nl.id, "template_id": template.id},
    )
    campaign = db_session.query(Campaign).filter_by(name="Januar").one()
    page = client.get(f"/newsletter/aussendungen/{campaign.id}").get_data(True)
    # A verb, not the noun "Zeitplan" (the scheduled jobs' column keeps that).
    button = page.split('id="schedule-button">', 1)[1].split("</button>", 1)[0]
    assert button == "Versand planen"
