"""The ESF Plus short survey in a real browser: the counsellor sends the link from the
participant page, the mail goes through a real SMTP server, and an anonymous visitor answers
through the link from that mail; axe on every page."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from crm.esf.models import EsfFollowupLink, EsfRecord
from crm.extensions import db
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from crm.participants.models import Participant
from tests.browser.conftest import _new_context, check_a11y, log_in

# The mail's link points at CRM_BASE_URL; the visitor opens its path on the live server.
LINK = re.compile(r"https?://[^/\s]+(/esf-plus/kurzumfrage/\S+)")


def _former_participant(app) -> tuple[int, str]:
    """A demo participant with an exit, no result and no link yet, given an address (the demo
    participants have none)."""
    with app.app_context():
        participant = db.session.scalar(
            sa.select(Participant)
            .outerjoin(EsfRecord, EsfRecord.participant_id == Participant.id)
            .outerjoin(EsfFollowupLink, EsfFollowupLink.participant_id == Participant.id)
            .where(
                Participant.exit_on.is_not(None),
                Participant.erased_at.is_(None),
                sa.or_(EsfRecord.id.is_(None), EsfRecord.long_result == ""),
                EsfFollowupLink.id.is_(None),
            )
            .order_by(Participant.id)
            .limit(1)
        )
        assert participant is not None, "the demo data has no former participant"
        participant.email = "ehemalige.teilnehmende@example.org"
        db.session.commit()
        name = participant.last_name + (
            f", {participant.first_name}" if participant.first_name else ""
        )
        return participant.id, name


def test_the_counsellor_sends_the_short_survey_and_the_former_participant_answers(
    page: Page, browser: Browser, live_server: str, html_recorder, smtp_server
) -> None:
    app = html_recorder.app
    participant_id, name = _former_participant(app)
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Teilnehmende").click()
    page.get_by_label("Name").fill(name.split(",")[0])
    page.get_by_label("Status").select_option(label="ausgetreten")
    page.get_by_role("button", name="Anzeigen").click()
    page.get_by_role("main").get_by_role("link", name=name, exact=True).first.click()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Kurzumfrage jetzt senden").click()
    expect(page.locator("#esf-link-state")).to_contain_text("noch keine Antwort")
    check_a11y(page)

    with app.app_context():
        transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
        send_outbox(
            db.session,
            transport,
            stores_for(app.config),
            SenderSettings(backoff_base=timedelta(0), connection_backoff=0),
        )
        email = db.session.get(Participant, participant_id).email
    (received,) = [m for m in smtp_server.messages if m.rcpt_tos == [email]]
    link = LINK.search(received.message.get_body(("plain",)).get_content()).group(1)

    visitor = _new_context(browser, live_server, bypass_csp=True)
    try:
        anonymous = visitor.new_page()
        anonymous.goto(link)
        expect(anonymous.get_by_role("heading", level=1)).to_have_text("Zwei kurze Fragen")
        check_a11y(anonymous)
        anonymous.get_by_role("button", name="Antworten senden").click()
        expect(anonymous.locator("#answer-errors")).to_be_visible()
        check_a11y(anonymous)
        anonymous.get_by_role("group", name=re.compile("erwerbstätig")).get_by_label("Ja").check()
        anonymous.get_by_role("group", name=re.compile("verbessert")).get_by_label(
            "keine Angabe"
        ).check()
        anonymous.get_by_role("button", name="Antworten senden").click()
        expect(anonymous.locator("#public-message")).to_contain_text("Vielen Dank")
        check_a11y(anonymous)
        anonymous.goto(link)
        expect(anonymous.locator("#public-message")).to_contain_text("bereits beantwortet")
    finally:
        visitor.close()

    page.reload()
    expect(page.locator("#esf-link-state")).to_contain_text("Kurzumfrage beantwortet am")
    expect(page.locator("#esf-long-result")).to_contain_text("erwerbstätig")
