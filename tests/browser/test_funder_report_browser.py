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


def test_a_breakdown_number_opens_the_filtered_list_with_a_chip_that_removes_the_filter(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Auswertung").click()
    page.locator("#funder-report-link").click()
    link = page.locator("#funder-by-gender td a").first
    expect(link).to_be_visible()
    number = link.inner_text()
    link.click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\?.*(geschlecht=|ohne_angabe=geschlecht)"))
    expect(page.locator("#participant-count")).to_contain_text(f"{number} ")
    chip = page.locator("#filter-chips li").filter(has_text="Geschlecht")
    expect(chip).to_be_visible()
    check_a11y(page)
    chip.get_by_role("link").click()
    expect(page).not_to_have_url(re.compile(r"geschlecht"))
    expect(page.locator("#report-filter")).to_contain_text("Aus der Auswertung")
    page.locator("#remove-period").click()
    expect(page.locator("#report-filter")).to_have_count(0)
    check_a11y(page)
