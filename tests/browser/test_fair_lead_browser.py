"""A fair contact at a known firm, captured by the assistant from the start page: the firm is
picked by keyboard, so no second record of it appears (axe on every page)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

ASSISTANT = "assistenz@demo.netzwerk-crm.de"
FIRM = "Klinikum Magdeburg-Süd"


def _organisations_named(page: Page, name: str) -> int:
    page.get_by_role("navigation").get_by_role("link", name="Kontakte", exact=True).click()
    check_a11y(page)
    page.locator("#q").fill(name)
    page.get_by_role("main").get_by_role("button", name="Filtern").click()
    check_a11y(page)
    return page.get_by_role("main").get_by_role("link", name=name, exact=True).count()


def test_the_assistant_picks_a_known_firm_for_a_fair_lead_and_no_duplicate_appears(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page, ASSISTANT)
    check_a11y(page)
    before = _organisations_named(page, FIRM)
    assert before == 1

    page.get_by_role("navigation").get_by_role("link", name="Termine", exact=True).click()
    check_a11y(page)
    page.get_by_role("main").get_by_role("link", name="Jobmesse Magdeburg").first.click()
    expect(page).to_have_url(re.compile(r"/termine/\d+$"))
    check_a11y(page)
    page.locator("#lead-new").click()
    expect(page).to_have_url(re.compile(r"/leads/neu$"))
    check_a11y(page)

    page.get_by_label("Nachname").fill("Lindner")
    picker = page.locator("#organisation")
    picker.press_sequentially("klinikum", delay=40)
    option = page.locator("#organisation-listbox").get_by_role("option", name=re.compile(FIRM))
    expect(option).to_be_visible()
    check_a11y(page)
    for _ in range(10):
        picker.press("ArrowDown")
        if option.get_attribute("aria-selected") == "true":
            break
    picker.press("Enter")
    expect(picker).to_have_value(FIRM)
    expect(page.locator("#organisation_id")).to_have_value(re.compile(r"^\d+$"))
    # The visitor names another site's postcode than the one on record.
    page.get_by_label("PLZ").fill("39104")
    page.get_by_role("main").get_by_role("button", name="Speichern", exact=True).click()
    expect(page).to_have_url(re.compile(r"/termine/\d+#leads$"))
    row = page.locator("#lead-table tr", has_text="Lindner")
    expect(row).to_contain_text(FIRM)
    check_a11y(page)

    assert _organisations_named(page, FIRM) == before


def test_the_assistant_invites_a_contact_list_and_steps_through_the_series_by_clicking(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page, ASSISTANT)
    check_a11y(page)
    page.get_by_role("navigation").get_by_role("link", name="Termine", exact=True).click()
    check_a11y(page)
    presentation = "Präsentation im Haus der Wirtschaft"
    page.get_by_role("main").get_by_role("link", name=presentation).first.click()
    expect(page).to_have_url(re.compile(r"/termine/\d+$"))
    first_url = page.url
    check_a11y(page)

    page.get_by_label("Kontaktliste").select_option(label="Kontakte Jobmesse 2025")
    page.get_by_role("button", name="Ganze Liste einladen").click()
    expect(page).to_have_url(re.compile(r"/termine/\d+#kontakte$"))
    expect(page.locator(".flash-messages")).to_contain_text("als eingeladen eingetragen")
    contacts = page.locator("#kontakte table")
    expect(contacts).to_contain_text("Özgür Yıldız")
    expect(contacts).to_contain_text("eingeladen")
    check_a11y(page)

    page.locator("#series-next").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(presentation)
    expect(page.locator("#event-series")).to_contain_text("Vorheriger Termin: 05.01.2027")
    check_a11y(page)
    page.locator("#series-previous").click()
    expect(page).to_have_url(first_url)
