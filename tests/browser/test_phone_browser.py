"""The participant page on a 390 px wide phone: everything fits, nothing scrolls sideways."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y, log_in

COUNSELLOR = "beratung@demo.netzwerk-crm.de"
PHONE = {"width": 390, "height": 844}


def _page_width(page: Page) -> int:
    return int(page.evaluate("() => document.scrollingElement.scrollWidth"))


def test_the_participant_page_fits_a_390_px_phone(page: Page) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/")
    log_in(page, COUNSELLOR)
    expect(page.get_by_role("heading", name="Mein Tag", level=1)).to_be_visible()

    # On a phone the navigation sits behind its toggle button.
    page.get_by_role("button", name="Navigation anzeigen").click()
    page.locator("#nav-main").get_by_role("link", name="Teilnehmende", exact=True).click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/$"))
    page.locator("#participant-list tbody tr a").first.click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    expect(page.locator("#participant-name")).to_be_visible()

    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)


def test_the_coordinators_event_and_newsletter_pages_fit_a_390_px_phone(page: Page) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/")
    log_in(page, "assistenz@demo.netzwerk-crm.de")

    def open_nav(label: str) -> None:
        page.get_by_role("button", name="Navigation anzeigen").click()
        page.locator("#nav-main").get_by_role("link", name=label, exact=True).click()

    open_nav("Termine")
    expect(page).to_have_url(re.compile(r"/termine/$"))
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)
    page.locator("main table a[href^='/termine/']").first.click()
    expect(page).to_have_url(re.compile(r"/termine/\d+$"))
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)

    for label, url in (("Newsletter", r"/newsletter/$"), ("Aussendungen", r"/aussendungen/$")):
        open_nav(label)
        expect(page).to_have_url(re.compile(url))
        # Wide tables scroll inside their own box instead of pushing the page sideways.
        assert _page_width(page) <= PHONE["width"]
        check_a11y(page)
    page.locator("#campaigns a").first.click()
    expect(page).to_have_url(re.compile(r"/aussendungen/\d+$"))
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)


def test_a_needs_survey_answer_taken_on_the_phone_fits_a_390_px_phone(page: Page) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/")
    log_in(page, "assistenz@demo.netzwerk-crm.de")
    page.get_by_role("button", name="Navigation anzeigen").click()
    page.locator("#nav-main").get_by_role("link", name="Bedarfsanalysen", exact=True).click()
    page.locator("main li a[href*='/runden/']").first.click()
    expect(page).to_have_url(re.compile(r"/runden/\d+$"))
    page.locator("a.phone-answer").first.click()
    expect(page).to_have_url(re.compile(r"/telefon$"))
    # The needs matrix (occupation, number, time frame, level) scrolls inside its own box.
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)


def test_a_counsellors_placement_pages_fit_a_390_px_phone(page: Page) -> None:
    """The list's buttons, a participant's and a firm's placements and the open items fit."""
    page.set_viewport_size(PHONE)
    page.goto("/")
    log_in(page, COUNSELLOR)
    expect(page.get_by_role("heading", name="Mein Tag", level=1)).to_be_visible()

    page.get_by_role("button", name="Navigation anzeigen").click()
    page.locator("#nav-main").get_by_role("link", name="Teilnehmende", exact=True).click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/$"))
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)

    # Amal Haddad has a placement (an internship at Bäckerei Schäfer, crm/placements/demo.py).
    page.get_by_role("link", name="Haddad, Amal").click()
    expect(page.locator("#participant-placements")).to_be_visible()
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)

    page.locator("#participant-placements").get_by_role(
        "link", name="Bäckerei Schäfer GmbH", exact=True
    ).click()
    expect(page.locator("#org-placements")).to_be_visible()
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)

    page.goto("/")
    page.get_by_role("link", name="Alle offenen Unterstützungspunkte").click()
    expect(page.locator("#open-items")).to_be_visible()
    assert _page_width(page) <= PHONE["width"]
    check_a11y(page)
