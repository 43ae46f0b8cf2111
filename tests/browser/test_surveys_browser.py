"""Staff build a needs survey by clicking only: start page, "Bedarfsanalysen", a new survey,
a question of the needs matrix and a yes/no question, moved to the top; a round for an
audience of employers, counted first, then created and its invitations queued; the demo
survey's results compared with the round before; axe on every page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

TITLE = "Bedarfsanalyse Browsertest"


def test_staff_build_a_survey_from_the_navigation(page: Page, live_server: str) -> None:
    page.goto("/")
    log_in(page)
    check_a11y(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Bedarfsanalysen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedarfsanalysen")
    check_a11y(page)
    page.get_by_label("Titel einer neuen Bedarfsanalyse").fill(TITLE)
    page.get_by_role("button", name="Bedarfsanalyse anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    check_a11y(page)

    form = page.locator("#question-form")
    form.get_by_label("Art der Frage").select_option("needs")
    form.get_by_label("Frage (Deutsch)").fill("Welche Fachkräfte suchen Sie?")
    form.get_by_role("button", name="Frage hinzufügen").click()
    expect(page.locator("#question-list li")).to_have_count(1)
    check_a11y(page)

    form.get_by_label("Art der Frage").select_option("yesno")
    form.get_by_label("Frage (Deutsch)").fill("Interesse an Fachkräften aus dem Ausland?")
    form.get_by_role("button", name="Frage hinzufügen").click()
    expect(page.locator("#question-list li")).to_have_count(2)
    page.get_by_role("button", name=re.compile(r"^Nach oben.*Interesse an Fachkräften")).click()
    expect(page.locator("#question-list li").first).to_contain_text("Interesse an Fachkräften")
    check_a11y(page)

    page.get_by_role("link", name="Neue Runde anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Neue Runde")
    check_a11y(page)
    form = page.locator("#round-form")
    form.get_by_label("Name der Runde").fill("Bedarfsanalyse Arbeitgeber")
    form.get_by_label("Einsendeschluss").fill("2099-12-31")
    form.get_by_label("Arbeitgeber", exact=True).check()
    expect(page.get_by_role("button", name="Runde anlegen")).to_have_count(0)
    form.get_by_role("button", name="Vorschau").click()
    expect(page.locator("#round-reach")).to_contain_text("den persönlichen Link")
    check_a11y(page)
    page.get_by_role("button", name="Runde anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedarfsanalyse Arbeitgeber")
    check_a11y(page)
    page.get_by_role("button", name="Einladungen senden").click()
    expect(page.locator("#send-progress")).to_contain_text("Einladungen")
    expect(page.get_by_role("button", name="Einladungen senden")).to_have_count(0)
    check_a11y(page)


def test_staff_compare_the_demo_round_with_the_round_before(page: Page, live_server: str) -> None:
    page.goto("/")
    log_in(page)
    page.goto("/bedarfsanalysen/")
    page.get_by_role("link", name="Bedarfsanalyse 1. Halbjahr 2027").click()
    page.get_by_role("link", name="Ergebnisse").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ergebnisse")
    page.get_by_role("link", name=re.compile("Mit der vorigen Runde vergleichen")).click()
    table = page.locator("#by-occupation")
    expect(table.get_by_role("columnheader", name="Vergleichsrunde")).to_be_visible()
    expect(table.locator('tr[data-key="Pflegefachkraft"] td').nth(2)).to_have_text("+4")
    expect(page.get_by_label("Vergleichen mit Runde")).to_have_value(re.compile(r"\d+"))
    check_a11y(page)
