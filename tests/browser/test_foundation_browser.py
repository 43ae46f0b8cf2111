"""The foundation in a real browser: login, navigation, language, logout, a11y and CSP."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from crm import demo
from tests.browser.conftest import ADMIN_NAME, check_a11y, log_in

LOGIN_URL = re.compile(r"/anmelden(\?.*)?$")
LOGIN_FOR_START_URL = re.compile(r"/anmelden\?next=(%2F|/)$")
LEAD_EMAIL, LEAD_NAME = demo.DEMO_USERS[1][:2]
READONLY_EMAIL = demo.DEMO_USERS[-1][0]


def _url(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(path) + "$")


def _heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def _open_user_menu(page: Page) -> None:
    page.locator("#user-menu").click()
    expect(page.locator("#logout-button")).to_be_visible()


def test_the_login_page_is_german_and_has_no_serious_accessibility_violations(
    page: Page,
) -> None:
    page.goto("/anmelden")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page).to_have_title("Anmelden – netzwerk-crm")
    expect(_heading(page)).to_have_text("Anmelden")
    check_a11y(page)


def test_a_failed_login_shows_an_accessible_error(page: Page) -> None:
    page.goto("/anmelden")
    log_in(page, READONLY_EMAIL, "falsches-passwort")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("alert")).to_have_text("E-Mail-Adresse oder Passwort ist falsch.")
    check_a11y(page)


def test_a_user_logs_in_navigates_switches_language_and_logs_out(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(LOGIN_FOR_START_URL)
    check_a11y(page)

    log_in(page)
    expect(page).to_have_url(_url("/"))
    expect(_heading(page)).to_have_text("Mein Tag")
    expect(page.locator("#user-menu")).to_have_text(ADMIN_NAME)
    check_a11y(page)

    nav = page.get_by_role("navigation", name="Hauptnavigation")
    nav.get_by_role("link", name="Verwaltung", exact=True).click()
    expect(page).to_have_url(_url("/verwaltung"))
    expect(_heading(page)).to_have_text("Verwaltung")
    check_a11y(page)

    main = page.get_by_role("main")
    main.get_by_role("link", name="Benutzerkonten").click()
    expect(page).to_have_url(_url("/verwaltung/benutzer"))
    expect(_heading(page)).to_have_text("Benutzerkonten")
    expect(page.get_by_role("cell", name=LEAD_EMAIL)).to_be_visible()
    check_a11y(page)

    nav.get_by_role("link", name="Verwaltung", exact=True).click()
    main.get_by_role("link", name="Änderungsprotokoll").click()
    expect(page).to_have_url(_url("/verwaltung/protokoll/"))
    expect(_heading(page)).to_have_text("Änderungsprotokoll")
    # The demo seed is recorded.
    # Other browser tests share this database and write newer entries: any entry will do.
    expect(page.get_by_role("table").get_by_role("row").nth(1)).to_be_visible()
    check_a11y(page)

    # Choosing a language submits the form on change (app.js) and comes back to this page.
    page.get_by_label("Sprache").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(_url("/verwaltung/protokoll/"))
    expect(_heading(page)).to_have_text("Audit log")
    _open_user_menu(page)
    expect(page.locator("#logout-button")).to_have_text("Log out")
    check_a11y(page)

    page.get_by_label("Language").select_option("de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(_heading(page)).to_have_text("Änderungsprotokoll")

    _open_user_menu(page)
    page.get_by_role("link", name="Passwort ändern").click()
    expect(page).to_have_url(_url("/konto/passwort"))
    expect(_heading(page)).to_have_text("Passwort ändern")
    check_a11y(page)
    # Sent empty, the form marks its fields invalid and names the errors; still accessible.
    main.get_by_role("button", name="Passwort ändern").click()
    expect(page.get_by_label("Aktuelles Passwort")).to_have_attribute("aria-invalid", "true")
    check_a11y(page)

    _open_user_menu(page)
    expect(page.locator("#logout-button")).to_have_text("Abmelden")
    page.locator("#logout-button").click()
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("status")).to_have_text("Sie wurden abgemeldet.")
    expect(page.locator("#user-menu")).to_have_count(0)
    check_a11y(page)

    # Logged out means logged out: the start page asks for a login again.
    page.goto("/")
    expect(page).to_have_url(LOGIN_FOR_START_URL)


def test_a_deep_link_to_a_staff_page_asks_for_a_login_and_then_opens_that_page(
    page: Page,
) -> None:
    # A bookmark or a link in a colleague's message: the one place a staff page is typed in;
    # the workflow tests start at the start page and click.
    page.goto("/kontakte/personen?q=schae")
    expect(page).to_have_url(re.compile(r"/anmelden\?next="))
    log_in(page)
    expect(page).to_have_url(re.compile(r"/kontakte/personen\?q=schae$"))
    expect(page.locator("#results-table tbody tr").first).to_contain_text("Schäfer")


def test_the_language_switch_works_without_javascript(browser: Browser, live_server: str) -> None:
    context = browser.new_context(base_url=live_server, locale="de-DE", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/anmelden")
        page.get_by_label("Sprache").select_option("en")
        page.get_by_role("button", name="Wechseln").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(_heading(page)).to_have_text("Log in")
        page.get_by_label("Language").select_option("de")
        page.get_by_role("button", name="Switch").click()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(_heading(page)).to_have_text("Anmelden")
    finally:
        context.close()


def test_no_content_security_policy_violations_while_navigating(strict_page: Page) -> None:
    page = strict_page
    violations: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda error: violations.append(f"uncaught: {error}"))

    response = page.goto("/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page).to_have_url(LOGIN_FOR_START_URL)
    log_in(page, LEAD_EMAIL)
    expect(page.locator("#user-menu")).to_have_text(LEAD_NAME)
    for path in ("/verwaltung", "/verwaltung/protokoll/", "/konto/passwort"):
        page.goto(path)
        expect(page).to_have_url(_url(path))
    page.get_by_label("Sprache").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Language").select_option("de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    _open_user_menu(page)
    page.locator("#logout-button").click()
    expect(page).to_have_url(LOGIN_URL)

    assert violations == []

    # The check can fail: an inline script is refused, and the console says so.
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.inlineRan = true'; document.body.append(s); }"
        )
    assert page.evaluate("() => window.inlineRan") is None
