"""A counsellor leaves: the admin clicks from the start page to Verwaltung → Benutzerkonten →
Deaktivieren, sees what she still holds, hands it over to a colleague and deactivates her.

On a demo install of its own: deactivating a demo user on the shared live server would take
her away from the other browser tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from crm import demo
from crm.extensions import db
from tests.browser.conftest import (
    HtmlRecorder,
    browser_tab,
    check_a11y,
    log_in,
    own_install,
)

LEAVER = "Bernd Berater"  # counsels in Burg and Genthin
COLLEAGUE = "Bettina Beratung"  # works in Magdeburg only


def _seed_demo(_app: Any) -> None:
    demo.seed(db.session)
    db.session.commit()


@pytest.fixture(scope="module")
def demo_server(
    make_database: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
    html_recorder: HtmlRecorder,
) -> Iterator[str]:
    """The app on a fresh database with the demo data, for this module alone: deactivating a
    demo user on the shared live server would break other browser tests."""
    instance = tmp_path_factory.mktemp("handover-instance")
    with own_install(make_database, instance, html_recorder, "handover", _seed_demo) as url:
        yield url


@pytest.fixture
def demo_page(browser: Browser, demo_server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    with browser_tab(browser, demo_server, request) as tab:
        yield tab


def test_an_admin_hands_over_a_leaving_counsellors_work_and_deactivates_her(
    demo_page: Page,
) -> None:
    page = demo_page
    page.goto("/")
    log_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mein Tag")
    check_a11y(page)

    nav = page.get_by_role("navigation", name="Hauptnavigation")
    nav.get_by_role("link", name="Verwaltung", exact=True).click()
    main = page.get_by_role("main")
    main.get_by_role("link", name="Benutzerkonten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Benutzerkonten")
    check_a11y(page)

    main.get_by_role("link", name=f"Deaktivieren {LEAVER}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Übergabe: {LEAVER}")
    holdings = page.locator("#holdings")
    expect(holdings).to_contain_text("Teilnehmende in Beratung")
    expect(main.get_by_role("status")).to_contain_text("Ohne Übergabe bleibt all das")
    check_a11y(page)

    # Without a colleague the handover is refused in German; nobody is deactivated.
    page.get_by_role("button", name="Übergeben und deaktivieren").click()
    expect(page.locator("#colleague_id-errors")).to_contain_text("Bitte eine aktive Kollegin")
    check_a11y(page)

    page.get_by_label("Übergeben an").select_option(label=COLLEAGUE)
    page.get_by_role("button", name="Übergeben und deaktivieren").click()
    expect(page).to_have_url(re.compile(r"/verwaltung/benutzer$"))
    expect(main).to_contain_text(f"An {COLLEAGUE} übergeben")
    # His participants are in Burg and Genthin, where she does not work: they stay, counted.
    expect(main).to_contain_text("Nicht übergebene Teilnehmende")
    expect(main).to_contain_text("deaktiviert und überall abgemeldet")
    row = main.get_by_role("row").filter(has_text=LEAVER)
    expect(row).to_contain_text("deaktiviert")
    check_a11y(page)

    # Handed over: his page now shows no open follow-ups, inquiries or coming events.
    row.get_by_role("link", name=f"Übergeben {LEAVER}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Übergabe: {LEAVER}")
    cells = page.locator("#holdings td")
    expect(cells.nth(1)).to_have_text("0")
    expect(cells.nth(2)).to_have_text("0")
    expect(cells.nth(3)).to_have_text("0")
    check_a11y(page)
