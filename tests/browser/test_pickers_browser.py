"""Partner pickers on a participant and the data-protection lookup, by keyboard, from the
start page (only clicks and typing; axe on every page)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

COUNSELLOR = "beratung@demo.netzwerk-crm.de"


def _open_sultani(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Teilnehmende", exact=True).click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/$"))
    check_a11y(page)
    page.locator("#filter-q").fill("Sultani")
    page.locator("#filter-q").press("Enter")
    page.locator("#participant-list").get_by_role("link", name="Sultani, Farida").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    check_a11y(page)


def _pick(page: Page, field_id: str, typed: str, expected: str) -> None:
    picker = page.locator(f"#{field_id}")
    picker.click()
    picker.fill("")
    picker.press_sequentially(typed, delay=40)
    listbox = page.locator(f"#{field_id}-listbox")
    expect(listbox).to_be_visible()
    expect(picker).to_have_attribute("aria-expanded", "true")
    option = listbox.get_by_role("option", name=re.compile(re.escape(expected)))
    expect(option).to_be_visible()
    check_a11y(page)
    # Down until the wanted option is the active one, then Enter.
    for _ in range(10):
        picker.press("ArrowDown")
        if option.get_attribute("aria-selected") == "true":
            break
    expect(option).to_have_attribute("aria-selected", "true")
    picker.press("Enter")
    expect(listbox).to_be_hidden()
    expect(picker).to_have_value(expected)


def test_a_counsellor_picks_the_referrer_and_a_referral_partner_by_keyboard(page: Page) -> None:
    page.goto("/")
    log_in(page, COUNSELLOR)
    check_a11y(page)
    _open_sultani(page)

    page.get_by_role("main").get_by_role("link", name="Bearbeiten", exact=True).click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+/bearbeiten$"))
    check_a11y(page)
    _pick(page, "referring_organisation", "jerichower", "Jobcenter Jerichower Land")
    expect(page.locator("#referring_organisation_id")).to_have_value(re.compile(r"^\d+$"))
    page.get_by_role("main").get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    referrer = page.locator("#referring-organisation")
    expect(referrer.get_by_role("link", name="Jobcenter Jerichower Land")).to_be_visible()
    check_a11y(page)

    page.get_by_text("Überweisung erfassen").click()
    _pick(page, "referral-organisation", "anerkennungsberatung nord", "Anerkennungsberatung Nord")
    page.locator("#referral-direction").select_option("from")
    page.locator("#referral-purpose").fill("Anerkennung des Pflegeabschlusses")
    page.get_by_role("button", name="Überweisung speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#ueberweisungen$"))
    partner = page.locator("#referral-list").get_by_role("link", name="Anerkennungsberatung Nord")
    expect(partner).to_be_visible()
    check_a11y(page)
    partner.click()
    expect(page).to_have_url(re.compile(r"/kontakte/organisationen/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anerkennungsberatung Nord")
    check_a11y(page)


def test_an_admin_opens_a_participants_privacy_page_from_the_lookup_by_keyboard(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    check_a11y(page)
    page.get_by_role("navigation").get_by_role("link", name="Verwaltung").click()
    check_a11y(page)
    page.get_by_role("main").get_by_role("link", name="Datenschutz (DSGVO)").click()
    expect(page).to_have_url(re.compile(r"/datenschutz/$"))
    check_a11y(page)
    lookup = page.locator("#lookup-q")
    lookup.click()
    lookup.press_sequentially("sultani", delay=40)
    listbox = page.locator("#lookup-q-listbox")
    option = listbox.get_by_role("option", name=re.compile("Farida Sultani"))
    expect(option).to_be_visible()
    expect(listbox.locator("#privacy-group-participant")).to_be_visible()
    check_a11y(page)
    lookup.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    lookup.press("Enter")
    expect(page).to_have_url(re.compile(r"/datenschutz/teilnehmende/\d+/auskunft$"))
    expect(page.get_by_role("main")).to_contain_text("Sultani")
    check_a11y(page)

    # Escape closes the offers; Enter then searches every record (the no-JS way).
    page.get_by_role("navigation").get_by_role("link", name="Verwaltung").click()
    page.get_by_role("main").get_by_role("link", name="Datenschutz (DSGVO)").click()
    lookup = page.locator("#lookup-q")
    lookup.click()
    lookup.press_sequentially("sultani", delay=40)
    expect(page.locator("#lookup-q-listbox")).to_be_visible()
    lookup.press("Escape")
    expect(page.locator("#lookup-q-listbox")).to_be_hidden()
    lookup.press("Enter")
    expect(page).to_have_url(re.compile(r"/datenschutz/auskunft\?q=sultani$"))
    expect(page.locator("#candidates-table")).to_contain_text("Sultani")
    check_a11y(page)


def test_a_person_is_linked_to_an_organisation_picked_by_keyboard(page: Page) -> None:
    page.goto("/")
    log_in(page)
    search = page.locator("#global-search")
    search.click()
    search.press_sequentially("krüger", delay=40)
    expect(page.locator("#global-search-listbox").get_by_role("option").first).to_be_visible()
    search.press("ArrowDown")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+$"))
    check_a11y(page)
    page.get_by_text("Mit einer Organisation verknüpfen").click()
    _pick(page, "organisation", "weiterbildungsagentur", "Weiterbildungsagentur Sachsen-Anhalt")
    expect(page.locator("#organisation_id")).to_have_value(re.compile(r"^\d+$"))
    page.locator("#affiliation-form").get_by_role("button", name="Verknüpfen").click()
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+$"))
    expect(page.locator("#affiliations-table")).to_contain_text(
        "Weiterbildungsagentur Sachsen-Anhalt"
    )
    check_a11y(page)
