"""Newsletter messages: multipart, UTF-8 headers, header injection, RFC 8058 unsubscribe."""

from __future__ import annotations

import sqlalchemy as sa

from crm.mail import transport_from_config
from crm.newsletters import service
from crm.newsletters.models import Subscription
from crm.newsletters.rendering import RenderedMessage
from tests.factories import make_list, make_person
from tests.mail_helpers import QueuedMail
from tests.newsletter_helpers import use_smtp


def _send(app, msg):
    with transport_from_config(app.config) as transport:
        return transport.send(msg)


def test_a_newsletter_is_multipart_with_utf8_headers_and_one_click_unsubscribe(
    app, app_ctx, smtp_server, monkeypatch
):
    use_smtp(app, smtp_server, monkeypatch)
    lst = make_list(app_ctx, name="Grüße aus Schönebeck", from_name="Netzwerk Müller & Söhne")
    person = make_person(app_ctx, first_name="Jörg", last_name="Weiß")
    settings = service.MailSettings.from_config(app.config)
    rendered = RenderedMessage("Neues für Jörg – Übersicht", "<p>Grüße</p>", "Grüße")
    msg = service.build_newsletter_message(
        settings,
        rendered,
        to_email=person.email,
        to_name="Jörg Weiß",
        person=person,
        newsletter_list=lst,
        campaign_id=7,
    )
    result = _send(app, msg)
    got = smtp_server.messages[0].message
    assert got.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in got.iter_parts()] == ["text/plain", "text/html"]
    assert str(got["Subject"]) == "Neues für Jörg – Übersicht"
    assert got["To"].addresses[0].display_name == "Jörg Weiß"
    assert got["From"].addresses[0].display_name == "Netzwerk Müller & Söhne"
    assert got["From"].addresses[0].addr_spec == "newsletter@netzwerk.example.org"
    assert got["Message-ID"]
    assert got["Date"]
    assert result.message_id == str(got["Message-ID"]).strip()
    # Raw headers are 7-bit: umlauts travel as RFC 2047 encoded words.
    head = smtp_server.messages[0].raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    unsub = str(got["List-Unsubscribe"])
    url = service.unsubscribe_url(settings, person, lst.id)
    assert f"<{url}>" in unsub
    assert "<mailto:abmelden@netzwerk.example.org?subject=unsubscribe-" in unsub
    assert str(got["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert url.startswith("https://crm.example.org/newsletter/abmelden/")
    # The token does not contain the address.
    assert person.email not in url


def test_cr_and_lf_in_subject_and_sender_name_are_neutralised(
    app, app_ctx, smtp_server, monkeypatch
):
    use_smtp(app, smtp_server, monkeypatch)
    lst = make_list(app_ctx, from_name="Böse\r\nBcc: opfer@example.org")
    person = make_person(app_ctx, first_name="A", last_name="B")
    settings = service.MailSettings.from_config(app.config)
    rendered = RenderedMessage("Hallo\r\nBcc: opfer@example.org\nX-Evil: 1", "<p>x</p>", "x")
    msg = service.build_newsletter_message(
        settings,
        rendered,
        to_email=person.email,
        to_name="Name\r\nCc: opfer2@example.org",
        person=person,
        newsletter_list=lst,
    )
    _send(app, msg)
    received = smtp_server.messages[0]
    assert received.rcpt_tos == [person.email]
    got = received.message
    assert got["Bcc"] is None
    assert got["Cc"] is None
    assert got["X-Evil"] is None
    assert "\n" not in str(got["Subject"])
    assert "Bcc: opfer@example.org" in str(got["Subject"])
    assert got["From"].addresses[0].addr_spec == "newsletter@netzwerk.example.org"


def test_over_plain_http_only_the_mailto_unsubscribe_is_offered(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_BASE_URL", "http://127.0.0.1:5000")
    monkeypatch.setitem(app.config, "CRM_NEWSLETTER_UNSUBSCRIBE_MAILTO", "ab@example.org")
    lst = make_list(app_ctx)
    person = make_person(app_ctx)
    settings = service.MailSettings.from_config(app.config)
    msg = service.build_newsletter_message(
        settings,
        RenderedMessage("s", "", "t"),
        to_email=person.email,
        to_name="",
        person=person,
        newsletter_list=lst,
    )
    assert str(msg["List-Unsubscribe"]).startswith("<mailto:ab@example.org?subject=")
    assert msg["List-Unsubscribe-Post"] is None
    assert msg.get_content_type() == "text/plain"


def test_template_test_send_is_queued_for_the_staff_member(
    app, client_as, db_session, smtp_server, monkeypatch
):
    use_smtp(app, smtp_server, monkeypatch)
    from crm.newsletters.models import NewsletterTemplate

    lst = make_list(db_session)
    person = make_person(db_session, first_name="Ümit", last_name="Özdemir", salutation="herr")
    tpl = NewsletterTemplate(
        name="T1",
        subject="Hallo {{ vorname }}",
        body_html="<p>{{ anrede }}</p>",
        body_text="{{ anrede }}\n{{ abmelde_link }}",
    )
    db_session.add(tpl)
    db_session.commit()
    staff = client_as("staff")
    response = staff.post(
        f"/newsletter/vorlagen/{tpl.id}/testversand?person={person.id}&liste={lst.id}"
    )
    assert response.status_code == 302
    [queued] = QueuedMail(db_session, "test").messages
    got = queued.message
    assert queued.rcpt_tos == [staff.user.email]
    assert queued.row.user_id == staff.user.id
    assert smtp_server.connection_count == 0  # the page queues; the sender sends
    page = staff.get(response.headers["Location"])
    assert "liegt im Postausgang" in page.get_data(as_text=True)
    assert str(got["Subject"]) == "[Test] Hallo Ümit"
    assert "Sehr geehrter Herr Özdemir" in got.get_body(("plain",)).get_content()
    # A test send does not touch anybody's consent.
    assert db_session.scalar(sa.select(sa.func.count(Subscription.id))) == 0
