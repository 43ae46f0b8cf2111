"""The demo data fills the pages an admin clicks to first (issue 13): the campaign archive
with a sent campaign, recipient counts as pages of their own, and a duplicate to merge.
Clicking only, from the start page, with axe on every page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

NEWSLETTER = "Newsletter Haus der Wirtschaft"


def test_an_admin_finds_the_sent_demo_campaign_and_counts_recipients_on_a_page_of_its_own(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation").first
    main = page.get_by_role("main")

    nav.get_by_role("link", name="Aussendungen").click()
    sent = page.locator("#campaigns tbody tr").filter(has_text="Juni-Ausgabe")
    expect(sent).to_contain_text("Gesendet")
    expect(sent.locator("[data-figure=failed]")).to_have_text("1")
    check_a11y(page)

    main.get_by_role("link", name="Empfänger*innen zählen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Empfänger*innen zählen")
    check_a11y(page)
    page.get_by_label("Newsletter", exact=True).select_option(label=NEWSLETTER)
    main.get_by_role("button", name="Empfänger*innen zählen").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/anzahl\?"))
    expect(page.locator("#recipient-count")).to_contain_text(re.compile(r"\d+ Empfänger"))
    check_a11y(page)

    nav.get_by_role("link", name="Newsletter", exact=True).click()
    main.get_by_role("link", name=re.compile("^Zielgruppen")).click()
    check_a11y(page)
    row = page.locator("#audiences tbody tr").filter(has_text="Verbände mit Tag")
    row.get_by_role("link", name="Empfänger*innen zählen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Empfänger*innen zählen")
    expect(page.locator("#audience-count")).to_contain_text(re.compile(r"\d+ Empfänger"))
    check_a11y(page)


def test_an_admin_finds_the_demo_duplicate_by_merge_with_and_reaches_the_merge_page(
    page: Page,
) -> None:
    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation").first
    main = page.get_by_role("main")

    nav.get_by_role("link", name="Kontakte").click()
    main.get_by_role("link", name="Personen", exact=True).first.click()
    main.get_by_role("link", name=re.compile("Bär, Franziska")).first.click()
    check_a11y(page)
    main.get_by_role("link", name="Zusammenführen mit…").click()
    # The search is prefilled with the record's name: the other record is offered at once.
    candidates = page.locator("#merge-candidates li")
    expect(candidates).to_have_count(1)
    check_a11y(page)
    candidates.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Datensätze zusammenführen")
    check_a11y(page)
