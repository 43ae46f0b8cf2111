"""A needs survey answered in a real browser: staff remind the firms that have not answered
(by clicking, from the start page), the reminder goes through a real SMTP server, and an
anonymous visitor answers through the personal link in it; the results count the answer and
the link then refuses a second one. Axe on every page."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Browser, Page, expect

from crm.extensions import db
from crm.mail import SMTPTransport
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from tests.browser.conftest import _new_context, check_a11y, log_in
from tests.job_helpers import run_jobs

# The mail's link points at CRM_BASE_URL; the visitor opens its path on the live server.
LINK = re.compile(r"https?://[^/\s]+(/bedarfsanalysen/antwort/\S+)")
ROUND = "Bedarfsanalyse 1. Halbjahr 2027"
SURVEY = "Fachkräftebedarf"  # the demo survey's title, the answer page's heading
# An occupation no other browser test counts in this round.
OCCUPATION = "Elektroniker für Betriebstechnik"


def _open_round(page: Page) -> None:
    page.get_by_role("navigation").first.get_by_role("link", name="Bedarfsanalysen").click()
    page.get_by_role("link", name=ROUND).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ROUND)


def test_a_reminded_firm_answers_through_its_link_once_and_the_results_count_it(
    page: Page, browser: Browser, live_server: str, html_recorder, smtp_server
) -> None:
    app = html_recorder.app
    page.goto("/")
    log_in(page)
    _open_round(page)
    check_a11y(page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Nicht-Antwortende erinnern").click()
    expect(page.locator("#send-progress")).to_be_visible()

    run_jobs(app, side_connections=True)
    with app.app_context():
        transport = SMTPTransport(smtp_server.host, smtp_server.port, security="none", timeout=10)
        send_outbox(
            db.session,
            transport,
            stores_for(app.config),
            SenderSettings(backoff_base=timedelta(0), connection_backoff=0),
        )
        db.session.remove()
    # Only the reminders of this round (other tests' rounds may have mail queued too).
    reminders = [m.message for m in smtp_server.messages if ROUND in str(m.message["Subject"])]
    links = [
        m.group(1)
        for m in (LINK.search(r.get_body(("plain",)).get_content()) for r in reminders)
        if m
    ]
    assert links, "no reminder with a personal link reached the SMTP server"

    # The firm's contact reads the mail on a phone.
    visitor = _new_context(
        browser, live_server, bypass_csp=True, viewport={"width": 390, "height": 844}
    )
    try:
        firm = visitor.new_page()
        firm.goto(links[0])
        expect(firm.get_by_role("heading", level=1)).to_have_text(SURVEY)
        check_a11y(firm)
        occupation = firm.get_by_label("Beruf, Zeile 1")
        occupation.fill(OCCUPATION)
        # Wide enough to read what was typed (the table scrolls sideways instead).
        box = occupation.bounding_box()
        assert box is not None
        assert box["width"] >= 150, box
        firm.get_by_label("Anzahl Personen, Zeile 1").fill("2")
        # Halfway: saved for later, then the same link again shows what was typed.
        firm.get_by_role("button", name="Speichern und später fortsetzen").click()
        expect(firm.get_by_role("status")).to_contain_text("gespeichert")
        check_a11y(firm)
        firm.goto(links[0])
        expect(firm.get_by_label("Beruf, Zeile 1")).to_have_value(OCCUPATION)
        firm.get_by_role("button", name="Antworten absenden").click()
        expect(firm.get_by_role("main")).to_contain_text("Vielen Dank")
        check_a11y(firm)
        firm.goto(links[0])
        expect(firm.get_by_role("main")).to_contain_text("bereits")
        check_a11y(firm)
    finally:
        visitor.close()

    _open_round(page)
    page.get_by_role("link", name="Ergebnisse").click()
    row = page.locator(f'#by-occupation tr[data-key="{OCCUPATION}"]')
    expect(row.locator("td").first).to_have_text("2")
    check_a11y(page)
