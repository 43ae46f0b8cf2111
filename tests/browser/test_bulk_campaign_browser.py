"""Scenario (3) of issue 13: staff filter people, add them to a newsletter with the consent
source by bulk action, then either put them on a new static list or tag them and build a
saved audience (a filter by that tag) in the newsletter pages, send a campaign to the list or
the audience and watch the progress bar reach 100 %. Only clicks from the start page; axe on
every page visited."""

from __future__ import annotations

import re
import threading
from typing import Any

from flask import Flask
from playwright.sync_api import Locator, Page, expect

from crm.extensions import db
from crm.newsletters.models import NewsletterTemplate
from tests.browser.conftest import check_a11y, log_in
from tests.browser.test_newsletter_browser import _live_app
from tests.factories import make_list, make_person
from tests.newsletter_sending_helpers import make_subscribers, subscribe

STAFF = "assistenz@demo.netzwerk-crm.de"
FIRST_NAMES = ("Ada", "Bea", "Cem", "Dora")


def _seed(app: Flask, *, surname: str, newsletter: str, template: str, others: int = 0) -> None:
    """Four people called `surname`, a newsletter that Dora, the fourth, left earlier, and
    `others` subscribers of it who are not called so."""
    # The live server (and its database) lives for the whole session: each test uses names
    # of its own.
    with app.app_context():
        nl = make_list(db.session, name=newsletter)
        for first in FIRST_NAMES[:3]:
            make_person(db.session, first_name=first, last_name=surname)
        # She withdrew her consent earlier: the bulk action must leave her out.
        gone = make_person(db.session, first_name=FIRST_NAMES[3], last_name=surname)
        subscribe(db.session, nl, gone, status="unsubscribed")
        # Their addresses must not contain `surname`: the people search matches e-mails too.
        make_subscribers(db.session, nl, others, prefix="andere")
        db.session.add(
            NewsletterTemplate(name=template, subject="{{ liste }}: Einladung", body_text="Hallo")
        )
        db.session.commit()
        db.session.remove()


def _subscribe_the_filtered_people(page: Page, *, surname: str, newsletter: str) -> Locator:
    """Log staff in, filter the people by `surname` and add all of them to the newsletter
    with the consent's source; return the main navigation."""
    page.goto("/")
    log_in(page, STAFF)
    check_a11y(page)
    nav = page.get_by_role("navigation").first
    nav.get_by_role("link", name="Kontakte").click()
    page.get_by_role("link", name="Personen", exact=True).click()
    page.get_by_label("Suche", exact=True).fill(surname)
    page.locator("#list-filters").get_by_role("button", name="Filtern").click()
    expect(page.locator("#results-table tbody tr")).to_have_count(4)
    check_a11y(page)

    page.get_by_label(re.compile(r"^Alle 4 Treffer auswählen")).check()
    page.get_by_label("Aktion für die Auswahl", exact=True).select_option(
        label="Zu Newsletter hinzufügen (mit Einwilligung)"
    )
    page.get_by_role("button", name="Weiter").click()
    expect(page.locator("#bulk-count")).to_have_text("4 Personen ausgewählt.")
    check_a11y(page)
    page.get_by_label("Newsletter", exact=True).select_option(label=newsletter)
    page.get_by_label(re.compile(r"^Quelle der Einwilligung")).fill(
        "schriftliche Einwilligung auf Messe"
    )
    page.get_by_role("button", name="Auf die Auswahl anwenden").click()
    expect(page.locator(".flash-messages")).to_contain_text(
        f"3 Personen zu „{newsletter}“ hinzugefügt, 1 übersprungen (abgemeldet)."
    )
    check_a11y(page)
    return nav


def _tick_everybody_for(page: Page, *, surname: str, action: str) -> None:
    """Tick the four people on the filtered list and go on with the bulk action `action`."""
    for first in FIRST_NAMES:
        page.get_by_label(f"{first} {surname} auswählen").check()
    page.get_by_label("Aktion für die Auswahl", exact=True).select_option(label=action)
    page.get_by_role("button", name="Weiter").click()
    check_a11y(page)


def _send_now_and_watch_the_progress_bar(page: Page, app: Flask, *, recipients: int) -> None:
    """On a campaign's page: send it now, run the sender, see the bar go from 0 to 100 %."""
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
    assert result["report"].sent >= recipients

    expect(progress).to_have_attribute("data-percent", "100", timeout=15_000)
    expect(progress).to_have_attribute("data-status", "sent")
    expect(progress.locator("#progress-total")).to_have_text(str(recipients))
    expect(progress.locator("#progress-sent")).to_have_text(str(recipients))
    check_a11y(page)


