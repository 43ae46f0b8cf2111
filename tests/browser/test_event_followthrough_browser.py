"""Around an event in a real browser, by clicking from the start page: staff invite a
newsletter's subscribers to the demo workshop, thank the attendees of last week's information
evening after a preview (its figures on the event page), and create the follow-ups for the
fair's leads. axe runs on every page visited."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

STAFF_EMAIL = "assistenz@demo.netzwerk-crm.de"
WORKSHOP = "Workshop: Bewerben in Deutschland"
EVENING = "Infoabend: Anerkennung ausländischer Abschlüsse"
FAIR = "Jobmesse Magdeburg"


def _events(page: Page) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Termine", exact=True
    ).click()
    check_a11y(page)


def test_staff_invite_thank_attendees_and_follow_up_every_lead_by_clicking(page: Page) -> None:
    page.goto("/")
    log_in(page, STAFF_EMAIL)
    check_a11y(page)

    # Invitations with a personal link to the workshop.
    _events(page)
    page.get_by_role("link", name=WORKSHOP).first.click()
    check_a11y(page)
    page.locator("#registrations-link").click()
    check_a11y(page)
    page.locator("#invite-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Einladen")
    check_a11y(page)
    page.get_by_label("Newsletter (dessen Einwilligung gilt)").select_option(
        label="Newsletter Haus der Wirtschaft"
    )
    page.get_by_role("button", name="Empfänger*innen zählen").click()
    expect(page.locator("#invite-count")).to_contain_text("eingeladen werden")
    check_a11y(page)
    page.locator("#invite-send").click()
    expect(page.locator(".flash-messages")).to_contain_text("im Hintergrund")
    check_a11y(page)

    # Last week's information evening: figures, then the thank-you after a preview.
    _events(page)
    page.locator("#events-period").get_by_role("link", name="Vergangene Termine").click()
    check_a11y(page)
    page.get_by_role("link", name=EVENING).first.click()
    expect(page.locator("#event-figures")).to_contain_text("67 %")
    check_a11y(page)
    page.locator("#registrations-link").click()
    check_a11y(page)
    page.locator("#thank-you-link").click()
    expect(page.locator("#thank-you-state")).to_contain_text("2 Teilnehmende")
    check_a11y(page)
    page.get_by_role("button", name="Vorschau").click()
    expect(page.locator("#thank-you-preview")).to_contain_text("Guten Tag")
    check_a11y(page)
    page.locator("#thank-you-send").click()
    expect(page.locator(".flash-messages")).to_contain_text("2 Dankes-Mails")
    check_a11y(page)

    # The fair's leads: one click, and again (nothing twice).
    _events(page)
    page.get_by_role("link", name=FAIR).first.click()
    check_a11y(page)
    page.locator("#lead-followups").click()
    expect(page.locator(".flash-messages")).to_contain_text("Lead")
    check_a11y(page)
    page.locator("#lead-followups").click()
    expect(page.locator(".flash-messages")).to_contain_text(
        "Jeder Lead hat bereits eine offene Wiedervorlage."
    )
    check_a11y(page)
