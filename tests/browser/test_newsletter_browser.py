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
    page.goto("/newsletter/vorlagen/neu")
    log_in(page)
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
    page.goto("/newsletter/aussendungen/neu")
    check_a11y(page)
    page.locator("#name").fill("Browser-Aussendung")
    page.locator("#list_id").select_option(label=list_name)
    page.locator("#template_id").select_option(label="Browser-Vorlage Herbst")
    page.get_by_role("button", name="Aussendung anlegen").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/\d+$"))
    check_a11y(page)

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#campaign-actions form").first.locator("button").click()
    progress = page.locator("#campaign-progress")
    expect(progress).to_have_attribute("data-status", "sending")
    expect(progress).to_have_attribute("data-percent", "0")

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
        preview = f"/newsletter/vorlagen/{tpl.id}/vorschau.html"
        db.session.remove()

    page.goto(preview)
    log_in(page)
    page.goto(preview)
    expect(page).to_have_title(re.compile(r"^Neues im "))
    assert page.locator("html").get_attribute("lang") == "de"
    check_a11y(page)

    page.goto("/" + web.split("/", 3)[3])
    expect(page).to_have_title(re.compile(r"^Neuigkeiten für "))
    assert page.locator("html").get_attribute("lang") == "de"
    check_a11y(page)
