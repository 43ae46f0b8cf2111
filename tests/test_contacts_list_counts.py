"""List and search pages count at most up to a cap: never every row of a big table per view."""

from __future__ import annotations

import re

import pytest
from flask import render_template

from crm.contacts import views
from crm.contacts.service import ListFilters
from tests import factories

# Every page that shows a list or search count, as staff open them.
COUNTED_PAGES = (
    "/kontakte/organisationen",
    "/kontakte/organisationen?seite=2",
    "/kontakte/organisationen?art=employer",
    "/kontakte/organisationen?q=baeckerei",
    "/kontakte/organisationen?q=ba&sortierung=city",
    "/kontakte/personen",
    "/kontakte/personen?q=ha",
    "/kontakte/personen?q=ha&region=Magdeburg",
    "/suche/?q=ba",
    "/suche/vorschlag?q=ba",
)
COUNT = re.compile(r"\bcount\s*\(", re.IGNORECASE)


def _unbounded_counts(statements: list[str]) -> list[str]:
    """Statements that count without a LIMIT after the count (a capped count has one)."""
    found = []
    for statement in statements:
        match = COUNT.search(statement)
        if match and "LIMIT" not in statement[match.end() :].upper():
            found.append(statement)
    return found


@pytest.fixture
def staff(client_as):
    return client_as("staff")


@pytest.fixture
def some_contacts(db_session):
    for n in range(3):
        org = factories.make_org(db_session, name=f"Bäckerei Hansen {n}", region="Magdeburg")
        factories.make_person(db_session, first_name="Hanna", last_name=f"Hansen{n}", org=org)
    db_session.commit()


@pytest.mark.parametrize("url", COUNTED_PAGES)
def test_a_list_or_search_page_never_counts_without_a_limit(
    staff, some_contacts, count_queries, url
):
    with count_queries() as statements:
        response = staff.get(url, headers={"HX-Request": "true"} if "vorschlag" in url else {})
    assert response.status_code == 200
    assert _unbounded_counts(statements) == []


def test_a_list_with_more_rows_than_the_cap_says_more_than_and_pages_on(
    staff, db_session, monkeypatch
):
    for n in range(30):
        factories.make_org(db_session, name=f"Firma {n:02d}")
    db_session.commit()
    monkeypatch.setattr(views, "LIST_COUNT_LIMIT", 3)

    first = staff.get("/kontakte/organisationen").get_data(as_text=True)
    assert "Mehr als 3 Organisationen" in first
    assert "Seite 1<" in first
    assert "Seite 1 von" not in first
    assert 'href="/kontakte/organisationen?seite=2"' in first
    assert "Letzte Seite" not in first

    second = staff.get("/kontakte/organisationen?seite=2").get_data(as_text=True)
    assert "Firma 29" in second
    assert 'href="/kontakte/organisationen?seite=1"' in second
    assert "seite=3" not in second


def test_the_cap_is_written_the_german_way(app):
    context = {"capped": True, "count_limit": 10_000, "total": 10_001}
    with app.test_request_context("/"):
        lists = render_template(
            "contacts/_count.html", kind="people", filters=ListFilters(), **context
        )
        search = render_template(
            "contacts/_count.html", kind="people", filters=ListFilters(q="ha"), **context
        )
    assert lists == "Mehr als 10.000 Personen"
    assert search == "Mehr als 10.000 Treffer, bitte die Suche verfeinern"


def test_a_list_below_the_cap_links_its_last_page(staff, db_session):
    for n in range(60):
        factories.make_org(db_session, name=f"Firma {n:02d}")
    db_session.commit()
    html = staff.get("/kontakte/organisationen").get_data(as_text=True)
    assert "60 Organisationen" in html
    assert "Seite 1 von 3" in html
    assert re.search(r'href="/kontakte/organisationen\?seite=3">Letzte Seite<', html)
