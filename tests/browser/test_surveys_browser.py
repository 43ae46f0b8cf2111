"""Staff build a needs survey by clicking only: start page, "Bedarfsanalysen", a new survey,
a question of the needs matrix and a yes/no question, moved to the top, a section heading
before the needs; a round for an audience of employers, counted first, then created; a phone
answer entered on it (its page shows the section), then its invitations queued; the demo
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

    form.get_by_label("Art der Frage").select_option("section")
    form.get_by_label("Frage (Deutsch)").fill("Ihr Fachkräftebedarf")
    form.get_by_label("Einleitung des Abschnitts (Deutsch").fill("Bitte nennen Sie jeden Beruf.")
    form.get_by_role("button", name="Frage hinzufügen").click()
    expect(page.locator("#question-list li")).to_have_count(3)
    page.get_by_role("button", name=re.compile(r"^Nach oben.*Ihr Fachkräftebedarf")).click()
    expect(page.locator("#question-list li").nth(1)).to_contain_text(
        "Abschnitt: Ihr Fachkräftebedarf"
    )
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
    page.get_by_role("link", name=re.compile(r"^Antwort erfassen \(Telefon\)")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Antwort erfassen (Telefon)")
    section = page.locator("fieldset.survey-section")
    expect(section.get_by_role("heading", level=2)).to_have_text("Ihr Fachkräftebedarf")
    expect(section).to_contain_text("Bitte nennen Sie jeden Beruf.")
    expect(section.locator("fieldset[data-kind=needs] legend")).to_have_text(
        "2. Welche Fachkräfte suchen Sie?"
    )
    # The yes/no question comes before the heading: outside the section, number 1.
    expect(section.locator("fieldset[data-kind=yesno]")).to_have_count(0)
    expect(page.locator("fieldset[data-kind=yesno] legend")).to_have_text(
        "1. Interesse an Fachkräften aus dem Ausland?"
    )
    check_a11y(page)

    page.get_by_label("Beruf, Zeile 1").fill("Pflegefachkraft")
    page.get_by_label("Anzahl Personen, Zeile 1").fill("2")
    page.get_by_label("Qualifikationsniveau, Zeile 1").select_option(
        label="Berufsabschluss (Fachkraft)"
    )
    page.get_by_role("button", name="Antworten speichern").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedarfsanalyse Arbeitgeber")
    expect(page.locator(".alert-success")).to_contain_text("Telefonat")
    expect(page.locator("#response-count")).to_contain_text("1 von")
    check_a11y(page)

    page.get_by_role("button", name="Einladungen senden").click()
    expect(page.locator("#send-progress")).to_contain_text("Einladungen")
    expect(page.get_by_role("button", name="Einladungen senden")).to_have_count(0)
    check_a11y(page)


def test_staff_compare_the_demo_round_with_the_round_before(page: Page, live_server: str) -> None:
    page.goto("/")
    log_in(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Bedarfsanalysen").click()
    page.get_by_role("link", name="Bedarfsanalyse 1. Halbjahr 2027").click()
    page.get_by_role("link", name="Ergebnisse").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ergebnisse")
    page.get_by_role("link", name=re.compile("Mit der vorigen Runde vergleichen")).click()
    table = page.locator("#by-occupation")
    expect(table.get_by_role("columnheader", name="Vergleichsrunde")).to_be_visible()
    expect(table.locator('tr[data-key="Pflegefachkraft"] td').nth(2)).to_have_text("+4")
    expect(page.get_by_label("Vergleichen mit Runde")).to_have_value(re.compile(r"\d+"))
    check_a11y(page)
