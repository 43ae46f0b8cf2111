"""search_plain_vowels: umlaut names are searchable also with the plain vowel

"Schäfer" was indexed as "schaefer" only, so "Schafer" (as typed from a passport's Latin
line or on a keyboard without umlauts) found nothing. The services now write both forms:
contacts' search_text "schaefer schafer" (crm.contacts.service._part_words), participants'
name_key "joerg schaefer|jorg schafer" (crm.participants.service.name_key_of). This
recomputes both columns of the existing rows with the app's own functions.

- Batches of 2,000 rows by id, read and written with Core (one executemany UPDATE a batch),
  and only rows whose text changes are written: a name without umlauts stays untouched.
- SQLite: the FTS5 word indexes are rebuilt once after the writes (the per-row update
  trigger is dropped meanwhile, in the migration's transaction); PostgreSQL: the generated
  search_vector column recomputes itself for each written row, its GIN index is built
  again after them. The participants' trigram index likewise, on both.

Downgrade writes the participants' name_key back to the folded name alone (the older intake
duplicate check compares it as a whole) and leaves the contacts' texts: their extra words
only add hits for the older code, and a record's next save writes them the older way.

Revision ID: 7c3e9a1f5d20
Revises: b7d3e5a1c2f4
Create Date: 2026-12-06 19:35:00.000000+00:00

"""

from collections import defaultdict
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from crm import substring
from crm.contacts.search import (
    create_search_objects,
    drop_search_objects,
    sqlite_bulk_reindexing,
)
from crm.contacts.service import organisation_search_text, person_search_text
from crm.participants.service import folded_name, name_key_of

# revision identifiers, used by Alembic.
revision = "7c3e9a1f5d20"
down_revision = "b7d3e5a1c2f4"
branch_labels = None
depends_on = None

_BATCH = 2000

_ORG_WORDS = ("name", "city", "postcode", "email", "region", "sector")
_PERSON_WORDS = ("first_name", "last_name", "email", "email_alt")


def _write(conn: sa.Connection, table: sa.TableClause, rows: list[dict]) -> None:
    if rows:
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(search_text=sa.bindparam("b_text")),
            rows,
        )


def _batches(conn: sa.Connection, table: sa.TableClause, columns: tuple[str, ...]):
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.search_text, *(table.c[c] for c in columns))
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _refresh_organisations(conn: sa.Connection) -> None:
    org = sa.table(
        "organisation", sa.column("id"), sa.column("search_text"), *map(sa.column, _ORG_WORDS)
    )
    for rows in _batches(conn, org, _ORG_WORDS):
        changed = []
        for row in rows:
            values = {c: getattr(row, c) or "" for c in _ORG_WORDS}
            text = organisation_search_text(SimpleNamespace(**values))
            if text != row.search_text:
                changed.append({"b_id": row.id, "b_text": text})
        _write(conn, org, changed)


def _refresh_people(conn: sa.Connection) -> None:
    person = sa.table(
        "person", sa.column("id"), sa.column("search_text"), *map(sa.column, _PERSON_WORDS)
    )
    aff = sa.table("affiliation", sa.column("id"), sa.column("person_id"),
                   sa.column("organisation_id"))
    org = sa.table("organisation", sa.column("id"), sa.column("name"), sa.column("city"))
    for rows in _batches(conn, person, _PERSON_WORDS):
        # The organisations' names and places, in the order the service reads a person's
        # affiliations (by id), for the batch's id range in one query.
        places = defaultdict(list)
        for person_id, name, city in conn.execute(
            sa.select(aff.c.person_id, org.c.name, org.c.city)
            .join(org, org.c.id == aff.c.organisation_id)
            .where(aff.c.person_id.between(rows[0].id, rows[-1].id))
            .order_by(aff.c.person_id, aff.c.id)
        ):
            places[person_id].append(SimpleNamespace(name=name or "", city=city or ""))
        changed = []
        for row in rows:
            values = {c: getattr(row, c) or "" for c in _PERSON_WORDS}
            text = person_search_text(SimpleNamespace(**values), places.get(row.id, ()))
            if text != row.search_text:
                changed.append({"b_id": row.id, "b_text": text})
        _write(conn, person, changed)


def _refresh_participants(conn: sa.Connection, key_of=name_key_of) -> None:
    participant = sa.table(
        "participant",
        sa.column("id"),
        sa.column("first_name"),
        sa.column("last_name"),
        sa.column("name_key"),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                participant.c.id,
                participant.c.first_name,
                participant.c.last_name,
                participant.c.name_key,
            )
            .where(participant.c.id > last)
            .order_by(participant.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        # Erased records have empty names and an empty key: they stay as they are.
        changed = [
            {"b_id": row.id, "b_key": key}
            for row in rows
            if (key := key_of(row.first_name, row.last_name)) != row.name_key
        ]
        if changed:
            conn.execute(
                sa.update(participant)
                .where(participant.c.id == sa.bindparam("b_id"))
                .values(name_key=sa.bindparam("b_key")),
                changed,
            )
        last = rows[-1].id


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        # One rebuild of each word index after the writes instead of a trigger run per row.
        with sqlite_bulk_reindexing(conn, "organisation"):
            _refresh_organisations(conn)
        with sqlite_bulk_reindexing(conn, "person"):
            _refresh_people(conn)
    else:
        # Each written row would also be entered into the GIN index of search_vector;
        # building the index afresh after the writes is cheaper for a whole table.
        drop_search_objects(conn)
        _refresh_organisations(conn)
        _refresh_people(conn)
        create_search_objects(conn)
    # The participants' trigram index (SQLite: FTS5 table and triggers; PostgreSQL: GIN
    # index) is built afresh after the writes, for the same reason.
    substring.drop_objects(conn, (substring.PARTICIPANT_NAME,))
    _refresh_participants(conn)
    substring.create_objects(conn, (substring.PARTICIPANT_NAME,))


def downgrade():
    conn = op.get_bind()
    substring.drop_objects(conn, (substring.PARTICIPANT_NAME,))
    _refresh_participants(conn, folded_name)
    substring.create_objects(conn, (substring.PARTICIPANT_NAME,))
