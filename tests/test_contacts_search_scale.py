"""Searches with many hits: the page is the true first page whichever plan finds it.

A broad word is not counted on PostgreSQL (the planner's estimate says it is broad) and is
tested row by row on SQLite (its hits lie densely); a word whose hits cluster past the first
names still finds them. The limits are made small here so that a few rows behave like the
benchmark's 150,000 (bench/README.md, "Broad, rare and clustered words at scale").
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.contacts import search, service, views
from crm.contacts.models import Organisation, Person
from tests import factories

ROW = re.compile(r'href="/kontakte/organisationen/(\d+)"')


@pytest.fixture
def staff(client_as):
    return client_as("staff")


@pytest.fixture
def small_limits(monkeypatch):
    # More than 5 hits is "more than 5"; 15 expected hits is broad; the windows of name
    # order are 60 names long (a page is 25 rows).
    monkeypatch.setattr(views, "SEARCH_COUNT_LIMIT", 5)
    monkeypatch.setattr(service, "NAME_WINDOW", 60)
    monkeypatch.setattr(service, "DENSE_WINDOW", 60)


def _analyze(db_session) -> None:
    # Fresh statistics, as autovacuum keeps them: the estimate reads them (SQLite ignores
    # them for these statements). PostgreSQL estimates a prefix from the search column's
    # most common words only when it knows 100 or more, hence the numbered names.
    db_session.execute(sa.text("ANALYZE organisation"))
    db_session.execute(sa.text("ANALYZE person"))


def _exact_page(db_session, model, q: str) -> list[int]:
    """The first page as an exact count and the sorted hits find it (no broad shortcut)."""
    rows, _total = service.list_page(
        db_session, model, service.ListFilters(q=q), page=1, per_page=25, count_limit=100_000
    )
    return [r.id for r in rows]


def _shown(html: str) -> list[int]:
    seen: list[int] = []
    for found in ROW.findall(html):
        if int(found) not in seen:
            seen.append(int(found))
    return seen


def test_a_broad_word_shows_more_than_the_limit_and_the_true_first_page(
    staff, db_session, small_limits, count_queries
):
    for n in range(80):
        factories.make_org(db_session, name=f"Bäckerei Hansen {n:02d}", city="Magdeburg")
    for n in range(80, 100):
        factories.make_org(db_session, name=f"Zimmerei Olsen {n:02d}", city="Halle")
    db_session.commit()
    _analyze(db_session)

    with count_queries() as statements:
        html = staff.get("/kontakte/organisationen?q=b%C3%A4ckerei").get_data(as_text=True)

    assert "Mehr als 5 Treffer, bitte die Suche verfeinern" in html
    assert "Seite 1<" in html
    assert "seite=2" in html
    assert _shown(html) == _exact_page(db_session, Organisation, "bäckerei")
    assert len(_shown(html)) == 25
    if db_session.get_bind().dialect.name == "postgresql":
        # The planner's estimate replaced the count of the hits.
        assert not [s for s in statements if "count(" in s.lower()]


def test_a_word_whose_hits_cluster_late_finds_them_in_name_order(staff, db_session, small_limits):
    for n in range(70):
        factories.make_org(db_session, name=f"Agentur Adler {n:02d}", city="Halle")
    for n in range(70, 100):
        factories.make_org(db_session, name=f"Zimmerei Olsen {n:02d}", city="Magdeburg")
    db_session.commit()
    _analyze(db_session)

    html = staff.get("/kontakte/organisationen?q=zimmerei").get_data(as_text=True)

    assert "Mehr als 5 Treffer, bitte die Suche verfeinern" in html
    shown = _shown(html)
    assert shown == _exact_page(db_session, Organisation, "zimmerei")
    names = db_session.scalars(sa.select(Organisation.name).where(Organisation.id.in_(shown))).all()
    assert sorted(names) == [f"Zimmerei Olsen {n:02d}" for n in range(70, 95)]


def test_a_broad_person_search_pages_on_past_the_first_page(staff, db_session, small_limits):
    for n in range(120):
        factories.make_person(db_session, first_name="Hanna", last_name=f"Haas{n:03d}")
    db_session.commit()
    _analyze(db_session)

    first = staff.get("/kontakte/personen?q=haas").get_data(as_text=True)
    second = staff.get("/kontakte/personen?q=haas&seite=2").get_data(as_text=True)

    assert "Mehr als 5 Treffer" in first
    assert "Mehr als 5 Treffer" in second
    assert "Haas000" in first
    assert "Haas024" in first
    assert "Haas025" not in first
    assert "Haas025" in second
    assert "Haas049" in second
    assert "Haas050" not in second
    assert 'href="/kontakte/personen?q=haas&amp;seite=3"' in second


@pytest.mark.parametrize(
    "query",
    ["ha", "hansen", "baeckerei hansen", "bäck", "0", "12", "hansen 1", "magdeburg halle", "x"],
)
def test_the_row_by_row_test_finds_what_the_word_index_finds(db_session, query):
    for n in range(30):
        org = factories.make_org(
            db_session, name=f"Bäckerei Hansen-{n}", city="Magdeburg" if n % 3 else "Halle"
        )
        factories.make_person(
            db_session, first_name="Hans", last_name=f"Müller{n}", email=f"h{n}@x{n}.de", org=org
        )
    db_session.commit()
    dialect = db_session.get_bind().dialect.name
    for model in (Organisation, Person):
        indexed = search.matching_ids(model, query, dialect)
        per_row = search.matching_ids(model, query, "sqlite", per_row=True)
        found = set(db_session.scalars(sa.select(model.id).where(indexed)))
        tested = set(db_session.scalars(sa.select(model.id).where(per_row)))
        assert tested == found


def test_the_row_by_row_walk_finds_the_same_first_page_as_the_word_index(db_session, monkeypatch):
    monkeypatch.setattr(service, "DENSE_WINDOW", 60)
    for n in range(80):
        factories.make_org(db_session, name=f"Bäckerei Hansen {n:02d}", city="Magdeburg")
    for n in range(80, 100):
        factories.make_org(db_session, name=f"Agentur Adler {n:02d}", city="Halle")
    db_session.commit()
    filters = service.ListFilters(q="bäckerei")

    walked = service._dense_page(db_session, Organisation, filters, 0, 26, (), None)
    exact, _total = service.list_page(
        db_session, Organisation, filters, page=1, per_page=26, count_limit=100_000
    )

    assert walked is not None
    assert [o.id for o in walked] == [o.id for o in exact]
    # A page the window cannot hold is left to the walk against the word index.
    assert service._dense_page(db_session, Organisation, filters, 50, 26, (), None) is None
