"""The funder report, reached by clicking from the start page through the Auswertung page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def test_a_lead_clicks_to_the_funder_report_picks_a_preset_and_saves_a_definition(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Auswertung").click()
    page.locator("#funder-report-link").click()
    expect(page).to_have_url(re.compile(r"/auswertung/foerderbericht$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Förderbericht")
    check_a11y(page)
    page.locator("#funder-presets").get_by_role("link", name="Halbjahr").click()
    expect(page).to_have_url(re.compile(r"zeitraum=half"))
    expect(page.locator("#funder-by-gender")).to_be_visible()
    check_a11y(page)
    page.get_by_label("Name").fill("ESF-Halbjahresmeldung")
    page.get_by_role("button", name="Berichtsdefinition speichern").click()
    expect(page.locator("#funder-definitions")).to_contain_text("ESF-Halbjahresmeldung")
    check_a11y(page)
    with page.expect_download() as download:
        page.locator("#funder-report-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
