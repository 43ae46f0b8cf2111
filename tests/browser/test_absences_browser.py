"""Absences in a real browser: a user records one from the start page's user menu, by clicking
only; a refused one (last day before the first) keeps what was typed; axe on every page."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from crm.database import utcnow
from tests.browser.conftest import check_a11y, log_in

# A read-only user: in no assignment rule, so the absence changes no other test's round robin.
USER_EMAIL = "lesen@demo.netzwerk-crm.de"


def test_a_user_adds_an_absence_from_the_start_page(page: Page, live_server: str) -> None:
    today = utcnow().astimezone(ZoneInfo("Europe/Berlin")).date()
    first, last = today + timedelta(days=60), today + timedelta(days=64)
    page.goto("/")
    log_in(page, USER_EMAIL)
    expect(page.get_by_role("heading", name="Mein Tag", level=1)).to_be_visible()
    check_a11y(page)
    page.locator("#user-menu").click()
    page.locator('[aria-labelledby="user-menu"]').get_by_role(
        "link", name="Meine Abwesenheiten"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Meine Abwesenheiten")
    check_a11y(page)

    # The last day before the first: refused in German, the typed values stay.
    page.get_by_label("Erster Tag").fill(last.isoformat())
    page.get_by_label("Letzter Tag").fill(first.isoformat())
    page.get_by_label("Notiz").fill("Fortbildung in Halle")
    page.get_by_role("button", name="Abwesenheit eintragen").click()
    expect(page.locator("#last_day-errors")).to_contain_text(
        "Der letzte Tag darf nicht vor dem ersten Tag liegen."
    )
    expect(page.get_by_label("Notiz")).to_have_value("Fortbildung in Halle")
    check_a11y(page)

    page.get_by_label("Erster Tag").fill(first.isoformat())
    page.get_by_label("Letzter Tag").fill(last.isoformat())
    page.get_by_label("Art").select_option(label="Dienstreise")
    page.get_by_role("button", name="Abwesenheit eintragen").click()
    table = page.locator("#absence-table")
    expect(table).to_contain_text(first.strftime("%d.%m.%Y"))
    expect(table).to_contain_text(last.strftime("%d.%m.%Y"))
    expect(table).to_contain_text("Dienstreise")
    check_a11y(page)
