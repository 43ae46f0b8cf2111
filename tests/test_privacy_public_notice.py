"""The public privacy notice (Art. 13 GDPR): linked from every public page, made of the
admins' own texts, readable without login, in German and English."""

from __future__ import annotations

import lxml.html

from crm.newsletters.service import create_list
from tests import factories

OFFICE_TEXT = "Verantwortlich ist der Verein Brücken e.V., Breiter Weg 1, 39104 Magdeburg."


def _notice_link(client, url: str) -> str:
    page = lxml.html.fromstring(client.get(url).get_data(as_text=True))
    link = page.get_element_by_id("privacy-notice-link")
    # A new tab: what was typed in the form stays, also in a form inside another site's frame.
    assert link.get("target") == "_blank", url
    return link.get("href")


def test_every_public_page_links_the_notice_with_the_admins_texts_readable_without_login(
    app, client, client_as, db_session
):
    with app.test_request_context():
        create_list(db_session, name="Arbeitgeber-News", slug="ag-news", consent_text="Ja.")
    event = factories.make_event(db_session, registration_open=True)
    db_session.commit()
    admin = client_as("admin")
    assert (
        admin.post("/datenschutz/auskunft/texte", data={"controller": OFFICE_TEXT}).status_code
        == 302
    )

    for url in (
        "/anfrage",
        "/newsletter/anmelden/ag-news",
        f"/veranstaltungen/{event.id}/anmeldung",
        "/bedarfsanalysen/antwort/gefaelscht",
        "/esf-plus/kurzumfrage/gefaelscht",
        "/newsletter/abmelden/gefaelscht",
        "/gibt-es-nicht",
    ):
        assert _notice_link(client, url) == "/datenschutz/hinweise?sprache=de", url

    notice = client.get("/datenschutz/hinweise?sprache=de")
    assert notice.status_code == 200
    text = " ".join(lxml.html.fromstring(notice.get_data(as_text=True)).text_content().split())
    assert OFFICE_TEXT in text
    assert "Ihre Rechte" in text
    assert "Aufsichtsbehörde" in text


def test_the_english_form_links_the_english_notice_which_says_its_texts_are_german(
    client, db_session
):
    assert _notice_link(client, "/anfrage?sprache=en") == "/datenschutz/hinweise?sprache=en"
    page = client.get("/datenschutz/hinweise?sprache=en").get_data(as_text=True)
    assert "Your rights" in page
    assert "available in German only" in page
    # An unknown language falls back to German instead of failing.
    assert "Ihre Rechte" in client.get("/datenschutz/hinweise?sprache=xx").get_data(as_text=True)
