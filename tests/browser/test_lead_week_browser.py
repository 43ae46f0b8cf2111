"""A project lead's Monday: from the start page to the team's follow-ups and from the board's
numbers to the lists behind them, only by clicking."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

LEAD = "leitung@demo.netzwerk-crm.de"


def test_a_lead_opens_the_team_s_follow_ups_and_a_colleague_s_overdue_ones(page: Page) -> None:
    page.goto("/")
    log_in(page, LEAD)
    page.locator("#today-team-followups").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Wiedervorlagen des Teams")
    check_a11y(page)
    link = page.locator('#team-followups td[data-group="overdue"] a').first
    expect(link).to_be_visible()
    found = re.match(r"\d+", link.inner_text())  # the link also holds a hidden description
    assert found
    number = found.group(0)
    link.click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/\?bearbeitung=\d+&gruppe=overdue"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Wiedervorlagen von")
    expect(page.locator("#count-overdue")).to_have_text(number)
    check_a11y(page)
    page.locator("#followups-team-link").click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/team$"))


def test_a_lead_clicks_a_board_number_to_its_list_and_prints_the_indicators(page: Page) -> None:
    page.add_init_script("window.print = function () { window.__printed = true; };")
    page.goto("/")
    log_in(page, LEAD)
    page.get_by_role("navigation").first.get_by_role("link", name="Auswertung").click()
    link = page.locator("#total-entries a")
    number = link.inner_text()
    link.click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\?kennzahl=eintritt&von=.*&bis="))
    expect(page.locator("#participant-count")).to_contain_text(f"{number} ")
    expect(page.locator("#report-filter")).to_contain_text("Aus der Auswertung")
    check_a11y(page)
    page.go_back()
    page.locator("#esf-indicators-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ESF-Plus-Indikatoren")
    page.get_by_role("button", name="Drucken").click()
    assert page.evaluate("window.__printed === true")
    check_a11y(page)
    page.locator("#esf-board-link").click()
    expect(page).to_have_url(re.compile(r"/auswertung/\?jahr=\d{4}$"))
