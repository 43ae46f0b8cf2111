"""Scenario (3) of issue 13: staff filter people, add them to a newsletter with the consent
source and to a new static list by bulk action, then send a campaign to that list and watch
the progress bar reach 100 %. Only clicks from the start page; axe on every page visited."""

from __future__ import annotations

import re
import threading
from typing import Any

from playwright.sync_api import Page, expect

from crm.extensions import db
from crm.newsletters.models import NewsletterTemplate
from tests.browser.conftest import check_a11y, log_in
from tests.browser.test_newsletter_browser import _live_app
from tests.factories import make_list, make_person
from tests.newsletter_sending_helpers import subscribe

STAFF = "assistenz@demo.netzwerk-crm.de"


def test_staff_build_a_static_list_by_bulk_action_and_send_a_campaign_to_it(
    page: Page, live_server: str
) -> None:
    app = _live_app()
    with app.app_context():
        nl = make_list(db.session, name="Newsletter Sammelaktion")
        for first in ("Ada", "Bea", "Cem"):
            make_person(db.session, first_name=first, last_name="Quappendorf")
        # She withdrew her consent earlier: the bulk action must leave her out.
        gone = make_person(db.session, first_name="Dora", last_name="Quappendorf")
        subscribe(db.session, nl, gone, status="unsubscribed")
        db.session.add(
            NewsletterTemplate(
                name="Sammelvorlage", subject="{{ liste }}: Einladung", body_text="Hallo"
            )
        )
        db.session.commit()
        db.session.remove()

    page.goto("/")
    log_in(page, STAFF)
    check_a11y(page)
    nav = page.get_by_role("navigation").first
    nav.get_by_role("link", name="Kontakte").click()
    page.get_by_role("link", name="Personen", exact=True).click()
    page.get_by_label("Suche", exact=True).fill("Quappendorf")
    page.locator("#list-filters").get_by_role("button", name="Filtern").click()
    expect(page.locator("#results-table tbody tr")).to_have_count(4)
    check_a11y(page)

    # Everybody the filter matches into the newsletter, with the consent's source.
    page.get_by_label(re.compile(r"^Alle 4 Treffer auswählen")).check()
    page.get_by_label("Aktion für die Auswahl", exact=True).select_option(
        label="Zu Newsletter hinzufügen (mit Einwilligung)"
    )
    page.get_by_role("button", name="Weiter").click()
    expect(page.locator("#bulk-count")).to_have_text("4 Personen ausgewählt.")
    check_a11y(page)
    page.get_by_label("Newsletter", exact=True).select_option(label="Newsletter Sammelaktion")
    page.get_by_label(re.compile(r"^Quelle der Einwilligung")).fill(
        "schriftliche Einwilligung auf Messe"
    )
    page.get_by_role("button", name="Auf die Auswahl anwenden").click()
    flash = page.locator(".flash-messages")
    expect(flash).to_contain_text(
        "3 Personen zu „Newsletter Sammelaktion“ hinzugefügt, 1 übersprungen (abgemeldet)."
    )
    check_a11y(page)

    # The ticked people into a new static list.
    for first in ("Ada", "Bea", "Cem", "Dora"):
        page.get_by_label(f"{first} Quappendorf auswählen").check()
    page.get_by_label("Aktion für die Auswahl", exact=True).select_option(
        label="Zu Kontaktliste hinzufügen"
    )
    page.get_by_role("button", name="Weiter").click()
    check_a11y(page)
    page.get_by_label("Name der neuen Kontaktliste").fill("Messe Quappendorf")
    page.get_by_role("button", name="Auf die Auswahl anwenden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Messe Quappendorf")
    expect(page.locator("#members tbody tr")).to_have_count(4)
    check_a11y(page)

    # A campaign to the newsletter's consenting subscribers on that list.
    nav.get_by_role("link", name="Aussendungen").click()
    check_a11y(page)
    page.get_by_role("link", name="Neue Aussendung").click()
    page.get_by_label("Name").fill("Einladung Quappendorf")
    page.get_by_label("Newsletter", exact=True).select_option(label="Newsletter Sammelaktion")
    page.get_by_label("eine feste Kontaktliste").check()
    page.get_by_label("Feste Kontaktliste", exact=True).select_option(label="Messe Quappendorf")
    # Dora is on the list but unsubscribed: three recipients.
    expect(page.locator("#recipient-count")).to_contain_text("3 Empfänger")
    page.get_by_label("Vorlage").select_option(label="Sammelvorlage")
    check_a11y(page)
    page.get_by_role("button", name="Aussendung anlegen").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/\d+$"))
    check_a11y(page)

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#campaign-actions").get_by_role("button", name="Jetzt senden").click()
    progress = page.locator("#campaign-progress")
    expect(progress).to_have_attribute("data-status", "sending")
    expect(progress).to_have_attribute("data-percent", "0")

    # The scheduler's send-outbox job, run in-process against the live server's database.
    from crm.newsletters.sending import run_outbox

    result: dict[str, Any] = {}
    sender = threading.Thread(target=lambda: result.update(report=run_outbox(app)))
    sender.start()
    sender.join(timeout=60)
    assert result["report"].sent >= 3

    expect(progress).to_have_attribute("data-percent", "100", timeout=15_000)
    expect(progress).to_have_attribute("data-status", "sent")
    check_a11y(page)
