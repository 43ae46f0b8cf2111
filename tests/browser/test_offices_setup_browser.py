"""An empty production install set up in a real browser: only clicks from the start page.

The admin is created on the command line exactly as the README says; everything else
happens in the browser: offices, two users, weekly targets and the mail check, then the new
counsellor records the first participant in the new office.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    HtmlRecorder,
    browser_tab,
    check_a11y,
    log_in,
    own_install,
)

ADMIN = ("admin@beispiel-netzwerk.de", "Ada Administration")
ADMIN_PASSWORD = "Elbufer-Radweg-Einrichtung-2026"
COUNSELLOR = ("bea.beratung@beispiel-netzwerk.de", "Bea Beratung")
LEAD = ("lutz.leitung@beispiel-netzwerk.de", "Lutz Leitung")
NEW_PASSWORD = "Domplatz-Magdeburg-Neu-2026"


def _create_admin(app: Any) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "crm",
            "create-user",
            "--email",
            ADMIN[0],
            "--name",
            ADMIN[1],
            "--role",
            "admin",
            "--password-stdin",
        ],
        input=ADMIN_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def empty_server(
    make_database: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
    html_recorder: HtmlRecorder,
) -> Iterator[str]:
    """The app on a fresh, migrated database without demo data; one admin from the CLI."""
    instance = tmp_path_factory.mktemp("empty-instance")
    with own_install(make_database, instance, html_recorder, "empty-install", _create_admin) as url:
        yield url


@pytest.fixture
def empty_page(
    browser: Browser, empty_server: str, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A German browser tab on the empty install (CSP bypassed for axe, as in `page`)."""
    with browser_tab(browser, empty_server, request) as tab:
        yield tab


def _h1(page: Page):
    return page.get_by_role("heading", level=1)


def _log_out(page: Page) -> None:
    page.locator("#user-menu").click()
    page.locator("#logout-button").click()
    expect(page).to_have_url(re.compile(r"/anmelden"))


def _create_user(page: Page, email: str, name: str, role_label: str) -> str:
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Rolle").select_option(label=role_label)
    page.get_by_label("Stamm-Geschäftsstelle").select_option(label="Magdeburg")
    page.get_by_role("button", name="Benutzer anlegen").click()
    expect(page.locator("#created-user")).to_contain_text(email)
    check_a11y(page)
    return page.locator("#temporary-password").inner_text().strip()


