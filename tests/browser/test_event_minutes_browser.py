"""Minutes of the 14-day coordination meeting with the job centre, in a real browser: from the
start page by clicking, the counsellor writes what was agreed and turns one agreed action into
a follow-up for herself; the meeting shows no booth duty or fair leads. axe runs on every page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

COUNSELLOR_EMAIL = "beratung@demo.netzwerk-crm.de"
MEETING = "Abstimmung mit dem Jobcenter"


def test_counsellor_writes_the_minutes_of_a_coordination_meeting_by_clicking(page: Page) -> None:
    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    check_a11y(page)

    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Termine", exact=True
    ).click()
    check_a11y(page)
    page.get_by_role("link", name=MEETING).first.click()
    expect(page.get_by_role("heading", name="Protokoll")).to_be_visible()
    # Fair-only sections are not offered for a coordination meeting.
    expect(page.get_by_role("heading", name="Standdienst")).to_have_count(0)
    expect(page.get_by_role("heading", name="Messekontakte")).to_have_count(0)
    check_a11y(page)

    page.get_by_role("textbox", name="Protokoll").fill(
        "Jobcenter meldet passende Fälle bis Monatsende.\nNächste Abstimmung in 14 Tagen."
    )
    page.get_by_role("button", name="Protokoll speichern").click()
    expect(page.locator(".flash-messages")).to_contain_text("Das Protokoll wurde gespeichert.")
    expect(page.locator("#minutes-changed")).to_contain_text("Zuletzt geändert von")
    expect(page.get_by_role("textbox", name="Protokoll")).to_have_value(
        "Jobcenter meldet passende Fälle bis Monatsende.\nNächste Abstimmung in 14 Tagen."
    )
    check_a11y(page)

    page.get_by_label("Vereinbarte Aufgabe").fill("Fallliste an das Jobcenter schicken")
    page.get_by_label("Bis wann").fill("2030-01-15")
    page.get_by_role("button", name="Wiedervorlage anlegen").click()
    expect(page.locator(".flash-messages")).to_contain_text("Wiedervorlage für")
    expect(page.locator("#minutes-actions")).to_contain_text("Fallliste an das Jobcenter schicken")
    check_a11y(page)
    page.locator("#minutes-actions").get_by_role("link", name="Fallliste an das Jobcenter").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fallliste")
    check_a11y(page)
