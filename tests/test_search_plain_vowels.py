"""Names with umlauts are found with or without them: "Schafer", "Schaefer", "Schäfer"."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from crm.contacts import service as contacts
from crm.contacts.models import Organisation, Person
from crm.contacts.service import ListFilters
from crm.extensions import db
from crm.participants import service as participants
from crm.participants.models import Participant
from tests import factories
from tests.conftest import build_app

SCHAEFER_FORMS = ["Schafer", "Schaefer", "Schäfer", "schäf", "schaf", "SCHAEF"]


@pytest.fixture
def names(db_session):
    # The firm also carries her name, so her search text holds it twice: still one hit.
    firm = factories.make_org(db_session, name="Müller Bau GmbH", city="Köln")
    schaefer = factories.make_person(
        db_session, first_name="Jörg", last_name="Schäfer", email="", org=firm
    )
    factories.make_person(db_session, first_name="Karl", last_name="Schmidt", email="")
    factories.make_person(db_session, first_name="Ayşe", last_name="Güneş", email="")
    factories.make_org(db_session, name="Schmidt Logistik", city="Halle")
    factories.make_org(db_session, name="Bildungswerk Straße der Zukunft", city="Halle")
    db_session.commit()
    return dict(firm=firm, schaefer=schaefer)


def _table_names(response) -> list[str]:
    html = response.get_data(as_text=True)
    body = html.split('id="results-table"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr>\s*<td><a href="/kontakte/[a-z]+/\d+">([^<]+)</a>', body)


@pytest.mark.parametrize("query", SCHAEFER_FORMS)
def test_the_person_list_finds_schaefer_with_or_without_the_umlaut(client_as, names, query):
    response = client_as("staff").get("/kontakte/personen", query_string={"q": query})
    assert _table_names(response) == ["Schäfer, Jörg"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("Gunes", "Güneş, Ayşe"), ("guenes", "Güneş, Ayşe"), ("Jorg Muller", "Schäfer, Jörg")],
)
def test_the_person_list_finds_other_umlaut_names_in_plain_letters(
    client_as, names, query, expected
):
    response = client_as("staff").get("/kontakte/personen", query_string={"q": query})
    assert _table_names(response) == [expected]


@pytest.mark.parametrize("query", ["Muller", "Mueller", "Müller", "mul", "Muller Koln"])
def test_the_organisation_list_finds_mueller_with_or_without_the_umlaut(client_as, names, query):
    response = client_as("staff").get("/kontakte/organisationen", query_string={"q": query})
    assert _table_names(response) == ["Müller Bau GmbH"]


@pytest.mark.parametrize("query", ["Strasse", "Straße", "strass"])
def test_sharp_s_is_still_found_as_ss(client_as, names, query):
    response = client_as("staff").get("/kontakte/organisationen", query_string={"q": query})
    assert _table_names(response) == ["Bildungswerk Straße der Zukunft"]


@pytest.mark.parametrize("query", ["schaf", "Schäfer", "muller"])
def test_a_name_in_both_spellings_is_one_hit_and_counted_once(db_session, names, query):
    for model in (Person, Organisation):
        found, total = contacts.list_page(
            db_session, model, ListFilters(q=query), page=1, per_page=25, count_limit=1000
        )
        assert total == len(found) == len({r.id for r in found})
    found, total = contacts.list_page(
        db_session, Person, ListFilters(q=query), page=1, per_page=25, count_limit=1000
    )
    assert [p.last_name for p in found] == ["Schäfer"]
    assert total == 1


@pytest.mark.parametrize("query", ["Schafer", "Muller"])
def test_the_global_search_finds_umlaut_names_in_plain_letters(client_as, names, query):
    html = client_as("lead").get("/suche/", query_string={"q": query}).get_data(as_text=True)
    assert "Schäfer" in html
    assert html.count(f'/kontakte/personen/{names["schaefer"].id}"') == 1


def test_the_global_search_finds_the_organisation_in_plain_letters(client_as, names):
    html = client_as("lead").get("/suche/", query_string={"q": "Muller Bau"}).get_data(as_text=True)
    assert f'/kontakte/organisationen/{names["firm"].id}"' in html


@pytest.mark.parametrize(
    ("kind", "query", "path"),
    [
        ("person", "Schafer", "/kontakte/personen/{schaefer}"),
        ("person", "Muller", "/kontakte/personen/{schaefer}"),
        ("organisation", "Muller", "/kontakte/organisationen/{firm}"),
        ("organisation", "Koln", "/kontakte/organisationen/{firm}"),
    ],
)
def test_the_pickers_find_umlaut_names_in_plain_letters(client_as, names, kind, query, path):
    response = client_as("staff").get(f"/suche/auswahl/{kind}", query_string={"q": query})
    assert response.status_code == 200
    urls = re.findall(r'data-url="([^"]+)"', response.get_data(as_text=True))
    ids = {"schaefer": names["schaefer"].id, "firm": names["firm"].id}
    assert urls == [path.format(**ids)]


def test_the_picker_of_one_firms_people_finds_them_in_plain_letters(client_as, names):
    # The onboarding contact's picker reads the firm's people's search text word by word.
    firm = names["firm"]
    for query in ("Schafer", "Schäf", "jorg"):
        response = client_as("staff").get(
            "/suche/auswahl/person", query_string={"q": query, "organisation": firm.id}
        )
        urls = re.findall(r'data-url="([^"]+)"', response.get_data(as_text=True))
        assert urls == [f"/kontakte/personen/{names['schaefer'].id}"], query


# --- participants --------------------------------------------------------------------------------


@pytest.fixture
def migrants(db_session):
    office = factories.make_office(db_session)
    found = {
        "schaefer": factories.make_participant(
            db_session, office=office, first_name="Jörg", last_name="Schäfer"
        ),
        "ozturk": factories.make_participant(
            db_session, office=office, first_name="Gül", last_name="Öztürk"
        ),
        "schmidt": factories.make_participant(
            db_session, office=office, first_name="Karl", last_name="Schmidt"
        ),
    }
    db_session.commit()
    return found


def test_a_participants_name_key_holds_the_plain_form_after_the_folded_one(migrants):
    assert migrants["schaefer"].name_key == "joerg schaefer|jorg schafer"
    assert migrants["schmidt"].name_key == "karl schmidt"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Schafer", "schaefer"),
        ("Schaefer", "schaefer"),
        ("Schäfer", "schaefer"),
        ("schäf", "schaefer"),
        ("Jorg Schafer", "schaefer"),
        ("Ozturk", "ozturk"),
        ("Gul Ozt", "ozturk"),
        ("Öztürk", "ozturk"),
    ],
)
def test_the_participant_list_finds_umlaut_names_in_plain_letters(
    client_as, migrants, query, expected
):
    html = (
        client_as("admin").get("/teilnehmende/", query_string={"q": query}).get_data(as_text=True)
    )
    hrefs = set(re.findall(r'href="/teilnehmende/(\d+)"', html))
    assert hrefs == {str(migrants[expected].id)}


@pytest.mark.parametrize("query", ["Schafer", "Ozturk"])
def test_the_participant_picker_and_global_search_find_plain_letters(client_as, migrants, query):
    expected = migrants["schaefer" if query == "Schafer" else "ozturk"]
    c = client_as("admin")
    picker = c.get("/suche/auswahl/participant", query_string={"q": query}).get_data(as_text=True)
    assert re.findall(r'data-url="([^"]+)"', picker) == [f"/teilnehmende/{expected.id}"]
    html = c.get("/suche/", query_string={"q": query}).get_data(as_text=True)
    assert f'/teilnehmende/{expected.id}"' in html
    assert f'/teilnehmende/{migrants["schmidt"].id}"' not in html


# --- the migration ------------------------------------------------------------------------------

_BEFORE = "b7d3e5a1c2f4"
_NOW = "2026-01-01 00:00:00+00"


def test_the_migration_adds_the_plain_forms_to_existing_rows(make_database, tmp_path):
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade(revision=_BEFORE)
        with db.engine.begin() as conn:
            # Rows as the older code wrote them: umlauts spelled out only.
            conn.execute(
                sa.text(
                    "INSERT INTO organisation (id, name, name_key, kind, sector, size_class,"
                    " region, street, postcode, city, phone, email, website, notes, search_text,"
                    " created_at, updated_at) VALUES (1, 'Müller Bau GmbH', 'mueller bau',"
                    " 'employer', '', '', '', '', '39104', 'Köln', '', '', '', '',"
                    " 'mueller bau gmbh koeln 39104', :now, :now),"
                    " (2, 'Schmidt Logistik', 'schmidt logistik', 'employer', '', '', '', '',"
                    " '06108', 'Halle', '', '', '', '', 'schmidt logistik halle 06108', :now,"
                    " :now)"
                ),
                {"now": _NOW},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO person (id, salutation, title, first_name, last_name, name_key,"
                    " email, email_alt, phone, mobile, language, notes, search_text, token_nonce,"
                    " created_at, updated_at) VALUES (1, '', '', 'Jörg', 'Schäfer', 'x', '', '',"
                    " '', '', 'de', '', 'joerg schaefer mueller bau gmbh koeln', 'x', :now, :now)"
                ),
                {"now": _NOW},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO affiliation (person_id, organisation_id, function, created_at,"
                    " updated_at) VALUES (1, 1, '', :now, :now)"
                ),
                {"now": _NOW},
            )
        upgrade()
        with db.engine.connect() as conn:
            texts = dict(conn.execute(sa.text("SELECT id, search_text FROM organisation")).all())
            person_text = conn.execute(sa.text("SELECT search_text FROM person")).scalar()
        assert texts == {
            1: "mueller muller bau gmbh koeln koln 39104",
            2: "schmidt logistik halle 06108",
        }
        assert person_text == "joerg jorg schaefer schafer mueller muller bau gmbh koeln koln"
        # The word indexes follow (SQLite: FTS5 rebuilt; PostgreSQL: the generated vector).
        for model, query, expected in (
            (Person, "Schafer", [1]),
            (Person, "Muller Koln", [1]),
            (Organisation, "Muller", [1]),
            (Organisation, "schmidt", [2]),
        ):
            found, total = contacts.list_page(
                db.session, model, ListFilters(q=query), page=1, per_page=25, count_limit=1000
            )
            assert ([r.id for r in found], total) == (expected, 1), (model, query)
        db.session.remove()
        db.engine.dispose()


def _participant_hits(query: str) -> list[int]:
    terms = query.lower().split()
    return list(
        db.session.scalars(
            sa.select(Participant.id).where(participants.name_contains(terms)).order_by("id")
        )
    )


def test_the_migration_rewrites_participants_name_keys_both_ways(make_database, tmp_path):
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade()
        office = factories.make_office(db.session)
        schaefer = factories.make_participant(
            db.session, office=office, first_name="Jörg", last_name="Schäfer"
        )
        schmidt = factories.make_participant(
            db.session, office=office, first_name="Karl", last_name="Schmidt"
        )
        erased = factories.make_participant(
            db.session, office=office, first_name="Ülkü", last_name="Erased"
        )
        ids = (schaefer.id, schmidt.id, erased.id)
        db.session.commit()
        db.session.remove()
        with db.engine.begin() as conn:
            # As erasure leaves a record: no name, no key.
            conn.execute(
                sa.text(
                    "UPDATE participant SET first_name = '', last_name = '', name_key = ''"
                    " WHERE id = :id"
                ),
                {"id": ids[2]},
            )

        def keys() -> list[str]:
            with db.engine.connect() as conn:
                return list(
                    conn.execute(sa.text("SELECT name_key FROM participant ORDER BY id")).scalars()
                )

        downgrade(revision=_BEFORE)
        assert keys() == ["joerg schaefer", "karl schmidt", ""]
        assert _participant_hits("schaefer") == [ids[0]]
        assert _participant_hits("schafer") == []
        db.session.remove()
        upgrade()
        assert keys() == ["joerg schaefer|jorg schafer", "karl schmidt", ""]
        # The trigram index follows (SQLite: FTS5 rebuilt, its triggers back; PostgreSQL: GIN).
        assert _participant_hits("schafer") == [ids[0]]
        assert _participant_hits("jorg schaefer") == [ids[0]]
        assert _participant_hits("schmidt") == [ids[1]]
        p = db.session.get(Participant, ids[1])
        participants.save_participant(db.session, {"last_name": "Müller"}, p)
        db.session.commit()
        assert _participant_hits("muller") == [ids[1]]
        assert _participant_hits("schmidt") == []
        db.session.remove()
        db.engine.dispose()


def test_saving_after_the_migration_keeps_the_word_index_current(make_database, tmp_path):
    # The migration drops and restores SQLite's update trigger (PostgreSQL: the GIN index).
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade()
        org = contacts.save_organisation(db.session, {"name": "Alter Name", "kind": "employer"})
        db.session.commit()
        contacts.save_organisation(db.session, {"name": "Bäckerei Öztürk"}, org)
        db.session.commit()
        for query, expected in (("Ozturk", [org.id]), ("alter", [])):
            found, _total = contacts.list_page(
                db.session, Organisation, ListFilters(q=query), page=1, per_page=25
            )
            assert [o.id for o in found] == expected, query
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                indexes = {i["name"] for i in sa.inspect(conn).get_indexes("organisation")}
            assert "organisation_vector_search_gin" in indexes
        db.session.remove()
        db.engine.dispose()
