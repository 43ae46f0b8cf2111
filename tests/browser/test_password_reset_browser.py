"""Forgot password in a real browser: from the login page to the mailed link, a new password,
the login with it, and the used link refused; axe on every page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from crm.extensions import db
from tests import factories
from tests.browser.conftest import check_a11y, log_in
from tests.mail_helpers import QueuedMail

# The mail's link points at CRM_BASE_URL; the visitor opens its path on the live server.
LINK = re.compile(r"https?://[^/\s]+(/passwort-vergessen/\S+)")
EMAIL = "vergesslich@example.org"
NEW = "Elbwiesen-im-Fruehling-2027"


def _link_from_the_mail(app) -> str:
    with app.app_context():
        [mail] = [m for m in QueuedMail(db.session, "notice").messages if m.rcpt_tos == [EMAIL]]
        return LINK.search(mail.message.get_body(("plain",)).get_content()).group(1)


def test_a_user_who_forgot_her_password_sets_a_new_one_through_the_mailed_link(
    page: Page, html_recorder
) -> None:
    app = html_recorder.app
    # A user of her own: changing a demo user's password would break the other tests' logins.
    with app.app_context():
        factories.make_user(db.session, email=EMAIL, display_name="Vera Vergesslich")
        db.session.commit()

    page.goto("/")
    check_a11y(page)
    page.get_by_role("link", name="Passwort vergessen?").click()
    expect(page.get_by_role("heading", name="Passwort vergessen?")).to_be_visible()
    check_a11y(page)
    page.get_by_label("E-Mail-Adresse").fill(EMAIL)
    page.get_by_role("button", name="Link senden").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Wenn die Adresse zu einem aktiven Konto gehört"
    )
    check_a11y(page)

    link = _link_from_the_mail(app)
    page.goto(link)
    expect(page.get_by_role("heading", name="Neues Passwort festlegen")).to_be_visible()
    check_a11y(page)
    page.get_by_label("Neues Passwort", exact=True).fill(NEW)
    page.get_by_label("Neues Passwort wiederholen").fill(NEW)
    page.get_by_role("button", name="Neues Passwort speichern").click()
    expect(page.get_by_text("Ihr neues Passwort ist gespeichert")).to_be_visible()
    check_a11y(page)
    log_in(page, EMAIL, NEW)
    expect(page.locator("#logout-button")).to_be_attached()

    page.goto(link)
    expect(page.get_by_role("heading", name="Dieser Link ist ungültig")).to_be_visible()
    check_a11y(page)
    page.get_by_role("link", name="Neuen Link anfordern").click()
    expect(page.get_by_role("heading", name="Passwort vergessen?")).to_be_visible()