def _first_login(page: Page, email: str, temporary: str) -> None:
    """Log in with the one-time password and choose a new one, as the app demands."""
    log_in(page, email, temporary)
    expect(_h1(page)).to_have_text("Passwort ändern")
    check_a11y(page)
    page.get_by_label("Aktuelles Passwort").fill(temporary)
    page.get_by_label("Neues Passwort", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Neues Passwort wiederholen").fill(NEW_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Passwort ändern").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_an_admin_sets_up_an_empty_install_and_a_counsellor_records_the_first_participant(
    empty_page: Page,
) -> None:
    page = empty_page
    page.goto("/")
    log_in(page, ADMIN[0], ADMIN_PASSWORD)
    expect(page.locator("#setup-banner")).to_be_visible()
    check_a11y(page)

    # Step 1: the first branch office.
    page.get_by_role("link", name="Ersteinrichtung starten").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Geschäftsstellen")
    check_a11y(page)
    page.get_by_label("Name").fill("Magdeburg")
    page.get_by_label("Straße und Hausnummer").fill("Breiter Weg 1")
    page.get_by_label("PLZ").fill("39104")
    page.get_by_label("Ort").fill("Magdeburg")
    page.get_by_role("button", name="Geschäftsstelle anlegen").click()
    expect(page.locator("#setup-offices")).to_contain_text("Magdeburg – Breiter Weg 1, 39104")
    check_a11y(page)

    # Step 2: a counsellor and a project lead in that office.
    page.get_by_role("link", name="Nächster Schritt").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Benutzerkonten")
    counsellor_password = _create_user(page, *COUNSELLOR, "Beratung")
    lead_password = _create_user(page, *LEAD, "Projektleitung")
    expect(page.locator("#setup-users")).to_contain_text(COUNSELLOR[1])
    expect(page.locator("#setup-users")).to_contain_text(LEAD[1])

    # Step 3: two entries and one exit a week.
    page.get_by_role("link", name="Nächster Schritt").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Wochenziele")
    check_a11y(page)
    page.get_by_label("Magdeburg: Eintritte").fill("2")
    page.get_by_label("Magdeburg: Austritte").fill("1")
    page.get_by_role("button", name="Ziele speichern").click()
    expect(page.get_by_label("Magdeburg: Eintritte")).to_have_value("2")
    check_a11y(page)

    # Step 4: the project term (optional; the funder report and the targets count from it).
    page.get_by_role("link", name="Nächster Schritt").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Projektlaufzeit")
    check_a11y(page)

    # Step 5: the mail check queues a test mail to the admin through the outbox.
    page.get_by_role("link", name="Nächster Schritt").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Mail-Einstellungen prüfen")
    check_a11y(page)
    page.get_by_role("button", name="Testmail senden").click()
    expect(page.locator("#mail-status")).to_contain_text(ADMIN[0])
    expect(page.locator("#mail-status")).to_contain_text("in Warteschlange")
    check_a11y(page)

    # Step 6: what else to set up before the public forms go live, each a link.
    page.get_by_role("link", name="Nächster Schritt").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Weitere Einstellungen")
    expect(page.locator("#further-privacy")).to_contain_text("Noch zu erledigen")
    check_a11y(page)
    page.locator("#further-privacy").get_by_role("link", name="Datenschutzhinweis").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Texte der Auskunft")
    page.go_back()

    page.get_by_role("link", name="Einrichtung abschließen").click()
    expect(page.locator("#setup-banner")).to_have_count(0)
    _log_out(page)

    # The lead sees the office's weekly target on the board.
    _first_login(page, LEAD[0], lead_password)
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Auswertung"
    ).click()
    expect(page.locator("main")).to_contain_text("Ziel pro Woche: Eintritte 2, Austritte 1")
    check_a11y(page)
    _log_out(page)

    # The counsellor records the first participant in the new office.
    _first_login(page, COUNSELLOR[0], counsellor_password)
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Teilnehmende"
    ).click()
    check_a11y(page)
    page.locator("#new-participant").click()
    expect(page.locator("#office_id")).to_have_value(re.compile(r"\d+"))
    check_a11y(page)
    page.locator("#first_name").fill("Olena")
    page.locator("#last_name").fill("Erste-Teilnehmerin")
    page.locator("#acquisition_channel").select_option("job_fair")
    page.get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    expect(page.locator("#participant-name")).to_have_text("Olena Erste-Teilnehmerin")
    expect(page.get_by_role("main")).to_contain_text("Magdeburg")
    check_a11y(page)


def test_on_the_empty_install_the_first_contact_is_created_from_the_empty_list_and_reported(
    empty_page: Page,
) -> None:
    """The empty contact list leads to the first record, and the Art. 15 lookup's button
    pressed without a tick returns to the matches with a hint instead of the 404 page."""
    page = empty_page
    page.goto("/")
    log_in(page, ADMIN[0], ADMIN_PASSWORD)
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    nav.get_by_role("link", name="Kontakte").click()
    expect(page.locator("#list-empty")).to_contain_text("Noch keine Organisationen.")
    expect(page.locator("#list-empty").get_by_role("link")).to_have_count(2)
    page.get_by_role("main").get_by_role("link", name="Personen", exact=True).click()
    expect(page.locator("#list-empty")).to_contain_text("Noch keine Personen.")
    check_a11y(page)
    page.locator("#list-empty").get_by_role("link", name="Legen Sie die erste Person an").click()
    page.locator("#first_name").fill("Jürgen")
    page.locator("#last_name").fill("Größmann")
    page.get_by_role("main").get_by_role("button", name="Speichern").click()
    expect(page).to_have_url(re.compile(r"/kontakte/personen/\d+$"))

    nav.get_by_role("link", name="Verwaltung", exact=True).click()
    page.get_by_role("main").get_by_role("link", name="Datenschutz (DSGVO)").click()
    page.locator("#lookup-q").fill("Größmann")
    page.locator("#lookup-form button[type=submit]").click()
    show = page.get_by_role("button", name="Auskunft für die angekreuzten Datensätze anzeigen")
    show.click()
    expect(page.get_by_role("main")).to_contain_text(
        "Bitte kreuzen Sie mindestens einen Datensatz an."
    )
    expect(page.locator("#access-q")).to_have_value("Größmann")
    check_a11y(page)
    page.locator("#candidates-table input[name=r]").first.check()
    show.click()
    expect(page).to_have_url(re.compile(r"/datenschutz/auskunft/bericht\?"))
    expect(page.get_by_role("main")).to_contain_text("Für: Jürgen Größmann")
    check_a11y(page)
