"""Past events with their figures, reached by clicking from the start page and the board."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def test_a_user_clicks_from_the_start_page_to_the_past_events_figures_and_downloads_them(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Termine", exact=True).click()
    expect(page).to_have_url(re.compile(r"/termine/$"))
    page.locator("#event-figures-link").click()
    expect(page).to_have_url(re.compile(r"/termine/kennzahlen$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Vergangene Termine: Kennzahlen")
    expect(page.locator("#event-figures tfoot")).to_contain_text("Gesamt")
    expect(page.locator("#new-contacts-definition")).to_be_visible()
    check_a11y(page)
    page.get_by_label("Zeitraum").select_option("100d")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page).to_have_url(re.compile(r"zeitraum=100d"))
    expect(page.locator("#event-figures tbody tr")).not_to_have_count(0)
    check_a11y(page)
    with page.expect_download() as download:
        page.locator("#event-figures-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    page.locator("#event-figures tbody tr").first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/termine/\d+$"))


def test_the_board_links_to_the_past_events_figures(page: Page) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Auswertung").click()
    page.locator("#event-figures-board-link").click()
    expect(page).to_have_url(re.compile(r"/termine/kennzahlen$"))
    check_a11y(page)
