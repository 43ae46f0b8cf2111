"""The calendar in a real browser: a 14-day series and the logged-in user's fair duty.

Everything comes from the demo data (crm/events/demo.py): the every-other-Wednesday
"Abstimmung mit dem Jobcenter" from this week on, the job fair in three weeks with the
administrator on duty, and events that are over.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_NAME, check_a11y, log_in

SERIES = "Abstimmung mit dem Jobcenter"
FAIR = "Jobmesse Magdeburg"
MONTHS = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
]


def _series_days() -> list[str]:
    """The series' dates the 30-day agenda from today shows, as the page writes them."""
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    first = today + timedelta(days=(2 - today.weekday()) % 7)
    days = [first + timedelta(days=14 * k) for k in range(3)]
    return [d.strftime("Mittwoch, %d.%m.%Y") for d in days if d < today + timedelta(days=30)]


def test_the_calendar_shows_a_14_day_series_and_my_fair_duty_in_month_week_and_agenda(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    nav.get_by_role("link", name="Kalender", exact=True).click()
    expect(page).to_have_url(re.compile(r"/termine/kalender$"))
    expect(page.get_by_role("heading", name="Kalender", level=1)).to_be_visible()
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    month = page.locator("#calendar-month")
    expect(month.locator("caption")).to_have_text(f"{MONTHS[today.month - 1]} {today.year}")
    # Monday first; today marked by text (and aria-current), not by colour alone.
    expect(month.locator("thead th").first).to_have_text("Mo")
    expect(month.locator('td[aria-current="date"]')).to_contain_text("Heute")
    check_a11y(page)

    page.locator("#calendar-views").get_by_role("link", name="Liste").click()
    agenda = page.locator("#calendar-agenda")
    days = _series_days()
    assert len(days) >= 2
    for day in days:
        section = agenda.locator("section", has=page.get_by_role("heading", name=day))
        expect(section.get_by_role("link", name=re.compile(SERIES))).to_be_visible()
    expect(agenda.get_by_role("link", name=re.compile(SERIES))).to_have_count(len(days))
    duty = agenda.locator("li.cal-duty", has_text=ADMIN_NAME)
    expect(duty).to_have_count(1)
    expect(duty).to_contain_text(FAIR)
    check_a11y(page)

    page.locator("#calendar-mine").click()
    agenda = page.locator("#calendar-agenda")
    expect(agenda.locator("li.cal-duty")).to_have_count(1)
    expect(agenda.locator("li.cal-duty")).to_contain_text(ADMIN_NAME)
    expect(agenda.get_by_text(SERIES)).to_have_count(0)
    check_a11y(page)

    page.locator("#calendar-views").get_by_role("link", name="Woche").click()
    expect(page.locator("#calendar-week")).to_be_visible()
    expect(page.locator('#calendar-week tr[aria-current="date"]')).to_contain_text("Heute")
    check_a11y(page)
    # Three weeks on (the fair) by the "next" link; the person filter stays on.
    for _ in range(3):
        page.locator("#calendar-paging").get_by_role("link", name="Weiter").click()
        expect(page).to_have_url(re.compile(r"ansicht=woche"))
    expect(page.locator("#calendar-week li.cal-duty")).to_contain_text(FAIR)
    check_a11y(page)

    page.locator("#calendar-views").get_by_role("link", name="Monat").click()
    expect(page.locator("#calendar-month")).to_be_visible()
    check_a11y(page)

    page.locator("#calendar-views").get_by_role("link", name="Liste").click()
    page.locator("#calendar-agenda li.cal-duty").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/termine/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(FAIR)
    check_a11y(page)


def test_past_events_are_listed_and_found_by_a_search(page: Page) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    nav.get_by_role("link", name="Termine", exact=True).click()
    page.locator("#events-period").get_by_role("link", name="Vergangene Termine").click()
    table = page.locator("main table")
    expect(table).to_contain_text("Ausbildungsmesse Burg")
    expect(table).to_contain_text("Lenkungskreis Netzwerk")
    check_a11y(page)
    page.get_by_label("Titel oder Ort").fill("lenkungskreis")
    page.get_by_role("button", name="Anzeigen").click()
    expect(table.get_by_role("link", name="Lenkungskreis Netzwerk")).to_be_visible()
    expect(table).not_to_contain_text("Ausbildungsmesse Burg")
    check_a11y(page)
    page.locator("#events-calendar").click()
    expect(page.get_by_role("heading", name="Kalender", level=1)).to_be_visible()
    check_a11y(page)
