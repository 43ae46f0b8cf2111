"""The erasure preview in a real browser: reachable from the access page, accessible."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def test_the_erasure_preview_is_reached_from_the_access_page_and_is_accessible(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Verwaltung", exact=True
    ).click()
    page.get_by_role("main").get_by_role("link", name="Datenschutz (DSGVO)").click()
    expect(page).to_have_url(re.compile(r"/datenschutz/$"))
    check_a11y(page)
    page.locator("#lookup-q").fill("Müller")
    page.locator("#lookup-form button[type=submit]").click()
    check_a11y(page)
    page.locator("#candidates-table tr[id^=candidate-person-] a").first.click()
    expect(page).to_have_url(re.compile(r"/datenschutz/personen/\d+/auskunft$"))
    page.locator("#erase-preview").click()
    expect(page).to_have_url(re.compile(r"/datenschutz/personen/\d+/loeschen$"))
    expect(page.locator("#erase-plan")).to_be_visible()
    expect(page.locator("#legal-basis")).to_be_visible()
    check_a11y(page)
