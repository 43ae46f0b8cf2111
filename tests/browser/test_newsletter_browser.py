"""A campaign in a real browser: write and preview a template, make a campaign of it, send it
and watch the progress bar reach 100 %."""

from __future__ import annotations

import re
import threading
from typing import Any

from flask import Flask
from playwright.sync_api import Page, expect

from crm.extensions import db
from tests.browser.conftest import check_a11y, log_in
from tests.factories import make_list
from tests.newsletter_sending_helpers import make_subscribers


def _live_app() -> Flask:
    # The live server's app is the one built on the browser instance directory.
    from tests.conftest import _BUILT_APPS

    return next(a for a in _BUILT_APPS if "browser-instance" in a.config["CRM_MAIL_OUTBOX_DIR"])


def _nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name=label, exact=True
    ).click()


def _to_templates(page: Page) -> None:
    """Main navigation → Newsletter → the tab of the templates (its name carries a count)."""
    _nav(page, "Newsletter")
    page.get_by_role("main").get_by_role("link", name=re.compile(r"^Vorlagen\b")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vorlagen")


def test_staff_send_a_campaign_and_watch_the_progress_bar_reach_100_percent(
    page: Page, live_server: str
) -> None:
    app = _live_app()
    with app.app_context():
        nl = make_list(db.session)
        make_subscribers(db.session, nl, 12)
        db.session.commit()
        list_name = nl.name
        db.session.remove()

    # Write a template and preview it.
    page.goto("/")
    log_in(page)
    _to_templates(page)
    check_a11y(page)
    page.get_by_role("link", name="Neue Vorlage").click()
    expect(page).to_have_url(re.compile(r"/newsletter/vorlagen/neu$"))
    page.locator("#name").fill("Browser-Vorlage Herbst")
    page.locator("#subject").fill("Neuigkeiten für {{ vorname }}")
    page.locator("#body_html").fill("<p>{{ anrede }},</p><p>es gibt Neues.</p>")
    page.locator("#body_text").fill("{{ anrede }},\nes gibt Neues.")
    page.locator("#template-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/newsletter/vorlagen/\d+/vorschau"))
    expect(page.locator("#preview-subject")).to_contain_text("Neuigkeiten für")
    check_a11y(page)

    # A campaign from it.
    _nav(page, "Aussendungen")
    check_a11y(page)
    page.get_by_role("link", name="Neue Aussendung").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/neu$"))
    check_a11y(page)
    page.locator("#name").fill("Browser-Aussendung")
    page.locator("#list_id").select_option(label=list_name)
    page.locator("#template_id").select_option(label="Browser-Vorlage Herbst")
    page.get_by_role("button", name="Aussendung anlegen").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/\d+$"))
    check_a11y(page)

    # A typo found before sending: the draft is edited from its page, its own copy of the
    # text pre-filled; a bad placeholder is named and what was typed stays.
    main = page.get_by_role("main")
    main.get_by_role("link", name="Bearbeiten", exact=True).click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/\d+/bearbeiten$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Aussendung bearbeiten")
    expect(page.locator("#body_text")).to_have_value("{{ anrede }},\nes gibt Neues.")
    check_a11y(page)
    page.locator("#body_text").fill("{{ anrede }},\nes gibt Neues zur {{ mesee }}.")
    page.get_by_role("button", name="Aussendung speichern").click()
    expect(page.locator("#body_text-errors")).to_contain_text("Unbekannter Platzhalter „mesee“")
    expect(page.locator("#body_text")).to_have_value(
        "{{ anrede }},\nes gibt Neues zur {{ mesee }}."
    )
    check_a11y(page)
    page.locator("#body_text").fill("{{ anrede }},\nes gibt Neues zur Jobmesse.")
    page.get_by_role("button", name="Aussendung speichern").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/\d+$"))
    expect(page.locator("#campaign-text")).to_contain_text("es gibt Neues zur Jobmesse.")
    check_a11y(page)

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#campaign-actions form").first.locator("button").click()
    progress = page.locator("#campaign-progress")
    expect(progress).to_have_attribute("data-status", "sending")
    expect(progress).to_have_attribute("data-percent", "0")
    # Once sending has started, the text stays as it goes out.
    expect(main.get_by_role("link", name="Bearbeiten", exact=True)).to_have_count(0)

    # The scheduler's send-outbox job, run in-process against the live server's database.
    from crm.newsletters.sending import run_outbox

    result: dict[str, Any] = {}
    sender = threading.Thread(target=lambda: result.update(report=run_outbox(app)))
    sender.start()
    sender.join(timeout=60)
    assert result["report"].sent == 12

    # htmx polls the partial every 2 s and stops once the campaign is sent.
    expect(progress).to_have_attribute("data-percent", "100", timeout=15_000)
    expect(progress).to_have_attribute("data-status", "sent")
    page.reload()
    expect(page.locator('#deliveries tr[data-delivery-status="sent"]')).to_have_count(12)
    check_a11y(page)


def test_the_preview_frame_and_the_web_version_are_titled_german_documents_for_axe(
    page: Page, live_server: str
) -> None:
    from crm.newsletters import service
    from crm.newsletters.models import NewsletterTemplate
    from tests.newsletter_sending_helpers import make_campaign

    app = _live_app()
    with app.app_context():
        nl = make_list(db.session)
        (person,) = make_subscribers(db.session, nl, 1)
        tpl = NewsletterTemplate(
            name="Axe-Vorlage", subject="Neues im {{ liste }}", body_html="<p>{{ anrede }}</p>"
        )
        db.session.add(tpl)
        campaign = make_campaign(db.session, nl)
        db.session.commit()
        settings = service.MailSettings.from_config(app.config)
        web = service.webversion_url(settings, campaign.id, person)
        db.session.remove()

    page.goto("/")
    log_in(page)
    _to_templates(page)
    page.get_by_role("link", name="Axe-Vorlage", exact=True).click()
    check_a11y(page)
    # The framed preview, opened as a page of its own by the link under the frame. The link
    # is below the fold, and in headless Chromium a click that comes at once after the
    # scroll to it did nothing (a second one worked; the sandboxed frame had been under that
    # point): the pointer moves there first, as a person's would.
    link = page.get_by_role("link", name="HTML-Vorschau als eigene Seite öffnen")
    link.hover()
    link.click()
    expect(page).to_have_url(re.compile(r"/newsletter/vorlagen/\d+/vorschau\.html"))
    expect(page).to_have_title(re.compile(r"^Neues im "))
    assert page.locator("html").get_attribute("lang") == "de"
    check_a11y(page)

    # The web version is a link from the e-mail: opened by its address.
    page.goto("/" + web.split("/", 3)[3])
    expect(page).to_have_title(re.compile(r"^Neuigkeiten für "))
    assert page.locator("html").get_attribute("lang") == "de"
    check_a11y(page)
