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
from playwright.sync_api import Page, expect

from crm.mail.sender import run_outbox
from tests.browser.conftest import check_a11y, log_in
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
    assert f"Ihre Ansprechperson ist {COUNSELLOR}." in body

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