def test_staff_build_a_static_list_by_bulk_action_and_send_a_campaign_to_it(
    page: Page, live_server: str
) -> None:
    app = _live_app()
    _seed(
        app, surname="Quappendorf", newsletter="Newsletter Sammelaktion", template="Sammelvorlage"
    )
    nav = _subscribe_the_filtered_people(
        page, surname="Quappendorf", newsletter="Newsletter Sammelaktion"
    )

    # The ticked people into a new static list.
    _tick_everybody_for(page, surname="Quappendorf", action="Zu Kontaktliste hinzufügen")
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

    _send_now_and_watch_the_progress_bar(page, app, recipients=3)


def test_staff_tag_people_by_bulk_action_save_an_audience_over_the_tag_and_send_to_it(
    page: Page, live_server: str
) -> None:
    app = _live_app()
    _seed(
        app,
        surname="Quirrenbach",
        newsletter="Newsletter Zielgruppe",
        template="Zielvorlage",
        others=2,
    )
    nav = _subscribe_the_filtered_people(
        page, surname="Quirrenbach", newsletter="Newsletter Zielgruppe"
    )

    # The ticked people get a tag, which the saved audience filters by.
    _tick_everybody_for(page, surname="Quirrenbach", action="Schlagwort vergeben")
    page.get_by_label("Schlagwort", exact=True).fill("Messe Quirrenbach")
    page.get_by_role("button", name="Auf die Auswahl anwenden").click()
    expect(page.locator(".flash-messages")).to_contain_text(
        "Schlagwort „Messe Quirrenbach“ an 4 Datensätze vergeben."
    )
    check_a11y(page)

    # The saved audience, built in the newsletter pages with its live recipient count.
    nav.get_by_role("link", name="Newsletter", exact=True).click()
    check_a11y(page)
    page.get_by_role("link", name=re.compile(r"^Zielgruppen")).click()
    check_a11y(page)
    page.get_by_role("link", name="Neue Zielgruppe").click()
    page.get_by_label("Name", exact=True).fill("Messebesuch Quirrenbach")
    page.get_by_label(re.compile(r"^Newsletter \(dessen Einwilligung")).select_option(
        label="Newsletter Zielgruppe"
    )
    audience_count = page.locator("#audience-count")
    # All confirmed subscribers of the newsletter: the three the bulk action added and two
    # others.
    expect(audience_count).to_contain_text("5 Empfänger")
    page.get_by_label("ein gespeicherter Filter über Kontakte").check()
    page.get_by_label("Schlagwörter", exact=True).select_option(label="Messe Quirrenbach")
    # Only the tagged ones; Dora has the tag too, but no consent.
    expect(audience_count.locator("#audience-count-value")).to_have_attribute("data-count", "3")
    expect(audience_count).to_contain_text("3 Empfänger")
    check_a11y(page)
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator(".flash-messages")).to_contain_text("Zielgruppe gespeichert.")
    audience_row = page.locator("#audiences tbody tr").filter(has_text="Messebesuch Quirrenbach")
    expect(audience_row).to_contain_text("Messe Quirrenbach")
    check_a11y(page)

    # A campaign to that saved audience.
    nav.get_by_role("link", name="Aussendungen").click()
    check_a11y(page)
    page.get_by_role("link", name="Neue Aussendung").click()
    page.get_by_label("Name").fill("Einladung Quirrenbach")
    page.get_by_label("Newsletter", exact=True).select_option(label="Newsletter Zielgruppe")
    page.get_by_label("eine gespeicherte Zielgruppe").check()
    page.get_by_label("Gespeicherte Zielgruppe", exact=True).select_option(
        label="Messebesuch Quirrenbach (Newsletter Zielgruppe)"
    )
    recipient_count = page.locator("#recipient-count")
    expect(recipient_count.locator("#audience-count-value")).to_have_attribute("data-count", "3")
    expect(recipient_count).to_contain_text("3 Empfänger")
    page.get_by_label("Vorlage").select_option(label="Zielvorlage")
    check_a11y(page)
    page.get_by_role("button", name="Aussendung anlegen").click()
    expect(page).to_have_url(re.compile(r"/newsletter/aussendungen/\d+$"))
    expect(page.locator("#campaign-audience")).to_contain_text("Messebesuch Quirrenbach")
    check_a11y(page)

    _send_now_and_watch_the_progress_bar(page, app, recipients=3)
