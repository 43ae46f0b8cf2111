""" "Mein Tag" in a real browser: a counsellor works the day's follow-ups from the start page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

COUNSELLOR = "beratung@demo.netzwerk-crm.de"
# Two overdue follow-ups and a duty today come from the demo data (crm/events/demo.py).
OVERDUE_DONE = "Teilnahmebestätigung an die Kammer schicken"
OVERDUE_SNOOZED = "Lebenslauf für die Bewerbung durchsehen"
DUE_TODAY = "Rückruf Anerkennungsberatung"


def _action(label: str, subject: str) -> re.Pattern[str]:
    # The button shows the action; screen readers also hear which follow-up it acts on.
    return re.compile(rf"^{label}\s*:\s*{re.escape(subject)}")


def test_a_counsellor_marks_one_overdue_follow_up_done_and_snoozes_another(page: Page) -> None:
    page.goto("/")
    log_in(page, COUNSELLOR)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Mein Tag", level=1)).to_be_visible()
    overdue = page.locator("#today-overdue")
    expect(overdue.get_by_role("link", name=OVERDUE_DONE)).to_be_visible()
    expect(overdue.get_by_role("link", name=OVERDUE_SNOOZED)).to_be_visible()
    expect(page.locator("#today-duties")).to_contain_text("Infoveranstaltung Berufsanerkennung")
    check_a11y(page)

    overdue.get_by_role("button", name=_action("Erledigt", OVERDUE_DONE)).click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".flash-messages")).to_contain_text("erledigt")
    expect(page.locator("#today-overdue").get_by_text(OVERDUE_DONE)).to_have_count(0)
    check_a11y(page)

    page.locator("#today-overdue").get_by_role(
        "button", name=_action("Morgen", OVERDUE_SNOOZED)
    ).click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".flash-messages")).to_contain_text("zurückgestellt")
    expect(page.locator("#today-followups").get_by_text(OVERDUE_SNOOZED)).to_have_count(0)

    # Every item links to its record: the duty leads to the event.
    page.locator("#today-duties").get_by_role(
        "link", name="Infoveranstaltung Berufsanerkennung"
    ).click()
    expect(page).to_have_url(re.compile(r"/termine/\d+$"))
    check_a11y(page)


def test_this_week_lists_todays_follow_up_on_any_day_sunday_included(page: Page) -> None:
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    monday = today - timedelta(days=today.weekday())
    page.goto("/")
    log_in(page, COUNSELLOR)
    page.get_by_role("navigation").get_by_role("link", name="Wiedervorlagen", exact=True).click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/$"))
    check_a11y(page)
    page.get_by_role("link", name=re.compile(r"^Diese Woche")).click()
    expect(page).to_have_url(re.compile(r"gruppe=week"))
    week = page.locator("section[aria-labelledby='group-week']")
    expect(week.get_by_role("link", name=DUE_TODAY)).to_be_visible()
    expect(page.locator("#week-span")).to_contain_text(
        f"Montag {monday:%d.%m.%Y} bis Sonntag {monday + timedelta(days=6):%d.%m.%Y}"
    )
    check_a11y(page)


def test_the_start_page_fits_a_phone(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    log_in(page, COUNSELLOR)
    expect(page.get_by_role("heading", name="Mein Tag", level=1)).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    check_a11y(page)
