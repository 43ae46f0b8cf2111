"""The privacy notice from a public form: a visitor who has typed into the newsletter sign-up
opens the notice in a new tab, reads it, and finds her input still in the form."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import check_a11y


def test_a_visitor_reads_the_privacy_notice_from_the_sign_up_and_keeps_her_input(
    page: Page, live_server: str
) -> None:
    # The demo's public sign-up, as a link on the office's website leads to it.
    page.goto("/newsletter/anmelden/haus-der-wirtschaft")
    check_a11y(page)
    page.get_by_label("E-Mail-Adresse").fill("leyla@example.org")

    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Datenschutzhinweis").click()
    notice = opened.value
    expect(notice.get_by_role("heading", level=1)).to_have_text("Datenschutzhinweis")
    expect(notice.get_by_role("heading", name="Ihre Rechte")).to_be_visible()
    check_a11y(notice)
    notice.get_by_role("link", name="English").click()
    expect(notice.get_by_role("heading", level=1)).to_have_text("Privacy notice")
    check_a11y(notice)
    notice.close()

    expect(page.get_by_label("E-Mail-Adresse")).to_have_value("leyla@example.org")
