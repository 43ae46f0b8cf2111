"""The assigned counsellor converts an inquiry into a participant by clicking only: start page,
the inquiry queue, the inquiry, the prefilled participant form, the new participant's page
(which names the inquiry it came from); axe on every page."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from crm.accounts.models import Office, User
from crm.database import utcnow
from crm.extensions import db
from crm.intake import service
from tests.browser.conftest import check_a11y, log_in
from tests.browser.test_intake_browser import _live_app

COUNSELLOR_EMAIL = "beratung@demo.netzwerk-crm.de"
INQUIRER = "Lina Umwandlungstest"


def test_the_counsellor_converts_an_inquiry_into_a_participant_from_the_queue(
    page: Page, live_server: str
) -> None:
    app = _live_app()
    with app.app_context():
        counsellor = db.session.scalar(sa.select(User).where(User.email == COUNSELLOR_EMAIL))
        office = db.session.scalar(sa.select(Office).where(Office.name == "Magdeburg"))
        inquiry = service.create_inquiry(
            db.session,
            service.InquiryData(
                kind="person",
                topic="job",
                office_id=office.id,
                name=INQUIRER,
                email="lina.umwandlung@example.org",
                phone="0391 555 0177",
                message="Ich bin Bauingenieurin und suche eine Stelle.",
            ),
            channel="web",
            now=utcnow(),
            consent_text="Ich bin einverstanden.",
            consent_version="2026-12",
        )
        service.reassign(inquiry, counsellor, utcnow())
        db.session.commit()
        db.session.remove()

    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    check_a11y(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Anfragen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anfragen")
    check_a11y(page)
    page.locator("#inquiry-table").get_by_role("link", name=INQUIRER).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Anfrage von {INQUIRER}")
    check_a11y(page)

    page.get_by_role("link", name="Als Teilnehmende").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anfrage als Teilnehmende übernehmen")
    expect(page.get_by_label("Vorname")).to_have_value("Lina")
    expect(page.get_by_label("Nachname")).to_have_value("Umwandlungstest")
    expect(page.get_by_label("Zugangsweg")).to_have_value("website_hotline")
    check_a11y(page)
    page.get_by_role("button", name="Teilnehmende anlegen").click()

    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(INQUIRER)
    expect(page.locator("#from-inquiry")).to_contain_text("Aus Anfrage #")
    check_a11y(page)
    # Back on the inquiry: converted, with a link to the participant.
    page.locator("#from-inquiry").get_by_role("link").click()
    expect(page.locator("#inquiry-status")).to_have_text("Übernommen")
    expect(page.locator("#inquiry-converted").get_by_role("link")).to_contain_text(INQUIRER)
    check_a11y(page)
