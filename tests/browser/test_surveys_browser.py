"""Staff build a needs survey by clicking only: start page, "Bedarfsanalysen", a new survey,
a question of the needs matrix and a yes/no question, moved to the top; axe on every page."""

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
