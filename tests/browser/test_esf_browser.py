"""ESF Plus in a real browser: from the start page by clicks to the indicator table, the
completeness check's link to a participant's ESF form, saved with "keine Angabe" (axe on
every page)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def test_from_the_start_page_to_the_esf_indicators_and_a_participants_esf_form(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    check_a11y(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Auswertung").click()
    check_a11y(page)
    page.locator("#esf-indicators-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ESF-Plus-Indikatoren")
    check_a11y(page)
    page.get_by_role("link", name="Letzte 100 Tage").click()
    expect(page.locator("#esf-table")).to_be_visible()
    check_a11y(page)
    page.get_by_role("link", name=re.compile(r"Kalenderjahr")).first.click()
    entries = page.locator('#esf-table tr[data-key="entries"] td[data-col="total"]')
    expect(entries).to_have_text(re.compile(r"^\d+$"))

    # The demo leaves every fifth participant's ESF data empty for this check.
    incomplete = page.locator("#esf-incomplete li a")
    expect(incomplete.first).to_be_visible()
    incomplete.first.click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+/esf-plus$"))
    check_a11y(page)
    page.locator("#labour_status").select_option("unknown")
    page.locator("#disability").select_option("yes")
    page.get_by_role("button", name="Speichern").click()
    # Without the consent the disability is refused, and what was chosen stays.
    expect(page.locator("#disability-errors")).to_be_visible()
    expect(page.locator("#labour_status")).to_have_value("unknown")
    check_a11y(page)
    page.locator("#disability").select_option("")
    page.get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#esf$"))
    expect(page.locator('[data-esf="labour_status"]')).to_have_text("keine Angabe")
    check_a11y(page)
