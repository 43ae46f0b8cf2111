"""Staff work through the possible duplicates by clicking only: start page, Kontakte, the tab
"Mögliche Dubletten", the demo's pair of Franziska Bär to the merge page, then back and "Keine
Dublette" for it; the organisations' list too; axe on every page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in


def test_staff_compare_a_possible_duplicate_and_mark_it_as_different(
    page: Page, live_server: str
) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation").first
    main = page.get_by_role("main")

    def open_duplicates() -> None:
        nav.get_by_role("link", name="Kontakte").click()
        main.get_by_role("link", name="Mögliche Dubletten").click()
        expect(main.get_by_role("heading", level=2)).to_have_text("Mögliche Dubletten")

    open_duplicates()
    check_a11y(page)
    row = page.locator("#duplicate-pairs tr", has_text="Bär")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("gleicher Name bei derselben Organisation")
    row.get_by_role("link", name="Vergleichen und zusammenführen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Datensätze zusammenführen")
    check_a11y(page)

    open_duplicates()
    page.locator("#duplicate-pairs tr", has_text="Bär").get_by_role(
        "button", name="Keine Dublette"
    ).click()
    expect(page.locator(".alert-success")).to_contain_text("zwei verschiedene Datensätze")
    expect(page.locator("#duplicate-pairs tr", has_text="Bär")).to_have_count(0)
    check_a11y(page)

    main.get_by_role("link", name=re.compile("^Organisationen$")).last.click()
    expect(main.get_by_role("link", name="Organisationen", exact=True).last).to_have_attribute(
        "aria-current", "page"
    )
    check_a11y(page)
