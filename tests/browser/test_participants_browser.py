"""Participants in a real browser: a counsellor enters sessions until the participant counts
as entered, and the entry date appears on the page."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

COUNSELLOR = "beratung@demo.netzwerk-crm.de"


def _nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name=label, exact=True
    ).click()


def _add_session(page: Page, day: date, minutes: int) -> None:
    page.locator("#session-held_on").fill(day.isoformat())
    page.locator("#session-minutes").fill(str(minutes))
    page.locator("#add-session").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#sitzungen$"))


def test_a_counsellor_enters_sessions_until_the_participant_counts_as_entered(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page, COUNSELLOR)
    check_a11y(page)
    _nav(page, "Teilnehmende")
    expect(page).to_have_url(re.compile(r"/teilnehmende/$"))
    expect(page.locator("#participant-list tbody tr").first).to_be_visible()
    check_a11y(page)

    page.locator("#new-participant").click()
    check_a11y(page)
    page.locator("#first_name").fill("Mariam")
    page.locator("#last_name").fill("Qudsiyya-Browsertest")
    page.locator("#country_of_origin").fill("Syrien")
    page.locator("#profession").fill("Bauingenieurin")
    page.locator("#language_level").select_option("B2")
    page.locator("#target_field").fill("Öffentliche Verwaltung")
    page.locator("#acquisition_channel").select_option("job_fair")
    page.get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    expect(page.locator("#participant-name")).to_have_text("Mariam Qudsiyya-Browsertest")
    expect(page.locator("#entry-date")).to_have_attribute("data-entry-on", "")
    check_a11y(page)

    start = date.today() - timedelta(days=21)
    # Entered out of order: the second week first; 4:00 + 4:00 is exactly 8:00, no entry.
    _add_session(page, start + timedelta(days=7), 240)
    _add_session(page, start, 240)
    expect(page.locator("#total-hours")).to_have_text("8:00")
    expect(page.locator("#entry-date")).to_have_attribute("data-entry-on", "")
    # One more minute makes it an entry, on the day of that session.
    entry = start + timedelta(days=14)
    _add_session(page, entry, 1)
    expect(page.locator("#total-hours")).to_have_text("8:01")
    expect(page.locator("#entry-date")).to_have_attribute("data-entry-on", entry.isoformat())
    expect(page.locator("#entry-date")).to_have_text(entry.strftime("%d.%m.%Y"))
    check_a11y(page)

    # The list shows the entry date too.
    _nav(page, "Teilnehmende")
    page.get_by_role("search", name="Teilnehmende filtern").get_by_label("Name").fill("Qudsiyya")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\?.*q=Qudsiyya"))
    expect(page.locator("#participant-list tbody tr")).to_have_count(1)
    expect(page.locator("#participant-list tbody tr")).to_contain_text(entry.strftime("%d.%m.%Y"))
