"""Event registration in a real browser: from the start page a staff member clicks to the
demo workshop, raises its seats, follows the public link and registers as a visitor would,
then checks the new attendee in on the tablet page; another visitor cancels with the link
from the mail. axe runs on every page visited."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import _new_context, check_a11y, log_in

STAFF_EMAIL = "assistenz@demo.netzwerk-crm.de"
WORKSHOP = "Workshop: Bewerben in Deutschland"
VISITOR = "Selin Browsertest"


def _to_registrations(page: Page) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Termine", exact=True
    ).click()
    check_a11y(page)
    page.get_by_role("link", name=WORKSHOP).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(WORKSHOP)
    check_a11y(page)
    page.locator("#registrations-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anmeldungen")
    check_a11y(page)


def test_staff_open_seats_a_visitor_registers_and_is_checked_in(page: Page) -> None:
    page.goto("/")
    log_in(page, STAFF_EMAIL)
    check_a11y(page)
    _to_registrations(page)
    # The demo workshop is full: more seats, and the waiting list moves up.
    expect(page.locator("#registration-counts")).to_contain_text("Warteliste: 1")
    page.locator("#settings-link").click()
    check_a11y(page)
    page.get_by_label("Plätze (leer: unbegrenzt)").fill("10")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#registration-status")).to_contain_text("10 Plätze")
    expect(page.locator("#registration-counts")).to_contain_text("Warteliste: 0")
    check_a11y(page)

    # The public page, as the link on the office's website leads there.
    page.locator("#public-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(WORKSHOP)
    expect(page.locator("#registration-state")).to_contain_text("noch frei")
    check_a11y(page)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.locator("#form-errors")).to_contain_text("Bitte füllen Sie dieses Feld aus.")
    check_a11y(page)
    page.get_by_label("Ihr Name").fill(VISITOR)
    page.get_by_label("E-Mail-Adresse").fill("selin.browsertest@example.org")
    page.get_by_label("Organisation", exact=True).fill("Salzland Pflege gGmbH")
    page.get_by_label("Essenswünsche").fill("vegan")
    page.get_by_label(re.compile("Ich bin einverstanden")).check()
    page.get_by_role("button", name="Anmelden").click()
    expect(page.locator("#registration-done")).to_contain_text("Sie sind für")
    check_a11y(page)

    # Back at the door: start page → event → registrations → check-in.
    page.goto("/")
    _to_registrations(page)
    expect(page.locator("#registration-table")).to_contain_text(VISITOR)
    page.locator("#checkin-link").click()
    check_a11y(page)
    page.get_by_label("Nach Namen suchen").fill("Selin")
    page.get_by_role("main").get_by_role("button", name="Suche", exact=True).click()
    expect(page.locator("#checkin-list li")).to_have_count(1)
    person = page.locator("#checkin-list li", has_text=VISITOR)
    person.get_by_role("button", name="Einchecken").click()
    expect(person).to_contain_text("eingecheckt")
    check_a11y(page)


def test_the_public_page_works_without_javascript_in_english(
    browser: Browser, live_server: str
) -> None:
    context = _new_context(browser, live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        log_in(page, STAFF_EMAIL)
        page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
            "link", name="Termine", exact=True
        ).click()
        page.get_by_role("link", name=WORKSHOP).first.click()
        page.locator("#registrations-link").click()
        page.locator("#public-link").click()
        page.get_by_role("link", name="English").click()
        # axe needs JavaScript; the pages themselves are checked in the test above.
        expect(page.get_by_role("heading", level=1)).to_contain_text("Registration")
        page.get_by_label("Your name").fill("Noah Noscript")
        page.get_by_label("E-mail address").fill("noah.noscript@example.org")
        page.get_by_role("button", name=re.compile("Register|Join the waiting list")).click()
        expect(page.locator("#registration-done")).to_contain_text("“" + WORKSHOP + "”")
    finally:
        context.close()


def test_a_visitor_cancels_with_the_personal_link_from_the_confirmation_mail(
    page: Page,
) -> None:
    from email import policy
    from email.parser import BytesParser

    import sqlalchemy as sa

    from crm.extensions import db
    from crm.mail.models import OutgoingMail
    from tests.browser.test_intake_browser import _live_app

    app = _live_app()
    page.goto("/")
    log_in(page, STAFF_EMAIL)
    _to_registrations(page)
    page.locator("#public-link").click()
    page.get_by_label("Ihr Name").fill("Tomasz Storno")
    page.get_by_label("E-Mail-Adresse").fill("tomasz.storno@example.org")
    page.get_by_role("button", name=re.compile("Anmelden|Auf die Warteliste")).click()
    expect(page.locator("#registration-done")).to_be_visible()

    # The link in the confirmation mail, as the visitor's mail program would open it.
    with app.app_context():
        raw = db.session.scalars(
            sa.select(OutgoingMail.message)
            .where(OutgoingMail.recipient == "tomasz.storno@example.org")
            .order_by(OutgoingMail.id.desc())
        ).first()
    assert raw is not None
    body = BytesParser(policy=policy.default).parsebytes(raw).get_body(("plain",)).get_content()
    match = re.search(r"https?://[^/\s]+(/veranstaltungen/anmeldung/absagen/\S+)", body)
    assert match
    page.context.clear_cookies()
    page.goto(match.group(1))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anmeldung stornieren")
    check_a11y(page)
    page.get_by_role("button", name="Ja, Anmeldung stornieren").click()
    expect(page.locator("#public-message")).to_contain_text("Ihre Anmeldung ist storniert.")
    check_a11y(page)
