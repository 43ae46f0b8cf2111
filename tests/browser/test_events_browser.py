"""Fair planning in a real browser: plan a fair, two staff slots, a lead, the assignee's list."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from crm import demo
from tests.browser.conftest import check_a11y, log_in

COUNSELLOR_EMAIL, COUNSELLOR_NAME = demo.DEMO_USERS[2][0], demo.DEMO_USERS[2][1]
STAFF_NAME = demo.DEMO_USERS[4][1]


def _nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name=label, exact=True
    ).click()


def test_a_fair_is_planned_a_lead_captured_and_its_follow_up_is_on_the_assignees_list(
    page: Page,
) -> None:
    day = (date.today() + timedelta(days=30)).isoformat()
    page.goto("/")
    log_in(page)
    check_a11y(page)
    _nav(page, "Termine")
    expect(page).to_have_url(re.compile(r"/termine/$"))
    check_a11y(page)
    page.locator("#event-new").click()
    page.locator("#kind").select_option("fair")
    page.locator("#title").fill("Ausbildungsmesse Schönebeck")
    page.locator("#start_date").fill(day)
    page.locator("#start_time").fill("09:00")
    page.locator("#end_date").fill(day)
    page.locator("#end_time").fill("15:00")
    page.locator("#place").fill("Bürgerhaus")
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/termine/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ausbildungsmesse Schönebeck")
    check_a11y(page)

    for name, start, end in ((STAFF_NAME, "09:00", "12:00"), (COUNSELLOR_NAME, "12:00", "15:00")):
        page.locator("#slot-form #user_id").select_option(label=name)
        page.locator("#slot-form #start_time").fill(start)
        page.locator("#slot-form #end_time").fill(end)
        page.locator("#slot-form button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"/termine/\d+$"))
    expect(page.locator("#slots li")).to_have_count(2)
    expect(page.locator(".conflict-warning")).to_have_count(0)

    page.locator("#lead-new").click()
    check_a11y(page)
    page.locator("#first_name").fill("Mira")
    page.locator("#last_name").fill("Schubert")
    page.locator("#organisation").fill("Salzland Metallbau GmbH")
    page.locator("#note").fill("Interesse an Umschulung")
    page.locator("#assignee_id").select_option(label=COUNSELLOR_NAME)
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("#lead-table")).to_contain_text("Schubert")
    expect(page.locator("#lead-table")).to_contain_text(COUNSELLOR_NAME)

    page.context.clear_cookies()
    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    _nav(page, "Wiedervorlagen")
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/$"))
    expect(page.locator("main")).to_contain_text("Nachfassen: Ausbildungsmesse Schönebeck")
    check_a11y(page)


def test_the_fair_checklist_option_is_offered_only_while_the_kind_is_fair(page: Page) -> None:
    page.goto("/")
    log_in(page)
    _nav(page, "Termine")
    page.locator("#event-new").click()
    option = page.locator("#default-checklist-field")
    page.locator("#kind").select_option("fair")
    expect(option).to_be_visible()
    page.locator("#kind").select_option("workshop")
    expect(option).to_be_hidden()
    check_a11y(page)
    page.locator("#kind").select_option("fair")
    expect(option).to_be_visible()
