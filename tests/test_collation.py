"""German dictionary order (DIN 5007-1) of names in the lists, kept by every write path."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from crm.contacts import service as contacts
from crm.contacts.models import Organisation, Person
from crm.contacts.normalize import sort_key
from crm.extensions import db
from crm.participants import service as participants
from crm.participants.models import Participant
from crm.privacy import service as privacy
from tests import factories
from tests.conftest import build_app
from tests.test_contacts_import import start, upload_job

# Shuffled on purpose: the database must put them in order, not the insertion.
ORG_NAMES = ["Zander Bau", "Straße der Einheit e.V.", "Beispiel GmbH", "Ärztekammer", "Bäckerei"]
ORG_ORDER = ["Ärztekammer", "Bäckerei", "Beispiel GmbH", "Straße der Einheit e.V.", "Zander Bau"]
LAST_NAMES = ["Zander", "Oztas", "Beispiel", "Öztürk", "Bäcker", "Ozan", "Pohl"]
LAST_ORDER = ["Bäcker", "Beispiel", "Ozan", "Oztas", "Öztürk", "Pohl", "Zander"]


def _in_page_order(html: str, names: list[str]) -> list[str]:
    """The names as they appear in the page, top to bottom (each must appear)."""
    positions = {name: html.index(f">{name}") if f">{name}" in html else -1 for name in names}
    assert -1 not in positions.values(), positions
    return sorted(names, key=positions.__getitem__)


# --- the key -----------------------------------------------------------------------------------


def test_umlauts_sort_as_their_base_letter_and_sharp_s_as_ss():
    keys = [sort_key(n) for n in ("Bäckerei", "Beispiel", "Zander", "ärztekammer")]
    assert sorted(keys) == ["arztekammer", "backerei", "beispiel", "zander"]
    assert sort_key("Straße") == sort_key("Strasse") == sort_key("STRASSE") == "strasse"
    assert sort_key("Öztürk") == "ozturk"


def test_accents_and_letters_without_a_decomposition_are_folded():
    assert sort_key("Łukasz Ødegård") == "lukasz-odegard"
    assert sort_key("Çelik", "Ayşe") == "celik ayse"
    assert sort_key("Ńguyễn") == "nguyen"


def test_the_last_name_decides_before_the_first_name():
    # "Berg, Zoe" before "Berg-Mann, Anna": a longer surname never interleaves with first names.
    keys = [sort_key("Berg-Mann", "Anna"), sort_key("Berg", "Zoe"), sort_key("Bergh", "Anna")]
    assert sorted(keys) == [sort_key("Berg", "Zoe"), sort_key("Berg-Mann", "Anna"), keys[2]]
    assert sort_key("Berg", "") < sort_key("Berg", "Anna")


def test_the_key_is_cut_to_the_column_length():
    assert len(sort_key("ß" * 150, length=200)) == 200


# --- the list pages ----------------------------------------------------------------------------


def test_the_organisation_list_is_in_german_dictionary_order(client_as, db_session):
    for name in ORG_NAMES:
        factories.make_org(db_session, name=name)
    db_session.commit()
    html = client_as("staff").get("/kontakte/organisationen").get_data(as_text=True)
    assert _in_page_order(html, ORG_NAMES) == ORG_ORDER
    descending = client_as("staff").get("/kontakte/organisationen?richtung=desc")
    assert _in_page_order(descending.get_data(as_text=True), ORG_NAMES) == ORG_ORDER[::-1]


def test_the_person_list_is_in_german_dictionary_order_by_last_then_first_name(
    client_as, db_session
):
    for last in LAST_NAMES:
        factories.make_person(db_session, first_name="Eva", last_name=last)
    # Same surname: the first name decides ("Ädele" as "adele", before "Bernd").
    factories.make_person(db_session, first_name="Bernd", last_name="Strasse")
    factories.make_person(db_session, first_name="Ädele", last_name="Straße")
    db_session.commit()
    html = client_as("staff").get("/kontakte/personen").get_data(as_text=True)
    assert _in_page_order(html, LAST_NAMES) == LAST_ORDER
    assert html.index("Ädele") < html.index("Bernd") < html.index(">Zander")


def test_the_participant_list_is_in_german_dictionary_order(client_as, db_session):
    office = factories.make_office(db_session)
    counsellor = factories.make_user(db_session, role="counsellor", office=office)
    for last in LAST_NAMES:
        factories.make_participant(
            db_session, office=office, counsellor=counsellor, first_name="Eva", last_name=last
        )
    db_session.commit()
    page = client_as("admin").get("/teilnehmende/").get_data(as_text=True)
    assert _in_page_order(page, [f"{n}, Eva" for n in LAST_NAMES]) == [
        f"{n}, Eva" for n in LAST_ORDER
    ]


def test_equal_keys_page_by_id_so_no_row_is_shown_twice_or_skipped(db_session):
    made = [
        factories.make_person(db_session, first_name="", last_name=name)
        for name in ("Straße", "Strasse", "STRASSE", "Straße", "strasse")
    ]
    db_session.commit()
    f = contacts.ListFilters()
    pages = [contacts.list_page(db_session, Person, f, page=n, per_page=2)[0] for n in (1, 2, 3)]
    assert [p.id for page in pages for p in page] == sorted(p.id for p in made)


# --- every write path keeps the key ------------------------------------------------------------


def test_renaming_through_the_service_updates_the_key(db_session):
    org = factories.make_org(db_session, name="Zander Bau")
    person = factories.make_person(db_session, first_name="Eva", last_name="Zander")
    contacts.save_organisation(db_session, {"name": "Ärztekammer"}, org)
    contacts.save_person(db_session, {"first_name": "Jörg", "last_name": "Öztürk"}, person)
    db_session.flush()
    assert (org.sort_name, person.sort_name) == ("arztekammer", "ozturk jorg")
    p = factories.make_participant(db_session, first_name="Eva", last_name="Zander")
    participants.save_participant(db_session, {"last_name": "Äbischer"}, p)
    assert p.sort_name == "abischer eva"


def test_changing_only_the_last_name_of_an_expired_record_keeps_the_first_name_in_the_key(
    db_session,
):
    person = factories.make_person(db_session, first_name="Jörg", last_name="Zander")
    db_session.commit()
    db_session.expire_all()
    person.last_name = "Öztürk"
    db_session.flush()
    assert db_session.scalar(sa.select(Person.sort_name).where(Person.id == person.id)) == (
        "ozturk jorg"
    )


def test_an_update_of_other_fields_leaves_the_key_alone(db_session):
    person = factories.make_person(db_session, first_name="Eva", last_name="Öztürk")
    db_session.commit()
    # A key written by hand stays: only a change of a name recomputes it.
    db_session.execute(sa.update(Person).where(Person.id == person.id).values(sort_name="x"))
    db_session.expire_all()
    person = db_session.get(Person, person.id)
    person.notes = "ruft zurück"
    db_session.flush()
    assert db_session.scalar(sa.select(Person.sort_name).where(Person.id == person.id)) == "x"


def test_a_core_insert_without_the_key_gets_it_from_the_column_default(db_session):
    db_session.execute(
        sa.insert(Organisation),
        [{"name": "Übersee GmbH", "name_key": "uebersee", "kind": "employer"}],
    )
    assert db_session.scalar(
        sa.select(Organisation.sort_name).where(Organisation.name == "Übersee GmbH")
    ) == ("ubersee-gmbh")


def test_the_import_fills_the_key_of_new_and_filled_records(client_as, db_session):
    existing = contacts.save_person(
        db_session,
        {"first_name": "", "last_name": "Müller", "email": "j.mueller@mueller-metallbau.de"},
    )
    db_session.commit()
    staff = client_as("staff")
    job = upload_job(staff, db_session, "excel_de_semikolon_cp1252.csv")
    start(staff, db_session, job, policy="update_empty")
    assert job.status == "done"
    anneliese = db_session.scalar(sa.select(Person).where(Person.last_name == "Groß"))
    assert anneliese.sort_name == "gross anneliese"
    baeckerei = db_session.scalar(
        sa.select(Organisation).where(Organisation.name == "Bäckerei Groß e.K.")
    )
    assert baeckerei.sort_name == "backerei-gross-e-k"
    # The empty first name was filled from the file: the key follows it.
    db_session.refresh(existing)
    assert (existing.first_name, existing.sort_name) == ("Jörg", "muller jorg")


def test_merging_people_fills_the_key_from_the_taken_over_first_name(db_session):
    keep = factories.make_person(db_session, first_name="", last_name="Öztürk", email="")
    drop = factories.make_person(db_session, first_name="Ayşe", last_name="Oeztuerk")
    assert keep.sort_name == "ozturk"
    contacts.merge_people(db_session, keep, drop, user=None)
    db_session.flush()
    assert (keep.first_name, keep.sort_name) == ("Ayşe", "ozturk ayse")


def test_erasing_a_participant_empties_the_key_with_the_name(db_session):
    p = factories.make_participant(db_session, first_name="Ayşe", last_name="Öztürk")
    privacy.erase_participant(db_session, p)
    db_session.expire_all()
    row = db_session.execute(
        sa.select(Participant.last_name, Participant.sort_name).where(Participant.id == p.id)
    ).one()
    assert tuple(row) == ("", "")


# --- the index and the migration ---------------------------------------------------------------


def _plan(session, stmt) -> str:
    bind = session.get_bind()
    sql = str(stmt.compile(bind, compile_kwargs={"literal_binds": True}))
    if bind.dialect.name == "sqlite":
        return " ".join(r[3] for r in session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    # Tiny test tables would be read sequentially, or through any index and then sorted; the
    # question is whether the index *can* deliver the order (its collation must match the
    # column's), so scans and sorts are made the planner's last resort.
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    session.execute(sa.text("SET LOCAL enable_sort = off"))
    plan = " ".join(r[0] for r in session.execute(sa.text("EXPLAIN " + sql)))
    session.execute(sa.text("SET LOCAL enable_seqscan = on"))
    session.execute(sa.text("SET LOCAL enable_sort = on"))
    return plan


@pytest.mark.parametrize(
    ("model", "index"),
    [
        (Person, "ix_person_sort_name"),
        (Organisation, "ix_organisation_sort_name"),
    ],
)
def test_a_list_page_by_name_walks_the_sort_key_index_without_sorting(db_session, model, index):
    query = contacts.person_query if model is Person else contacts.organisation_query
    stmt = query(db_session, contacts.ListFilters()).limit(25).offset(50)
    plan = _plan(db_session, stmt)
    assert index in plan
    assert "TEMP B-TREE" not in plan
    # PostgreSQL may sort ties of a key by id ("Incremental Sort"), never the whole table.
    assert not re.search(r"(?<!Incremental )Sort  \(", plan), plan


def test_the_participant_list_walks_the_sort_key_index(db_session):
    admin = factories.make_user(db_session, role="admin")
    stmt = participants.participant_query(
        admin, participants.ParticipantFilters(), date(2026, 6, 1)
    )
    plan = _plan(db_session, stmt.order_by(Participant.sort_name, Participant.id).limit(50))
    assert "ix_participant_sort_name" in plan
    assert "TEMP B-TREE" not in plan


def test_the_migration_fills_the_keys_of_existing_rows_and_downgrades(make_database, tmp_path):
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade(revision="0b04444c3c98")
        now = "2026-01-01 00:00:00+00"
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organisation (name, name_key, kind, sector, size_class, region,"
                    " street, postcode, city, phone, email, website, notes, search_text,"
                    " created_at, updated_at) VALUES ('Bäckerei Groß', 'baeckerei gross',"
                    " 'employer', '', '', '', '', '06108', 'Halle', '', '', '', '', '', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO person (salutation, title, first_name, last_name, name_key,"
                    " email, email_alt, phone, mobile, language, notes, search_text, token_nonce,"
                    " created_at, updated_at) VALUES ('', '', 'Jörg', 'Öztürk', 'x', '', '', '',"
                    " '', 'de', '', '', 'x', :now, :now)"
                ),
                {"now": now},
            )
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT sort_name FROM organisation")).scalar() == (
                "backerei-gross"
            )
            assert conn.execute(sa.text("SELECT sort_name FROM person")).scalar() == "ozturk jorg"
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("person")}
            assert "ix_person_sort_name" in indexes
            assert "ix_person_last_first" not in indexes
        downgrade(revision="0b04444c3c98")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("person")}
            assert "sort_name" not in columns
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("person")}
            assert "ix_person_last_first" in indexes
            assert conn.execute(sa.text("SELECT last_name FROM person")).scalar() == "Öztürk"
        upgrade()
        db.engine.dispose()
