"""Staff build a static contact list and send a campaign only to the list's subscribers on
it: clicking from the start page, with the live recipient count (htmx) and axe on each page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from crm.extensions import db
from crm.newsletters.models import NewsletterTemplate
from tests.browser.conftest import check_a11y, log_in
from tests.browser.test_newsletter_browser import _live_app
from tests.factories import make_list, make_person
from tests.newsletter_sending_helpers import make_subscribers, subscribe


def test_staff_narrow_a_campaign_to_a_static_list_and_see_the_recipient_count(
    page: Page, live_server: str
) -> None:
    app = _live_app()
    with app.app_context():
        nl = make_list(db.session, name="Newsletter Listentest")
        subscribe(db.session, nl, make_person(db.session, first_name="Ida", last_name="Quendt"))
        make_subscribers(db.session, nl, 4, prefix="others")  # on the newsletter, not the list
        make_person(db.session, first_name="Nina", last_name="Quendt")  # not subscribed
        db.session.add(
            NewsletterTemplate(
                name="Listenvorlage", subject="{{ liste }}: Einladung", body_text="Hallo"
            )
        )
        db.session.commit()
        db.session.remove()

    page.goto("/")
    log_in(page)
    nav = page.get_by_role("navigation").first
    nav.get_by_role("link", name="Kontakte").click()
    page.get_by_role("link", name="Kontaktlisten").click()
    check_a11y(page)
    page.get_by_role("link", name="Neue Kontaktliste").click()
    page.get_by_label("Name").fill("Messe Quendt")
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Messe Quendt")
    check_a11y(page)

    page.get_by_label("Personen nach Name oder E-Mail suchen").fill("Quendt")
    page.locator("#member-search").get_by_role("button", name="Suche", exact=True).click()
    hits = page.locator("#member-hits li")
    expect(hits).to_have_count(2)
    check_a11y(page)
    hits.first.get_by_role("button", name="Hinzufügen").click()
    page.locator("#member-hits li").filter(has=page.get_by_role("button")).first.get_by_role(
        "button", name="Hinzufügen"
    ).click()
    expect(page.locator("#member-count")).to_have_text("2")
    expect(page.locator("#members tbody tr")).to_have_count(2)
    check_a11y(page)

    nav.get_by_role("link", name="Aussendungen").click()
    check_a11y(page)
    page.get_by_role("link", name="Neue Aussendung").click()
    page.get_by_label("Name").fill("Einladung Messe")
    page.get_by_label("Newsletter", exact=True).select_option(label="Newsletter Listentest")
    count = page.locator("#recipient-count")
    expect(count).to_contain_text("5 Empfänger")
    page.get_by_label("eine feste Kontaktliste").check()
    page.get_by_label("Feste Kontaktliste", exact=True).select_option(label="Messe Quendt")
    # Two people are on the list; only the one who subscribed is counted.
    expect(count).to_contain_text("1 Empfänger")
    check_a11y(page)
    page.get_by_label("Vorlage").select_option(label="Listenvorlage")
    page.get_by_role("button", name="Aussendung anlegen").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/\d+$"))
    expect(page.locator("#campaign-subject")).to_have_text("Newsletter Listentest: Einladung")
    expect(page.locator("#campaign-audience")).to_contain_text("Messe Quendt")
    check_a11y(page)
