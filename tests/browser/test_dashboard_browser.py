"""The board in a real browser: a participant entered today is counted in this week."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from tests.browser.conftest import berlin_today, check_a11y, log_in

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


def test_entering_sessions_until_entry_shows_on_the_board_this_week(strict_page: Page) -> None:
    page = strict_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/")
    log_in(page, COUNSELLOR)
    _nav(page, "Auswertung")
    expect(page).to_have_url(re.compile(r"/auswertung/$"))
    before = int(page.locator("#week-entries").inner_text())
    total_before = int(page.locator("#total-entries").inner_text())

    _nav(page, "Teilnehmende")
    page.locator("#new-participant").click()
    page.locator("#first_name").fill("Zoya")
    page.locator("#last_name").fill("Brettschneider-Board")
    page.locator("#acquisition_channel").select_option("job_fair")
    page.get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    today = berlin_today()
    _add_session(page, today, 240)
    _add_session(page, today, 240)
    expect(page.locator("#entry-date")).to_have_attribute("data-entry-on", "")
    _add_session(page, today, 30)
    expect(page.locator("#entry-date")).to_have_attribute("data-entry-on", today.isoformat())

    _nav(page, "Auswertung")
    expect(page.locator("#week-entries")).to_have_text(str(before + 1))
    expect(page.locator("#total-entries")).to_have_text(str(total_before + 1))
    # The chart is drawn from the data attributes under the strict CSP.
    expect(page.locator("#board-chart")).to_be_visible()
    # The script runs after the canvas is shown: wait for the chart (fails after the timeout).
    page.wait_for_function("() => !!window.Chart && !!Chart.getChart('board-chart')")
    assert not [e for e in errors if "Content Security Policy" in e]
    # No participant names on the board.
    assert "Brettschneider" not in page.content()


def test_the_board_and_report_pages_are_accessible(page: Page) -> None:
    page.goto("/")
    log_in(page)
    _nav(page, "Auswertung")
    expect(page).to_have_url(re.compile(r"/auswertung/$"))
    check_a11y(page)
    page.locator("#annual-report-link").click()
    expect(page).to_have_url(re.compile(r"/auswertung/jahresbericht"))
    check_a11y(page)
    _nav(page, "Verwaltung")
    page.get_by_role("main").get_by_role("link", name="Datenschutz (DSGVO)").click()
    expect(page).to_have_url(re.compile(r"/datenschutz/$"))
    check_a11y(page)
