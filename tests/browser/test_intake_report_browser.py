"""The inquiry report and the consent texts, reached by clicking from the start page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

ADDED = "Ansprechpartnerin für den Datenschutz ist die Projektleitung."


def test_a_lead_clicks_from_the_start_page_to_the_inquiry_report_and_its_download(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation").first
    nav.get_by_role("link", name="Auswertung").click()
    expect(page).to_have_url(re.compile(r"/auswertung/$"))
    tile = page.locator("#intake-tile")
    expect(tile).to_be_visible()
    tile.get_by_role("link", name="Anfragen-Auswertung").click()
    expect(page).to_have_url(re.compile(r"/anfragen/auswertung$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Anfragen-Auswertung")
    expect(page.locator("#firms-definition")).to_be_attached()
    check_a11y(page)
    page.get_by_label("Zeitraum").select_option("100d")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page).to_have_url(re.compile(r"zeitraum=100d"))
    expect(page.locator("#report-period")).to_contain_text("(100 Tage)")
    check_a11y(page)
    with page.expect_download() as download:
        page.locator("#intake-report-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    page.get_by_role("link", name="Anfragenliste").click()
    expect(page).to_have_url(re.compile(r"/anfragen/$"))
    page.locator("#intake-report-link").click()
    expect(page).to_have_url(re.compile(r"/anfragen/auswertung$"))


def test_an_admin_edits_the_privacy_notice_and_the_public_form_shows_the_new_version(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Verwaltung").click()
    page.get_by_role("main").get_by_role("link", name="Anfragen", exact=True).click()
    page.locator("#consent-edit").click()
    expect(page).to_have_url(re.compile(r"/verwaltung/anfragen/einwilligung$"))
    check_a11y(page)
    notice = page.locator("#f-privacy_de")
    notice.fill(notice.input_value() + "\n\n" + ADDED)
    page.get_by_role("button", name="Als neue Version speichern").click()
    expect(page.locator(".alert-success")).to_contain_text("als Fassung")
    expect(page.locator("#consent-history li")).to_have_count(1)
    check_a11y(page)
    page.get_by_role("link", name="Abbrechen").click()
    page.locator("#public-link").click()
    expect(page.get_by_text(ADDED)).to_be_visible()
    check_a11y(page)


def test_the_report_chart_draws_under_the_strict_content_security_policy(
    strict_page: Page,
) -> None:
    page = strict_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Anfragen").click()
    page.locator("#intake-report-link").click()
    expect(page.locator("#intake-chart")).to_be_visible()
    # The script runs after the canvas is shown: wait for the chart (fails after the timeout).
    page.wait_for_function("() => !!window.Chart && !!Chart.getChart('intake-chart')")
    assert not [e for e in errors if "Content Security Policy" in e]
