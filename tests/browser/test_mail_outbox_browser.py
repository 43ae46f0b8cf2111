"""Verwaltung → Postausgang in a real browser: a test mail queued, found, cancelled."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def test_an_admin_queues_a_test_mail_finds_it_in_the_outbox_and_cancels_it(page: Page) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    main = page.get_by_role("main")

    nav.get_by_role("link", name="Newsletter", exact=True).click()
    main.get_by_role("link", name=re.compile("^Vorlagen")).click()
    main.locator("#templates a").first.click()
    expect(page).to_have_url(re.compile(r"/vorschau$"))
    # By keyboard, as a screen-reader user would send it.
    main.get_by_role("button", name=re.compile("^Test an mich senden")).press("Enter")
    expect(page).to_have_url(re.compile(r"/vorschau\?"))
    note = page.get_by_role("status").filter(has_text="liegt im Postausgang")
    expect(note).to_be_visible()
    check_a11y(page)

    note.get_by_role("link", name="Im Postausgang anzeigen").click()
    expect(page).to_have_url(re.compile(r"/verwaltung/postausgang/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("[Test]")
    state = page.locator("#mail-state")
    expect(state).to_contain_text("Testmail")
    expect(state).to_contain_text("Wartend")
    expect(page.locator("#mail-text")).not_to_be_empty()
    check_a11y(page)

    main.get_by_role("button", name="Versand abbrechen").click()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("wird nicht gesendet")
    expect(state).to_contain_text("Abgebrochen")
    check_a11y(page)

    main.get_by_role("link", name="Zurück zum Postausgang").click()
    expect(page).to_have_url(re.compile(r"/verwaltung/postausgang$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Postausgang")
    row = page.locator("#mail-outbox tbody tr").filter(has_text="[Test]").first
    expect(row).to_contain_text("Abgebrochen")
    check_a11y(page)

    page.get_by_label("Status").select_option(label="Abgebrochen")
    main.get_by_role("button", name="Filtern").click()
    expect(page).to_have_url(re.compile(r"status=cancelled"))
    expect(page.locator("#mail-outbox tbody tr").filter(has_text="[Test]")).to_have_count(1)
    check_a11y(page)

    nav.get_by_role("link", name="Verwaltung", exact=True).click()
    main.get_by_role("link", name="Postausgang", exact=True).click()
    expect(page).to_have_url(re.compile(r"/verwaltung/postausgang$"))
    main.get_by_role("link", name="Entwicklungs-Postausgang (Dateien)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Entwicklungs-Postausgang (Dateien)")
    check_a11y(page)
