"""Substring search through trigram indexes (crm.substring): same hits as LIKE, found fast.

Participants are found by a substring of their folded name, events by a substring of their
lower-cased title, on SQLite (FTS5 trigram tables kept by triggers) and PostgreSQL (pg_trgm).
(Terms of one or two letters stay SQLite `LIKE` filters there, which fold the case of ASCII
letters only: "ä" does not find "Ä" in an event title on SQLite, as before.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from crm import substring
from crm.contacts.normalize import fold
from crm.events.models import Event
from crm.extensions import db
from crm.participants import service as participants
from crm.participants.models import Participant
from crm.search import service as search
from tests import factories
from tests.conftest import build_app
from tests.factories import make_participant

TODAY = date(2026, 11, 20)

NAMES = [
    ("Amira", "Haddad"),
    ("Jürgen", "Müller"),
    ("Ayşe", "Yılmaz"),
    ("Małgorzata", "Nowak"),
    ("Seán", "O'Brien"),
    ("Anna-Lena", "Groß"),
    ("Zoë", "50%_Test"),
    ("Björn", 'Kl"ee'),
]
QUERIES = [
    "addad",
    "mueller",
    "müller",
    "MÜLLER",
    "ülle",
    "muell",
    "yilmaz",
    "yıl",
    "malgo",
    "o'b",
    "anna-lena",
    "groß",
    "gross",
    "50%",
    "%_t",
    "0%_",
    "0_",
    '"',
    'l"e',
    "near(",
    "and",
    "or",
    "*",
    "ll er",
    "am dad",
    "jue mue",
    "a",
    "ha",
    "xq",
]


def _event(session, title: str, days: int = 0) -> Event:
    start = datetime(2026, 11, 3, 9, tzinfo=UTC) + timedelta(days=days)
    event = Event(title=title, starts_at=start, ends_at=start + timedelta(hours=2))
    session.add(event)
    session.flush()
    return event


@pytest.fixture
def people(db_session):
    found = [make_participant(db_session, first_name=f, last_name=last) for f, last in NAMES]
    db_session.commit()
    return found


def _ids_containing(session, ids, terms) -> set[int]:
    return set(
        session.scalars(
            sa.select(Participant.id).where(
                Participant.id.in_(ids), participants.name_contains(terms)
            )
        )
    )


@pytest.mark.parametrize("query", QUERIES)
def test_a_participant_name_search_finds_exactly_the_names_containing_every_folded_word(
    db_session, people, query
):
    terms = fold(query).split()
    expected = {p.id for p in people if all(t in p.name_key for t in terms)}
    assert _ids_containing(db_session, [p.id for p in people], terms) == expected


@pytest.mark.parametrize(
    "query", ["ärzte", "ÄRZTE", "tag mag", "50%", "o_a", "fo_", "burg", "messe", "zte", "ag", "_"]
)
def test_an_event_title_search_finds_exactly_the_titles_containing_every_word(db_session, query):
    titles = ["Ärztetag Magdeburg", "Jobmesse Burg", "Quote 50% erreicht", "Info_Abend"]
    events = [_event(db_session, t, days=n) for n, t in enumerate(titles)]
    terms = query.lower().split()
    expected = {e.id for e in events if all(t in e.title.lower() for t in terms)}
    found = set(
        db_session.scalars(
            sa.select(Event.id).where(
                Event.id.in_([e.id for e in events]),
                substring.contains_all(substring.EVENT_TITLE, Event.title, Event.id, terms),
            )
        )
    )
    assert found == expected


def test_the_global_search_finds_a_participant_by_letters_in_the_middle_of_her_name(
    client_as, db_session, people
):
    c = client_as("lead")
    page = c.get("/suche/?q=addad").get_data(as_text=True)
    assert "Haddad" in page
    assert "Müller" not in page
    page = c.get("/suche/vorschlag?q=%C3%BCller").get_data(as_text=True)  # "üller"
    assert "Müller" in page
    listing = c.get("/teilnehmende/?q=uelle").get_data(as_text=True)
    assert "Müller" in listing
    assert "Haddad" not in listing


def test_the_global_search_finds_an_event_by_a_word_inside_its_title(client_as, db_session):
    _event(db_session, "Unternehmensfrühstück Schönebeck")
    db_session.commit()
    page = client_as("staff").get("/suche/?q=FRÜHSTÜCK").get_data(as_text=True)
    assert "Unternehmensfrühstück Schönebeck" in page


def test_a_counsellor_finds_by_substring_only_participants_of_her_own_office(client_as, db_session):
    own, other = factories.make_office(db_session), factories.make_office(db_session)
    make_participant(db_session, office=own, first_name="Leyla", last_name="Quandtberger")
    make_participant(db_session, office=other, first_name="Lena", last_name="Quandtmeier")
    db_session.commit()
    c = client_as("counsellor", office=own)
    for url in ("/suche/?q=andtb", "/suche/?q=quandt", "/suche/auswahl/participant?q=quandt"):
        page = c.get(url).get_data(as_text=True)
        assert "Quandtberger" in page
        assert "Quandtmeier" not in page
    assert "Quandt" not in client_as("staff").get("/suche/?q=quandt").get_data(as_text=True)


def test_renamed_and_deleted_records_are_found_by_their_new_text_only(app_ctx):
    session = app_ctx
    p = make_participant(session, first_name="Olga", last_name="Vorherig")
    event = _event(session, "Vorabendtreffen Genthin")
    participants.save_participant(session, {"last_name": "Nachherig"}, p)
    session.flush()
    assert _ids_containing(session, [p.id], ["vorher"]) == set()
    assert _ids_containing(session, [p.id], ["nachher"]) == {p.id}
    event.title = "Nachtreffen Genthin"
    session.flush()
    admin = factories.make_user(session, role="admin")
    hits = search.find(session, admin, "event", "treffen", today=TODAY)
    assert [h.label for h in hits if h.id == event.id] == ["Nachtreffen Genthin"]
    assert event.id not in [
        h.id for h in search.find(session, admin, "event", "vorabend", today=TODAY)
    ]
    session.delete(event)
    session.flush()
    assert event.id not in [
        h.id for h in search.find(session, admin, "event", "treffen", today=TODAY)
    ]


def test_erased_participants_are_not_found_by_their_old_name(app_ctx):
    session = app_ctx
    p = make_participant(session, first_name="Greta", last_name="Vergessenwerden")
    admin = factories.make_user(session, role="admin")
    assert [h.id for h in search.find(session, admin, "participant", "essenwer", today=TODAY)]
    p.name_key = ""
    p.erased_at = datetime(2026, 11, 1, tzinfo=UTC)
    session.flush()
    assert search.find(session, admin, "participant", "essenwer", today=TODAY) == []
    assert _ids_containing(session, [p.id], ["essenwer"]) == set()


def test_a_search_of_short_words_finds_the_first_hits_in_name_order(app_ctx):
    session = app_ctx
    first = make_participant(session, first_name="Qx", last_name="Aaaberg")
    last = make_participant(session, first_name="Qx", last_name="Zzzyzzyva")
    admin = factories.make_user(session, role="admin")
    found = [h.id for h in search.find(session, admin, "participant", "qx", today=TODAY)]
    assert found.index(first.id) < found.index(last.id)


def test_a_search_of_short_words_looks_only_within_a_window_of_the_order(app_ctx, monkeypatch):
    session = app_ctx
    first = make_participant(session, first_name="Qx", last_name="Aaaaberg")
    last = make_participant(session, first_name="Qx", last_name="Zzzzyzzyva")
    old = _event(session, "Qx-Runde alt", days=-4000)
    new = _event(session, "Qx-Runde neu", days=4000)
    admin = factories.make_user(session, role="admin")
    monkeypatch.setattr(search, "SHORT_WINDOW", 1)
    found = [h.id for h in search.find(session, admin, "participant", "qx", today=TODAY)]
    # The window's first name is the first hit in name order: a true prefix of the hits.
    assert found == [first.id]
    assert [h.id for h in search.find(session, admin, "event", "qx", today=TODAY)] == [new.id]
    # A word of three letters or more is looked up in the index: no window, every hit.
    found = [h.id for h in search.find(session, admin, "participant", "zzzzy", today=TODAY)]
    assert found == [last.id]
    found = [h.id for h in search.find(session, admin, "participant", "qx zzzzy", today=TODAY)]
    assert found == [last.id]
    assert old.id in [h.id for h in search.find(session, admin, "event", "qx-r", today=TODAY)]


@pytest.mark.parametrize(("walk_from", "window"), [(1000, 3000), (2, 3000), (2, 1)])
def test_many_or_few_hits_give_the_same_first_hits_in_name_order(
    app_ctx, monkeypatch, walk_from, window
):
    """Few hits are sorted, many are walked in name order (within a window, else sorted)."""
    session = app_ctx
    lasts = ["Zander", "Abel", "Maier", "Ostrowski", "Becker", "Yildiz", "Kurz", "Engel", "Roth"]
    made = [make_participant(session, first_name="Wielandine", last_name=n) for n in lasts]
    admin = factories.make_user(session, role="admin")
    expected = [p.id for p in sorted(made, key=lambda p: (p.sort_name, p.id))][:5]
    monkeypatch.setattr(search, "WALK_FROM", walk_from)
    monkeypatch.setattr(search, "SHORT_WINDOW", window)
    hits = search.find(session, admin, "participant", "ielandin", today=TODAY, limit=5)
    assert [h.id for h in hits] == expected


@pytest.mark.parametrize("sort_hits_up_to", [1000, 0])
def test_the_participant_list_pages_through_a_name_search_in_name_order(
    app_ctx, monkeypatch, sort_hits_up_to
):
    """Few hits are sorted after the index found them, many walk the names: the same pages."""
    session = app_ctx
    lasts = ["Zander", "Abel", "Maier", "Ostrowski", "Becker", "Yildiz", "Kurz"]
    made = [make_participant(session, first_name="Wielandine", last_name=n) for n in lasts]
    admin = factories.make_user(session, role="admin")
    expected = [p.id for p in sorted(made, key=lambda p: (p.sort_name, p.id))]
    monkeypatch.setattr(participants, "SORT_HITS_UP_TO", sort_hits_up_to)
    filters = participants.ParticipantFilters(q="ielandin")
    pages = [
        participants.list_participants(session, admin, filters, TODAY, page=n, per_page=3)
        for n in (1, 2, 3)
    ]
    assert [total for _rows, total in pages] == [7, 7, 7]
    assert [p.id for rows, _total in pages for p in rows] == expected


# --- the plans ----------------------------------------------------------------------------------


def _index_plan(session, stmt) -> str:
    """The plan with scans of the whole table made the last resort (test tables are tiny).

    Left to itself the planner reads a tiny table sequentially, or along any B-tree index
    and filters; what is asked here is whether the trigram index can answer the condition.
    """
    bind = session.get_bind()
    sql = str(stmt.compile(bind, compile_kwargs={"literal_binds": True}))
    if bind.dialect.name == "sqlite":
        return " ".join(r[3] for r in session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    session.execute(sa.text("SET LOCAL enable_indexscan = off"))
    plan = " ".join(r[0] for r in session.execute(sa.text("EXPLAIN " + sql)))
    session.execute(sa.text("SET LOCAL enable_seqscan = on"))
    session.execute(sa.text("SET LOCAL enable_indexscan = on"))
    return plan


def test_a_participant_name_search_is_answered_through_the_trigram_index(db_session):
    stmt = sa.select(Participant.id).where(participants.name_contains(["mueller"]))
    plan = _index_plan(db_session, stmt)
    if db_session.get_bind().dialect.name == "sqlite":
        assert "participant_name_key_trigram VIRTUAL TABLE INDEX" in plan, plan
    else:
        assert "Bitmap Index Scan on participant_name_key_trigram_search_gin" in plan, plan


def test_an_event_title_search_is_answered_through_the_trigram_index(db_session):
    terms = ["messe"]
    stmt = sa.select(Event.id).where(
        substring.contains_all(substring.EVENT_TITLE, Event.title, Event.id, terms)
    )
    plan = _index_plan(db_session, stmt)
    if db_session.get_bind().dialect.name == "sqlite":
        assert "event_title_trigram VIRTUAL TABLE INDEX" in plan, plan
    else:
        assert "Bitmap Index Scan on event_title_trigram_search_gin" in plan, plan


# --- the migration ------------------------------------------------------------------------------


def _substring_objects(conn) -> set[str]:
    if conn.dialect.name == "sqlite":
        names = conn.scalars(sa.text("SELECT name FROM sqlite_master"))
    else:
        names = conn.scalars(sa.text("SELECT indexname FROM pg_indexes"))
    return {n for n in names if substring.is_substring_object(n)}


def test_the_migration_indexes_existing_rows_and_downgrades(make_database, tmp_path):
    # Rows are written at the head (the models are the head's), then the migration is taken
    # back and applied again over them: its upgrade must index rows that already exist.
    before = "a3e6c1d9b2f4"  # the revision the trigram migration follows
    application = build_app(make_database(), str(tmp_path))
    with application.app_context():
        upgrade()
        with sa.orm.Session(db.engine) as session:
            p = make_participant(session, first_name="Jörg", last_name="Öztürk-Bestand")
            _event(session, "Bestandsmesse Aschersleben")
            session.commit()
            pid = p.id
        downgrade(revision=before)
        with db.engine.connect() as conn:
            assert _substring_objects(conn) == set()
            assert conn.scalar(sa.text("SELECT count(*) FROM participant")) == 1
        upgrade()
        with db.engine.connect() as conn:
            assert _substring_objects(conn)
        with sa.orm.Session(db.engine) as session:
            assert _ids_containing(session, [pid], ["oeztuerk-best"]) == {pid}
            titles = session.scalars(
                sa.select(Event.title).where(
                    substring.contains_all(
                        substring.EVENT_TITLE, Event.title, Event.id, ["standsmesse"]
                    )
                )
            )
            assert list(titles) == ["Bestandsmesse Aschersleben"]
            # Rows written after the whole chain ran are indexed too: a later migration that
            # rebuilds the table on SQLite must have put its triggers back.
            later = make_participant(session, first_name="Zeynep", last_name="Nachtrag-Kaya")
            _event(session, "Nachtragsforum Stendal")
            session.commit()
            assert _ids_containing(session, [later.id], ["chtrag-ka"]) == {later.id}
            titles = session.scalars(
                sa.select(Event.title).where(
                    substring.contains_all(
                        substring.EVENT_TITLE, Event.title, Event.id, ["tragsforum"]
                    )
                )
            )
            assert list(titles) == ["Nachtragsforum Stendal"]
        db.engine.dispose()
