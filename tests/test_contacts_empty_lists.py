"""An empty contact list on a new install says what to do first instead of „Nichts gefunden“."""

from __future__ import annotations

import re

from tests import factories


def _empty_cell(page: str) -> str:
    cell = re.search(r'<td[^>]*id="list-empty"[^>]*>(.*?)</td>', page, re.S)
    assert cell is not None
    return " ".join(re.sub(r"<[^>]+>", "", cell.group(1)).split())


def test_an_empty_organisation_list_leads_to_creating_or_importing(client_as):
    page = client_as("staff").get("/kontakte/organisationen").get_data(as_text=True)
    assert _empty_cell(page) == (
        "Noch keine Organisationen. Legen Sie die erste Organisation an oder importieren Sie "
        "eine CSV- oder Excel-Datei."
    )
    assert 'href="/kontakte/organisationen/neu"' in page
    assert 'href="/kontakte/import/"' in page


def test_an_empty_people_list_for_a_counsellor_offers_only_creating(client_as):
    page = client_as("counsellor").get("/kontakte/personen").get_data(as_text=True)
    assert _empty_cell(page) == "Noch keine Personen. Legen Sie die erste Person an."
    assert 'href="/kontakte/import/"' not in page


def test_read_only_users_are_only_told_the_list_is_empty(client_as):
    page = client_as("readonly").get("/kontakte/organisationen").get_data(as_text=True)
    assert _empty_cell(page) == "Noch keine Organisationen."


def test_a_search_without_hits_still_says_nothing_found(client_as, db_session):
    factories.make_org(db_session, name="Bäckerei Schäfer")
    db_session.commit()
    page = client_as("staff").get("/kontakte/organisationen?q=Zimmerei").get_data(as_text=True)
    assert _empty_cell(page) == "Nichts gefunden."
