"""A done follow-up in a person's history: its subject for the assignee, not for a colleague."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

ASSIGNEE = "beratung@demo.netzwerk-crm.de"
COLLEAGUE = "beratung.burg@demo.netzwerk-crm.de"
SUBJECT = "Kündigungsschutz klären"
OUTCOME = "Rechtsberatung vermittelt"


def _find_person(page: Page, term: str) -> None:
    """Main navigation → Kontakte → Personen → search → the one hit."""
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Kontakte", exact=True
    ).click()
    page.get_by_role("main").get_by_role("link", name="Personen", exact=True).click()
    page.locator("#q").press_sequentially(term, delay=50)
    rows = page.locator("#results-table tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+$"))


def test_a_colleague_reads_when_and_by_whom_a_follow_up_was_done_but_not_what(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page, ASSIGNEE)
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Kontakte", exact=True
    ).click()
    page.get_by_role("main").get_by_role("link", name="Personen", exact=True).click()
    page.locator("#new-record").click()
    page.locator("#first_name").fill("Ottilie")
    page.locator("#last_name").fill("Vorlagenfeld")
    page.locator("#person-form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ottilie Vorlagenfeld")

    # Her follow-up, created from her page, done with an outcome.
    page.locator("#create-followup").click()
    page.locator("#subject").fill(SUBJECT)
    page.locator("#due_date").fill(date.today().isoformat())
    page.get_by_role("main").get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/\d+$"))
    page.locator("#outcome").fill(OUTCOME)
    page.get_by_role("button", name="Erledigt", exact=True).click()
    expect(page.locator(".alert-success")).to_be_visible()

    _find_person(page, "vorlagenf")
    entry = page.locator("#timeline > li").filter(has_text="Wiedervorlage erledigt")
    expect(entry).to_contain_text(OUTCOME)
    expect(entry.get_by_role("link", name=f"Wiedervorlage erledigt: {SUBJECT}")).to_be_visible()
    check_a11y(page)
    entry.get_by_role("link", name=f"Wiedervorlage erledigt: {SUBJECT}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SUBJECT)

    page.locator("#user-menu").click()
    page.locator("#logout-button").click()
    expect(page.get_by_role("status")).to_have_text("Sie wurden abgemeldet.")
    log_in(page, COLLEAGUE)
    _find_person(page, "vorlagenf")
    entry = page.locator("#timeline > li").filter(has_text="Wiedervorlage erledigt")
    expect(entry).to_contain_text("Bettina Beratung")
    expect(entry).not_to_contain_text(SUBJECT)
    expect(entry).not_to_contain_text(OUTCOME)
    expect(entry.get_by_role("link")).to_have_count(0)
    check_a11y(page)
