"""A test mail ("an mich senden") says at the top that it is one, shows the unsubscribe link
only as a sample that cannot unsubscribe anybody, and leaves out the web version line (a test
has no delivery, so no web version); real deliveries keep both links working."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.mail import SMTPTransport
from crm.mail.store import stores_for
from crm.newsletters import campaigns as campaign_service
from crm.newsletters.demo import HTML as DEMO_HTML
from crm.newsletters.demo import TEXT as DEMO_TEXT
from crm.newsletters.models import NewsletterTemplate, Subscription
from crm.newsletters.sending import SenderSettings, send_outbox
from tests.factories import make_list, make_person
from tests.fixtures.smtp import SMTPTestServer
from tests.mail_helpers import QueuedMail
from tests.newsletter_sending_helpers import make_campaign, subscribe

BANNER = "Testversand – so sieht die Nachricht für Empfänger*innen aus"
SAMPLE_NOTE = "Der Abmeldelink in dieser Testnachricht ist nur ein Muster und funktioniert nicht."


def _demo_template(db_session: Any) -> NewsletterTemplate:
    template = NewsletterTemplate(
        name="Monatsnewsletter",
        subject="{{ liste }}: Neues im Juni",
        body_html=DEMO_HTML,
        body_text=DEMO_TEXT,
    )
    db_session.add(template)
    db_session.flush()
    return template


def _bodies(message: Any) -> tuple[str, str]:
    return (
        message.get_body(("plain",)).get_content().replace("\r\n", "\n"),
        message.get_body(("html",)).get_content().replace("\r\n", "\n"),
    )


def test_a_template_test_is_marked_at_the_top_and_has_no_empty_web_version_line(
    app: Flask, client_as: Any, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over https a newsletter gets one-click List-Unsubscribe headers; a test must not.
    base = "https://crm.example.org"
    monkeypatch.setitem(app.config, "CRM_BASE_URL", base)
    lst = make_list(db_session, name="Newsletter Haus der Wirtschaft")
    person = make_person(db_session, first_name="Ümit", last_name="Özdemir", salutation="herr")
    subscribe(db_session, lst, person)
    template = _demo_template(db_session)
    db_session.commit()
    staff = client_as("staff")

    response = staff.post(
        f"/newsletter/vorlagen/{template.id}/testversand?person={person.id}&liste={lst.id}"
    )
    assert response.status_code == 302
    [queued] = QueuedMail(db_session, "test").messages
    message = queued.message
    assert str(message["Subject"]) == "[Test] Newsletter Haus der Wirtschaft: Neues im Juni"
    text, html = _bodies(message)

    assert text.startswith(f"{BANNER}\n{SAMPLE_NOTE}\n")
    assert "Im Browser ansehen" not in text
    assert "Sehr geehrter Herr Özdemir," in text
    assert f"Abbestellen: {base}/newsletter/abmelden/muster-testversand" in text
    assert "testversand-ohne-webversion" not in text + html

    body = html.split("<body>", 1)[1]
    assert body.lstrip().startswith('<div role="note"')
    assert BANNER in body.split("</div>", 1)[0]
    assert "Im Browser ansehen" not in html
    # The paragraph keeps the unsubscribe link, without a separator left dangling before it.
    footer = re.search(r'<p style="font-size:small">(.*?)</p>', html, re.S)
    assert footer is not None
    assert footer.group(1).strip().startswith(f'<a href="{base}/newsletter/abmelden/')
    assert "muster-testversand" in footer.group(1)

    # No header or link in the test can unsubscribe the subscriber it was rendered for.
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None
    sample = staff.get("/newsletter/abmelden/muster-testversand")
    assert sample.status_code in (400, 404)
    status = db_session.scalar(
        sa.select(Subscription.status).where(Subscription.person_id == person.id)
    )
    assert status == "confirmed"


def test_a_campaign_test_is_marked_the_same_way(client_as: Any, db_session: Any) -> None:
    lst = make_list(db_session)
    campaign = make_campaign(
        db_session,
        lst,
        subject="Neues {{ webversion_link }}",
        body_html=(
            "<p>Hallo</p>\n<p><a href='{{ abmelde_link }}'>Abbestellen</a> | "
            "<a href='{{ webversion_link }}'>Im Browser ansehen</a></p>"
        ),
        body_text="Hallo\nIm Browser ansehen: {{ webversion_link|upper }}\nEnde",
    )
    db_session.commit()
    staff = client_as("staff")
    assert staff.post(f"/newsletter/aussendungen/{campaign.id}/testversand").status_code == 302
    [queued] = QueuedMail(db_session, "test").messages
    assert str(queued.message["Subject"]) == "[Test] Neues"
    text, html = _bodies(queued.message)
    assert text.startswith(BANNER)
    assert text.endswith("Hallo\nEnde\n")
    assert "Im Browser ansehen" not in html
    assert "Abbestellen</a></p>" in html


def test_real_deliveries_keep_their_web_version_and_unsubscribe_links_and_no_test_note(
    app: Flask, db_session: Any, smtp_server: SMTPTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = "https://crm.example.org"
    monkeypatch.setitem(app.config, "CRM_BASE_URL", base)
    lst = make_list(db_session)
    person = make_person(db_session, email="erika@example.org", first_name="Erika")
    subscribe(db_session, lst, person)
    template = _demo_template(db_session)
    campaign = make_campaign(
        db_session,
        lst,
        subject=template.subject,
        body_html=template.body_html,
        body_text=template.body_text,
    )
    campaign_service.start_campaign(db_session, campaign)
    db_session.commit()
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none")
    report = send_outbox(db_session, transport, stores_for(app.config), SenderSettings())
    assert report.sent == 1

    [delivered] = smtp_server.messages
    text, html = _bodies(delivered.message)
    assert "Testversand" not in text + html
    assert not str(delivered.message["Subject"]).startswith("[Test]")
    assert re.search(rf"Im Browser ansehen: {base}/newsletter/web/\S+", text)
    assert re.search(rf"Abbestellen: {base}/newsletter/abmelden/\S+", text)
    assert "muster-testversand" not in text + html
    assert f'<a href="{base}/newsletter/web/' in html
    assert delivered.message["List-Unsubscribe"] is not None
