"""Inquiries in a real browser: an anonymous visitor sends the public form from a plain link,
the acknowledgement reaches a real SMTP server through the outbox sender, and the assigned
counsellor opens the inquiry from "Mein Tag" and marks it in contact. axe runs on every public
page of the form."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from crm.mail.sender import run_outbox
from tests.browser.conftest import _new_context, check_a11y, log_in
from tests.newsletter_helpers import use_smtp

VISITOR = "Mira Browsertest"
VISITOR_EMAIL = "mira.browsertest@example.org"
# The demo's rule for Magdeburg and recognition names Bettina alone.
COUNSELLOR_EMAIL = "beratung@demo.netzwerk-crm.de"
COUNSELLOR = "Bettina Beratung"


def _live_app() -> Flask:
    # The live server's app is the one built on the browser instance directory.
    from tests.conftest import _BUILT_APPS

    return next(a for a in _BUILT_APPS if "browser-instance" in a.config["CRM_MAIL_OUTBOX_DIR"])


def _nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name=label, exact=True
    ).click()


def test_the_public_form_in_each_language_passes_axe(page: Page, live_server: str) -> None:
    for query, heading in (
        ("", "Ihre Anfrage"),
        ("?sprache=en", "Your inquiry"),
        ("?sprache=leicht", "Ihre Anfrage"),
    ):
        page.goto(f"/anfrage{query}")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check_a11y(page)


def test_a_visitor_inquires_the_mail_arrives_and_the_counsellor_takes_it_from_mein_tag(
    page: Page, live_server: str, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _live_app()
    # A plain link as an office's website would carry it: office and topic preselected.
    page.goto("/anfrage?stelle=Magdeburg&thema=recognition")
    expect(page.get_by_label("Geschäftsstelle")).to_have_value(re.compile(r"\d+"))
    # Sent empty first: the errors are listed, linked and announced.
    page.get_by_role("button", name="Anfrage senden").click()
    expect(page.locator("#form-errors")).to_contain_text("Bitte füllen Sie dieses Feld aus.")
    expect(page.get_by_label("Ihr Name")).to_have_attribute("aria-invalid", "true")
    check_a11y(page)

    page.get_by_label("Eine Person, die Beratung sucht").check()
    page.get_by_label("Ihr Name").fill(VISITOR)
    page.get_by_label("E-Mail-Adresse").fill(VISITOR_EMAIL)
    page.get_by_label("Ihre Nachricht").fill(
        "Ich bin Ärztin aus Syrien und brauche die Approbation."
    )
    page.get_by_label(re.compile("Ich bin damit einverstanden")).check()
    page.get_by_role("button", name="Anfrage senden").click()
    expect(page.locator("#inquiry-done")).to_contain_text("Wir haben Ihre Anfrage erhalten")
    check_a11y(page)

    # The scheduler's send-outbox job, against a real SMTP server.
    use_smtp(app, smtp_server, monkeypatch)
    result: dict[str, Any] = {}
    sender = threading.Thread(target=lambda: result.update(report=run_outbox(app)))
    sender.start()
    sender.join(timeout=60)
    assert "report" in result
    received = [m for m in smtp_server.messages if VISITOR_EMAIL in m.rcpt_tos]
    assert len(received) == 1
    body = received[0].message.get_body(("plain",)).get_content()
    # The contact person is named with her office inside the sentence.
    assert re.search(rf"Ihre Ansprechperson ist {COUNSELLOR} \([^)]+\)\.", body), body

    # The assigned counsellor: start page → the inquiry → in contact.
    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    section = page.locator("#today-inquiries")
    section.get_by_role("link", name=VISITOR).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Anfrage von {VISITOR}")
    expect(page.locator("#inquiry-assignee")).to_have_text(COUNSELLOR)
    check_a11y(page)
    page.get_by_role("button", name="Als „in Kontakt“ markieren").click()
    expect(page.locator("#inquiry-status")).to_have_text("In Kontakt")
    expect(page.locator("#inquiry-first-contact")).not_to_have_text("noch nicht")
    check_a11y(page)

    # Back on "Mein Tag" (still open, in contact): the inquiry → a participant, prefilled.
    page.locator(".navbar-brand").click()
    expect(page.get_by_role("heading", name="Mein Tag", level=1)).to_be_visible()
    page.locator("#today-inquiries").get_by_role("link", name=VISITOR).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Anfrage von {VISITOR}")
    page.get_by_role("link", name="Als Teilnehmende").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anfrage als Teilnehmende übernehmen")
    expect(page.get_by_label("Vorname")).to_have_value("Mira")
    expect(page.get_by_label("Nachname")).to_have_value("Browsertest")
    expect(page.get_by_label("Zugangsweg")).to_have_value("website_hotline")
    check_a11y(page)
    page.get_by_role("button", name="Teilnehmende anlegen").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(VISITOR)
    # The consent the visitor gave on the form went with it: an entry of the contact log with
    # the wording and its version, and the message.
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Einwilligung erteilt am")
    expect(timeline).to_contain_text("Ich bin damit einverstanden")
    expect(timeline).to_contain_text("brauche die Approbation")
    check_a11y(page)


def test_the_hotline_capture_works_by_keyboard_and_hints_at_a_known_person(
    page: Page, live_server: str
) -> None:
    page.goto("/")
    log_in(page, "assistenz@demo.netzwerk-crm.de")
    _nav(page, "Anfragen")
    check_a11y(page)
    page.get_by_role("link", name="Hotline-Anruf erfassen").click()
    expect(page).to_have_url(re.compile(r"/anfragen/neu$"))
    # The topic has the focus: the call can be typed in without the mouse.
    expect(page.get_by_label("Thema")).to_be_focused()
    check_a11y(page)
    page.keyboard.press("ArrowDown")  # the first topic
    page.keyboard.press("Tab")
    expect(page.get_by_label("Wer fragt an?")).to_be_focused()
    page.keyboard.press("Tab")
    name = page.get_by_label("Name *", exact=True)
    expect(name).to_be_focused()
    # A person already in the contacts is offered while typing: a duplicate hint.
    name.press_sequentially("Franziska", delay=40)
    hint = page.locator("#f-name-listbox").get_by_role("option", name=re.compile("Bär"))
    expect(hint.first).to_be_visible()
    name.press("Escape")
    name.fill("Franziska Neu")
    page.get_by_label("Telefonnummer").fill("0391 555 0100")
    page.get_by_label("Die anrufende Person hat in die Speicherung").check()
    page.get_by_role("button", name="Anfrage speichern").click()
    expect(page).to_have_url(re.compile(r"/anfragen/\d+$"))
    expect(page.locator("#inquiry-status")).to_have_text("Zugewiesen")
    check_a11y(page)
    page.get_by_role("link", name="Zurück zu den Anfragen").click()
    expect(page.locator("#inquiry-table")).to_contain_text("Franziska Neu")
    check_a11y(page)


def test_admins_find_the_embed_code_and_edit_a_rule(page: Page, live_server: str) -> None:
    page.goto("/")
    log_in(page)
    _nav(page, "Verwaltung")
    page.get_by_role("main").get_by_role("link", name="Anfragen", exact=True).click()
    expect(page.locator("#embed-code")).to_contain_text("<iframe src=")
    check_a11y(page)
    page.locator("#rule-table").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Zuweisungsregel bearbeiten")
    check_a11y(page)


def test_the_public_form_works_without_javascript_in_simple_german(
    browser: Browser, live_server: str
) -> None:
    context = _new_context(browser, live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/anfrage?sprache=leicht&stelle=Burg")
        page.get_by_label("Ich frage für eine Firma.").check()
        page.get_by_label("Worum geht es?").select_option("further_education")
        page.get_by_label("Ihr Name").fill("Kai Ohneskript")
        page.get_by_label("Name von der Firma").fill("Ohneskript Bau GmbH")
        page.get_by_label("Ihre Telefon-Nummer").fill("03921 555 0199")
        page.get_by_label("Mit Telefon").check()
        page.get_by_label(re.compile("Ich bin einverstanden")).check()
        page.get_by_role("button", name="Anfrage abschicken").click()
        expect(page.locator("#inquiry-done")).to_contain_text("Wir haben Ihre Anfrage bekommen.")
    finally:
        context.close()
