"""The Art. 15 report in a real browser, from the start page by clicking: minutes of a meeting
that name a participant without a link are listed for the admin to check before she sends the
copy, with a link to the meeting; the copy itself holds only the participant's own data."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

MEETING = "Abstimmung mit dem Jobcenter"
MINUTES = "Frau Al-Khatib hat die Stelle angetreten. Herr Saleh wartet noch auf den Bescheid."


def test_the_admin_sees_minutes_naming_the_person_beside_her_access_report(page: Page) -> None:
    page.goto("/")
    log_in(page)
    check_a11y(page)
    nav = page.get_by_role("navigation", name="Hauptnavigation")

    # A coordination meeting's minutes name her (and somebody else) in passing.
    nav.get_by_role("link", name="Termine", exact=True).click()
    # The last of the series: another test writes the minutes of the first.
    page.get_by_role("link", name=MEETING).last.click()
    check_a11y(page)
    page.get_by_role("textbox", name="Protokoll").fill(MINUTES)
    page.get_by_role("button", name="Protokoll speichern").click()
    expect(page.locator(".flash-messages")).to_contain_text("Das Protokoll wurde gespeichert.")
    meeting_url = page.url

    nav.get_by_role("link", name="Verwaltung", exact=True).click()
    page.get_by_role("main").get_by_role("link", name="Datenschutz (DSGVO)").click()
    check_a11y(page)
    page.locator("#lookup-q").fill("Al-Khatib")
    page.locator("#lookup-form button[type=submit]").click()
    check_a11y(page)
    page.get_by_role("main").get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Auskunft für die angekreuzten Datensätze anzeigen").click()
    expect(
        page.get_by_role("heading", name="Auskunft über Ihre personenbezogenen Daten")
    ).to_be_visible()
    # The demo has not filled in the controller yet: the admin is told before she sends it.
    expect(page.locator("#controller-missing")).to_contain_text("noch nicht eingetragen")
    review = page.locator("#mention-review")
    expect(review).to_contain_text("Vor dem Versand prüfen")
    expect(review).to_contain_text(MINUTES)
    # The copy she receives does not hold the minutes (they name somebody else too).
    expect(page.locator("article.access-report")).not_to_contain_text("Herr Saleh")
    check_a11y(page)

    review.get_by_role("link", name=re.compile("Protokoll eines Termins")).click()
    expect(page).to_have_url(meeting_url)
    expect(page.get_by_role("textbox", name="Protokoll")).to_have_value(MINUTES)
    check_a11y(page)
