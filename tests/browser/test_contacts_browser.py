"""Contacts in a real browser: create an organisation, add a person, log a call, find them."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def _submit(page: Page, form_id: str) -> None:
    page.locator(f"#{form_id} button[type=submit]").click()


def _to_people(page: Page) -> None:
    """Main navigation → Kontakte (the organisations) → the tab of the people."""
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Kontakte", exact=True
    ).click()
    page.get_by_role("main").get_by_role("link", name="Personen", exact=True).click()
    expect(page).to_have_url(re.compile(r"/kontakte/personen$"))


def test_a_user_creates_an_organisation_adds_a_person_logs_a_call_and_finds_them(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    check_a11y(page)
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Kontakte", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/kontakte/organisationen$"))
    # The demo data is there: the partner organisations are listed.
    expect(page.locator("#results-table tbody tr").first).to_be_visible()
    check_a11y(page)

    page.locator("#new-record").click()
    expect(page).to_have_url(re.compile(r"/kontakte/organisationen/neu$"))
    check_a11y(page)
    page.locator("#name").fill("Ölmühle Zwölfer GmbH")
    page.locator("#postcode").fill("39104")
    page.locator("#city").fill("Magdeburg")
    page.locator("#tags").fill("Messe, Haus der Wirtschaft")
    _submit(page, "organisation-form")
    expect(page).to_have_url(re.compile(r"/kontakte/organisationen/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Ölmühle Zwölfer GmbH")
    check_a11y(page)

    page.locator("#add-person").click()
    expect(page).to_have_url(re.compile(r"/kontakte/personen/neu\?organisation=\d+$"))
    check_a11y(page)
    page.locator("#salutation").select_option("frau")
    page.locator("#first_name").fill("Henriette")
    page.locator("#last_name").fill("Großkreutz")
    page.locator("#function").fill("Personal")
    page.locator("#email").fill("h.grosskreutz@oelmuehle.example")
    _submit(page, "person-form")
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+$"))
    expect(page.locator("#affiliations-table")).to_contain_text("Ölmühle Zwölfer GmbH")
    check_a11y(page)

    page.locator("#log-activity").click()
    check_a11y(page)
    page.locator("#kind").select_option("call")
    page.locator("#duration_minutes").fill("15")
    page.locator("#subject").fill("Erstgespräch Praktikum")
    _submit(page, "activity-form")
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+#verlauf$"))
    expect(page.locator("#timeline")).to_contain_text("Erstgespräch Praktikum")
    check_a11y(page)

    # The organisation's timeline shows its person's call.
    page.locator("#affiliations-table").get_by_role("link", name="Ölmühle Zwölfer GmbH").click()
    expect(page.locator("#timeline")).to_contain_text("Erstgespräch Praktikum")

    # Search as you type (htmx): part of the name, spelled without the ß.
    _to_people(page)
    check_a11y(page)
    search = page.locator("#q")
    search.press_sequentially("grossk", delay=50)
    rows = page.locator("#results-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Großkreutz, Henriette")
    expect(rows.first).to_contain_text("Ölmühle Zwölfer GmbH")
    # The address bar follows the search (hx-push-url) and the live region counts.
    expect(page).to_have_url(re.compile(r"/kontakte/personen\?.*q=grossk"))
    expect(page.locator("#result-count")).to_contain_text("1")
    check_a11y(page)

    rows.first.get_by_role("link", name=re.compile("Großkreutz")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Henriette Großkreutz")

    # Deleting the call asks first; the timeline's buttons share one form and its token.
    delete = page.locator("#timeline").get_by_role("button", name="Aktivität löschen")
    page.once("dialog", lambda dialog: dialog.dismiss())
    delete.click()
    expect(page.locator("#timeline")).to_contain_text("Erstgespräch Praktikum")
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    expect(page.locator("#timeline")).to_have_count(0)
    expect(page.locator("#verlauf").locator("..")).to_contain_text("Noch keine Aktivitäten")
    expect(page.locator(".alert-success")).to_be_visible()


def test_search_as_you_type_runs_under_the_content_security_policy(strict_page: Page) -> None:
    page = strict_page
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda error: violations.append(f"uncaught: {error}"))
    page.goto("/")
    log_in(page)
    _to_people(page)
    page.locator("#q").press_sequentially("schae", delay=50)
    rows = page.locator("#results-table tbody tr")
    expect(rows.first).to_contain_text("Schäfer")
    expect(page).to_have_url(re.compile(r"q=schae"))
    assert violations == []


def test_an_admin_adds_a_kind_and_records_a_latvian_partner_town_by_clicking(page: Page) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation").first
    nav.get_by_role("link", name="Verwaltung").click()
    page.get_by_role("link", name="Organisationsarten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisationsarten")
    expect(page.locator("#kinds-table")).to_contain_text("Betriebsrat")
    check_a11y(page)
    page.get_by_label("Bezeichnung").fill("Partnerkommune")
    _submit(page, "kind-form")
    expect(page.locator("#kinds-table")).to_contain_text("Partnerkommune")
    check_a11y(page)

    nav.get_by_role("link", name="Kontakte").click()
    page.locator("#new-record").click()
    page.locator("#name").fill("Stadtverwaltung Rēzekne")
    page.locator("#kind").select_option(label="Partnerkommune")
    page.locator("#postcode").fill("LV-4601")
    page.locator("#city").fill("Rēzekne")
    page.locator("#phone").fill("6460 7600")
    # Under German rules the postcode and the local number are refused, in German.
    _submit(page, "organisation-form")
    expect(page.locator("#organisation-form")).to_contain_text("fünfstellige deutsche Postleitzahl")
    check_a11y(page)
    page.locator("#country").select_option(label="Lettland")
    _submit(page, "organisation-form")
    expect(page).to_have_url(re.compile(r"/kontakte/organisationen/\d+$"))
    expect(page.locator("#country")).to_have_text("Lettland")
    expect(page.get_by_text("Partnerkommune")).to_be_visible()
    check_a11y(page)
