"""A counsellor places a matched participant by clicking only: start page, the participant,
the firm named in her release, the firm's need, "Passende Teilnehmende", the one-click planned
placement and its form; axe on every page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from crm.accounts.models import Office, User
from crm.contacts import service as contacts
from crm.extensions import db
from crm.participants import service as participants
from crm.participants.models import Participant
from crm.placements import service as placements
from tests.browser.conftest import check_a11y, log_in
from tests.browser.test_intake_browser import _live_app

COUNSELLOR_EMAIL = "beratung@demo.netzwerk-crm.de"
FIRM = "Aaron-Klinik Vermittlungstest"
LAST_NAME = "Aabergvermittelt"


def _demo_counsellor() -> tuple[User, Office]:
    """The demo counsellor and her office (in an app context)."""
    counsellor = db.session.scalar(sa.select(User).where(User.email == COUNSELLOR_EMAIL))
    office = db.session.scalar(sa.select(Office).where(Office.name == "Magdeburg"))
    assert counsellor is not None
    assert office is not None
    return counsellor, office


def _demo_participant(first_name: str, last_name: str, **values: Any) -> Participant:
    """A participant of the demo counsellor, first seen 30 days ago (in an app context)."""
    counsellor, office = _demo_counsellor()
    return participants.save_participant(
        db.session,
        {
            "first_name": first_name,
            "last_name": last_name,
            "office_id": office.id,
            "counsellor_id": counsellor.id,
            "first_contact_on": date.today() - timedelta(days=30),
            **values,
        },
    )


def test_the_counsellor_places_a_matched_participant_from_the_firms_need(
    page: Page, live_server: str
) -> None:
    app = _live_app()
    with app.app_context():
        firm = contacts.save_organisation(
            db.session, {"name": FIRM, "kind": "employer", "city": "Magdeburg"}
        )
        contacts.add_need(
            db.session,
            firm,
            occupation="Elektroniker für Betriebstechnik",
            count=2,
            surveyed_on=date.today(),
            required_language_level="B1",
        )
        p = _demo_participant(
            "Dana",
            LAST_NAME,
            profession="Elektroniker",
            language_level="B2",
            recognition_status="full",
            city="Magdeburg",
        )
        participants.add_release(
            db.session,
            p,
            organisation=firm,
            granted_on=date.today() - timedelta(days=10),
            scope="Profil an den Arbeitgeber",
        )
        db.session.commit()
        db.session.remove()

    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    check_a11y(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Teilnehmende").click()
    check_a11y(page)
    page.get_by_role("link", name=re.compile(LAST_NAME)).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(LAST_NAME)
    check_a11y(page)
    page.locator("#release-list").get_by_role("link", name=FIRM).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(FIRM)
    check_a11y(page)
    page.locator("#needs-table").get_by_role(
        "link", name=re.compile("Passende Teilnehmende")
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Passende Teilnehmende")
    suggestion = page.locator(".suggestion", has_text=LAST_NAME)
    expect(suggestion).to_contain_text("Beruf „Elektroniker“ passt")
    expect(suggestion).to_contain_text("Deutsch B2 (gefordert: B1)")
    check_a11y(page)
    suggestion.get_by_role("button", name=re.compile("Geplante Vermittlung anlegen")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Vermittlung bearbeiten")
    expect(page.get_by_label("Status")).to_have_value("planned")
    check_a11y(page)
    page.get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#vermittlungen$"))
    expect(page.locator("#participant-placements")).to_contain_text(FIRM)
    check_a11y(page)


def test_picking_the_firm_on_a_new_placement_offers_its_needs_at_once(
    page: Page, live_server: str
) -> None:
    """The need select used to fill only after saving the placement once."""
    app = _live_app()
    with app.app_context():
        firm = contacts.save_organisation(
            db.session, {"name": "Aaron-Bedarfswahl GmbH", "kind": "employer", "city": "Burg"}
        )
        contacts.add_need(
            db.session, firm, occupation="Mechatronikerin", count=4, surveyed_on=date.today()
        )
        _demo_participant("Nora", "Aabergbedarf")
        db.session.commit()
        db.session.remove()

    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    page.get_by_role("navigation").first.get_by_role("link", name="Teilnehmende").click()
    page.get_by_role("link", name=re.compile("Aabergbedarf")).first.click()
    page.locator("#add-placement").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Neue Vermittlung")
    check_a11y(page)
    picker = page.locator("#organisation")
    picker.click()
    picker.press_sequentially("Aaron-Bedarfswahl", delay=40)
    listbox = page.locator("#organisation-listbox")
    expect(listbox.get_by_role("option").first).to_contain_text("Aaron-Bedarfswahl GmbH")
    picker.press("ArrowDown")
    picker.press("Enter")
    label = f"Mechatronikerin · 4 Personen · erfasst {date.today():%d.%m.%Y}"
    expect(page.locator("#need_id")).to_contain_text(label)
    page.locator("#need_id").select_option(label=label)
    check_a11y(page)
    page.get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#vermittlungen$"))
    expect(page.locator("#participant-placements")).to_contain_text("Aaron-Bedarfswahl GmbH")


def test_the_counsellor_picks_a_person_of_the_firm_as_onboarding_contact(
    page: Page, live_server: str
) -> None:
    """The onboarding contact used to be free text; now a person of the firm is picked."""
    app = _live_app()
    with app.app_context():
        firm = contacts.save_organisation(
            db.session, {"name": "Aaron-Onboarding Pflege GmbH", "kind": "employer"}
        )
        greta = contacts.save_person(
            db.session, {"first_name": "Greta", "last_name": "Aabergonboard"}
        )
        contacts.add_affiliation(db.session, greta, firm, function="Praxisanleiterin")
        # Somebody of the same name at another firm is not offered.
        elsewhere = contacts.save_organisation(
            db.session, {"name": "Aaron-Andere Firma", "kind": "employer"}
        )
        namesake = contacts.save_person(
            db.session, {"first_name": "Greta", "last_name": "Aabergonboard-Fremd"}
        )
        contacts.add_affiliation(db.session, namesake, elsewhere)
        p = _demo_participant("Olga", "Aabergplatziert")
        placements.save_placement(
            db.session,
            p,
            organisation=firm,
            kind="job",
            status="active",
            starts_on=date.today(),
            today=date.today(),
        )
        db.session.commit()
        db.session.remove()

    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    check_a11y(page)
    page.get_by_role("navigation").first.get_by_role("link", name="Teilnehmende").click()
    page.get_by_role("link", name=re.compile("Aabergplatziert")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Aabergplatziert")
    check_a11y(page)
    page.locator("#participant-placements").get_by_role(
        "link", name="Aaron-Onboarding Pflege GmbH", exact=True
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aaron-Onboarding Pflege GmbH")
    expect(page.locator("#onboarding-contact")).to_have_text("–")
    check_a11y(page)
    page.locator("#begleitung summary").click()
    picker = page.locator("#firm-onboarding_person")
    picker.click()
    picker.press_sequentially("Aabergonb", delay=40)
    listbox = page.locator("#firm-onboarding_person-listbox")
    expect(listbox.get_by_role("option")).to_have_count(1)
    check_a11y(page)
    listbox.get_by_role("option", name=re.compile("Greta Aabergonboard")).click()
    expect(picker).to_have_value("Greta Aabergonboard")
    page.locator("#firm-support-form").get_by_role("button", name="Speichern").click()
    expect(page.locator("#onboarding-contact")).to_have_text("Greta Aabergonboard")
    check_a11y(page)
    page.locator("#onboarding-contact").get_by_role("link", name="Greta Aabergonboard").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Greta Aabergonboard")
    onboarding = page.locator("#onboarding")
    expect(onboarding).to_contain_text("Aaron-Onboarding Pflege GmbH")
    expect(onboarding).to_contain_text("Olga Aabergplatziert")
    check_a11y(page)


def test_a_fitting_need_without_a_release_leads_to_the_release_form_with_the_firm(
    page: Page, live_server: str
) -> None:
    """The link under a fitting need only jumped to the closed release form, where the firm
    had to be looked up again; it now opens the form with the firm filled in."""
    firm_name = "Aaron-Entbindung Pflege GmbH"
    app = _live_app()
    with app.app_context():
        firm = contacts.save_organisation(
            db.session, {"name": firm_name, "kind": "employer", "city": "Magdeburg"}
        )
        contacts.add_need(
            db.session, firm, occupation="Pflegefachkraft", count=2, surveyed_on=date.today()
        )
        _demo_participant("Rana", "Aabergentbindung", profession="Pflegefachkraft")
        db.session.commit()
        db.session.remove()

    page.goto("/")
    log_in(page, COUNSELLOR_EMAIL)
    page.get_by_role("navigation").first.get_by_role("link", name="Teilnehmende").click()
    page.get_by_role("link", name=re.compile("Aabergentbindung")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Aabergentbindung")
    need = page.locator("#fitting-needs li", has_text=firm_name)
    need.get_by_role("link", name=re.compile("Schweigepflichtentbindung erfassen")).click()
    expect(page.locator("#release-organisation")).to_be_visible()
    expect(page.locator("#release-organisation")).to_have_value(firm_name)
    check_a11y(page)
    page.get_by_label("Erteilt am").fill(date.today().isoformat())
    page.get_by_label("Umfang").fill("Profil an den Arbeitgeber zur Vermittlung")
    page.get_by_role("button", name="Schweigepflichtentbindung speichern").click()
    expect(page.locator("#release-list")).to_contain_text(firm_name)
    # With the release the same need now offers the planned placement.
    expect(
        page.locator("#fitting-needs li", has_text=firm_name).get_by_role(
            "button", name=re.compile("Geplante Vermittlung anlegen")
        )
    ).to_be_visible()
    check_a11y(page)
