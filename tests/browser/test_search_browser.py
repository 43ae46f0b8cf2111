"""Record pickers and the global search in a real browser, by keyboard, from the start page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def test_the_global_search_opens_a_record_with_arrow_down_and_enter(page: Page) -> None:
    page.goto("/")
    log_in(page)
    check_a11y(page)
    search = page.locator("#global-search")
    search.click()
    search.press_sequentially("weissenb", delay=40)
    listbox = page.locator("#global-search-listbox")
    expect(listbox).to_be_visible()
    expect(search).to_have_attribute("aria-expanded", "true")
    expect(listbox.get_by_role("option").first).to_contain_text("Weißenborn")
    check_a11y(page)
    search.press("ArrowDown")
    first = listbox.get_by_role("option").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", re.compile(".+"))
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Weißenborn")

    # Without choosing, Enter sends the search to its results page, grouped.
    search = page.locator("#global-search")
    search.click()
    search.press_sequentially("jobmesse", delay=40)
    expect(page.locator("#global-search-listbox")).to_be_visible()
    search.press("Escape")
    expect(page.locator("#global-search-listbox")).to_be_hidden()
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/suche/\?q=jobmesse"))
    expect(page.locator("#search-group-event")).to_contain_text("Jobmesse Magdeburg")
    check_a11y(page)


def test_a_follow_up_is_linked_to_a_person_picked_with_the_keyboard(page: Page) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").get_by_role("link", name="Wiedervorlagen").click()
    page.get_by_role("main").get_by_role("link", name="Neue Wiedervorlage").click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/neu$"))
    check_a11y(page)
    page.get_by_label("Betreff").fill("Praktikumsplätze nachfragen")
    page.get_by_label("Fällig am").fill("2026-12-15")
    picker = page.locator("#person_q")
    picker.click()
    picker.press_sequentially("krüger", delay=40)
    listbox = page.locator("#person_q-listbox")
    expect(listbox.get_by_role("option").first).to_contain_text("Sabine Krüger")
    check_a11y(page)
    picker.press("ArrowDown")
    picker.press("Enter")
    expect(listbox).to_be_hidden()
    expect(picker).to_have_value("Sabine Krüger")
    expect(page.locator("#person_id")).to_have_value(re.compile(r"^\d+$"))
    page.get_by_role("main").get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/\d+$"))
    expect(page.get_by_role("main")).to_contain_text("Sabine Krüger")
    check_a11y(page)
    page.get_by_role("main").get_by_role("link", name="Sabine Krüger").click()
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+$"))
