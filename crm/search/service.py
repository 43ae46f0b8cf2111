"""Finding records for pickers and the global search, scoped and bounded like the lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm import substring
from crm.audit.service import record_each
from crm.contacts import service as contacts
from crm.contacts.models import Organisation, Person
from crm.contacts.normalize import fold
from crm.contacts.search import search_terms
from crm.database import db_int
from crm.events.models import Event
from crm.newsletters.models import Campaign
from crm.participants import service as participants
from crm.participants.models import Participant
from crm.security import has_permission

BERLIN = ZoneInfo("Europe/Berlin")
# A picker shows at most this many records; the global search this many per group.
PICKER_LIMIT = 20
GROUP_LIMIT = 8
# Longer input is cut: nobody types more to find a name, and it bounds the query's work.
MAX_QUERY = 100
# Above this many hits a name-ordered contact search walks the name index, below it the hits
# are sorted (contacts.service.list_page).
WALK_FROM = 1000
# A search that walks the result order (terms too short for the trigram index, or a word with
# many hits) looks at this many records in that order (_first_hits).
SHORT_WINDOW = 3000

# kind -> the permission its list needs. A kind the user may not list finds nothing.
KIND_PERMISSIONS = {
    "person": "contacts.view",
    "organisation": "contacts.view",
    "participant": "participants.view",
    "event": "events.view",
    "campaign": "newsletters.view",
}
PICKER_KINDS = ("person", "organisation", "participant", "event")
SEARCH_KINDS = ("person", "organisation", "participant", "event", "campaign")


@dataclass(frozen=True)
class Hit:
    """One found record: what a picker option or a search result shows."""

    kind: str
    id: int
    label: str
    detail: str = ""


def clean_query(text: Any) -> str:
    """The search text trimmed and bounded (anything else than a string counts as empty)."""
    if not isinstance(text, str):
        return ""
    return " ".join(text.split())[:MAX_QUERY]


def _record_number(text: str) -> int | None:
    number = text.lstrip("#")
    if not number.isdigit():
        return None
    value = db_int(number)
    return value if value is not None and value > 0 else None


def _window(column: Any, *, descending: bool) -> sa.ColumnElement[bool]:
    """Rows among the first SHORT_WINDOW in `column`'s order (ties at the edge included).

    For searches that test row after row in the result's order (_first_hits), which is quick
    while hits are common but reads the whole table for a rare pair of letters. The window is
    a prefix of that order, so the hits found in it are the true first hits; a search of only
    short terms may find fewer than exist. The edge is a subquery, found once per statement
    (the last value when the table is shorter), so the walk stops there as an index range.
    """
    rows = column.table.alias("window_rows")
    key = rows.c[column.key]
    edge = (
        sa.select(key)
        .order_by(key.desc() if descending else key)
        .offset(SHORT_WINDOW - 1)
        .limit(1)
        .scalar_subquery()
    )
    last = sa.select(sa.func.min(key) if descending else sa.func.max(key)).scalar_subquery()
    bound = sa.func.coalesce(edge, last)
    return column >= bound if descending else column <= bound


def _like_terms(column: Any, text: str) -> list[sa.ColumnElement[bool]]:
    # Folded words against a lower-cased column: "müller" finds "Müller"; each word must occur.
    return [sa.func.lower(column).contains(term, autoescape=True) for term in text.lower().split()]


def _contacts(session: Session, model: Any, text: str, limit: int) -> list[Any]:
    """People or organisations by number or words, in name order, at most `limit`.

    Found like the contact lists' search (contacts.service.list_page): the hits are counted
    up to WALK_FROM, and that count chooses the plan, so a short prefix ("ha") that matches
    thousands walks the name index while a rare word sorts its few hits.
    """
    if _record_number(text) is not None:
        return contacts.find_records(session, model, text, limit=limit)
    if not search_terms(text):
        # No searchable word ("%", "#"): the lists read that as no filter at all, a picker
        # offers nothing (on every database; SQLite's word index found nothing already).
        return []
    found, _total = contacts.list_page(
        session, model, contacts.ListFilters(q=text), page=1, per_page=limit, count_limit=WALK_FROM
    )
    return found


def _people(session: Session, text: str, limit: int) -> list[Hit]:
    found = _contacts(session, Person, text, limit)
    return [Hit("person", p.id, p.full_name, p.email or "") for p in found[:limit]]


def _organisations(session: Session, text: str, limit: int) -> list[Hit]:
    found = _contacts(session, Organisation, text, limit)
    return [Hit("organisation", o.id, o.name, o.city or "") for o in found[:limit]]


def _participants(session: Session, user: Any, text: str, limit: int, today: date) -> list[Hit]:
    number = _record_number(text)
    pseudonym = participants.pseudonym_in(text)
    if number is not None:
        stmt = participants.visible_participants(user).where(Participant.id == number)
        found = list(session.scalars(stmt.limit(limit)))
    elif pseudonym is not None:
        # The participant number each hit shows (TN-…): the record it belongs to.
        stmt = participants.visible_participants(user).where(Participant.pseudonym == pseudonym)
        found = list(session.scalars(stmt.limit(limit)))
    else:
        # What participants.participant_query() finds for the list's search words, planned
        # for a few hits in name order (_first_hits).
        terms = fold(text).split()
        if not terms:
            return []
        found = _first_hits(
            session,
            participants.visible_participants(user),
            Participant,
            substring.PARTICIPANT_NAME,
            Participant.name_key,
            terms,
            [(Participant.sort_name, False), (Participant.id, False)],
            limit,
        )
    # Seeing a participant's name in a list of hits is seeing the record: audited like a
    # view, one entry per participant so the log answers "who saw her".
    record_each(
        session,
        "search_hit",
        entity_type="participant",
        entities=[(p.id, p.audit_label()) for p in found],
    )
    return [Hit("participant", p.id, p.full_name, p.pseudonym) for p in found]


def _events(session: Session, text: str, limit: int) -> list[Hit]:
    number = _record_number(text)
    if number is not None:
        found = list(session.scalars(sa.select(Event).where(Event.id == number)))
    else:
        found = _first_hits(
            session,
            sa.select(Event),
            Event,
            substring.EVENT_TITLE,
            Event.title,
            text.lower().split(),
            [(Event.starts_at, True), (Event.id, False)],
            limit,
        )
    return [
        Hit("event", e.id, e.title, e.starts_at.astimezone(BERLIN).strftime("%d.%m.%Y"))
        for e in found
    ]


def _first_hits(
    session: Session,
    base: sa.Select,
    model: Any,
    ix: substring.SubstringIndex,
    column: Any,
    terms: list[str],
    order: list[tuple[Any, bool]],
    limit: int,
) -> list[Any]:
    """The first `limit` rows of `base` whose `column` contains every term, in `order`.

    Two plans, chosen by the number of hits counted through the trigram index up to
    WALK_FROM: few hits are fetched through the index and sorted; many are found by walking
    the order's index and testing each row, which soon meets enough of them, within a window
    of SHORT_WINDOW rows (hits that cluster late in the order would make the walk read most
    of the table). A walk that finds too few in the window sorts the hits after all. Terms
    too short for the index (only those) walk the window and stop there.
    """
    if not terms:
        return []
    first, descending = order[0]
    walk_order = [c.desc() if desc else c for c, desc in order]
    walk = base.where(substring.contains_all(ix, column, model.id, terms, indexed=False))
    walk = walk.where(_window(first, descending=descending)).order_by(*walk_order).limit(limit)
    long = substring.long_terms(terms)
    if not long:
        return list(session.scalars(walk))
    hits = base.where(substring.contains_all(ix, column, model.id, terms))
    if session.get_bind().dialect.name == "sqlite":
        # Counted in the trigram table alone, in process: cheaper than anything combined.
        if substring.hit_count(session, ix, column, model.id, long, limit=WALK_FROM) <= WALK_FROM:
            return substring.sorted_hits(session, hits, model, order, limit)
    else:
        # One round trip for the usual case of few hits: counted and sorted together.
        found, total = _capped_sorted_hits(session, hits, model, order, limit)
        if total <= WALK_FROM:
            return found
    found = list(session.scalars(walk))
    if len(found) == limit:
        return found
    return substring.sorted_hits(session, hits, model, order, limit)


def _capped_sorted_hits(
    session: Session, stmt: sa.Select, model: Any, order: list[tuple[Any, bool]], limit: int
) -> tuple[list[Any], int]:
    """PostgreSQL: the first `limit` of `stmt`'s first WALK_FROM + 1 hits in `order`, and
    how many hits those were (more than WALK_FROM: the rows are not the true first ones).

    The hits are found in a materialised CTE, planned without the LIMIT, so that few hits
    are fetched through the trigram index (contacts.service.count_of explains why).
    """
    keys = [c.label(f"key{i}") for i, (c, _desc) in enumerate(order)]
    found = (
        stmt.order_by(None)
        .with_only_columns(model.id.label("hit_id"), *keys)
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    capped = sa.select(found).limit(WALK_FROM + 1).subquery("capped")
    by = [
        capped.c[f"key{i}"].desc() if desc else capped.c[f"key{i}"]
        for i, (_c, desc) in enumerate(order)
    ]
    position = sa.func.row_number().over(order_by=by).label("position")
    # A page of `limit` rows (a LIMIT, not a filter on the position): so estimated, it is
    # joined to the table by primary key instead of by hashing the whole table.
    page = (
        sa.select(capped.c.hit_id, position, sa.func.count().over().label("total"))
        .order_by(position)
        .limit(limit)
        .subquery("page")
    )
    rows = session.execute(
        sa.select(model, page.c.total)
        .join(page, model.id == page.c.hit_id)
        .order_by(page.c.position)
    ).all()
    return [row[0] for row in rows], (rows[0].total if rows else 0)


def _campaigns(session: Session, text: str, limit: int) -> list[Hit]:
    number = _record_number(text)
    stmt = sa.select(Campaign)
    if number is not None:
        stmt = stmt.where(Campaign.id == number)
    else:
        stmt = stmt.where(
            sa.or_(
                sa.and_(*_like_terms(Campaign.name, text)),
                sa.and_(*_like_terms(Campaign.subject, text)),
            )
        )
    found = session.scalars(stmt.order_by(Campaign.id.desc()).limit(limit))
    return [Hit("campaign", c.id, c.name) for c in found]


def find(
    session: Session,
    user: Any,
    kind: str,
    text: Any,
    *,
    today: date,
    limit: int = PICKER_LIMIT,
    organisation_id: int | None = None,
) -> list[Hit]:
    """Records of `kind` matching `text` that `user` may see, at most `limit` (≤ 20).

    With `organisation_id`, people are only those of that organisation (e.g. a firm's
    onboarding contact). Participant hits are written to the audit log (in the caller's
    transaction).
    """
    text = clean_query(text)
    limit = max(1, min(limit, PICKER_LIMIT))
    if not text or kind not in KIND_PERMISSIONS or not has_permission(user, KIND_PERMISSIONS[kind]):
        return []
    if kind == "person" and organisation_id is not None:
        found = contacts.people_at_organisation(session, organisation_id, text, limit=limit)
        return [Hit("person", p.id, p.full_name, p.email or "") for p in found]
    if kind == "person":
        return _people(session, text, limit)
    if kind == "organisation":
        return _organisations(session, text, limit)
    if kind == "participant":
        return _participants(session, user, text, limit, today)
    if kind == "event":
        return _events(session, text, limit)
    return _campaigns(session, text, limit)


def search_all(
    session: Session, user: Any, text: Any, *, today: date, limit: int = GROUP_LIMIT
) -> dict[str, list[Hit]]:
    """The global search: for each kind the user may list, its first `limit` hits."""
    return {
        kind: find(session, user, kind, text, today=today, limit=limit)
        for kind in SEARCH_KINDS
        if has_permission(user, KIND_PERMISSIONS[kind])
    }


def get_visible(session: Session, user: Any, kind: str, record_id: int | None) -> Any | None:
    """The record of `kind` with `record_id` if `user` may see it, else None."""
    if record_id is None or kind not in KIND_PERMISSIONS:
        return None
    if not has_permission(user, KIND_PERMISSIONS[kind]):
        return None
    if kind == "participant":
        return participants.get_participant(session, user, record_id)
    model = {"person": Person, "organisation": Organisation, "event": Event, "campaign": Campaign}
    return session.get(model[kind], record_id)


def label_of(kind: str, obj: Any) -> str:
    """The name a picker shows for a record."""
    if kind == "organisation":
        return obj.name
    if kind in ("event", "campaign"):
        return obj.title if kind == "event" else obj.name
    return obj.full_name


def resolve(
    session: Session, user: Any, kind: str, id_value: Any, text: Any, *, today: date
) -> tuple[Any | None, str]:
    """The record a picker field means: its chosen id, else the one record its text finds.

    Returns (record, problem) where problem is "" (fine or empty), "not_found" or
    "ambiguous". Without JavaScript the user types a name or number and the server picks.
    """
    record_id = db_int(id_value) if id_value not in (None, "") else None
    text = clean_query(text)
    if record_id is not None:
        found = get_visible(session, user, kind, record_id)
        if found is None:
            return None, "not_found"
        # The id counts while the text still shows its record (or is empty): a user without
        # JavaScript can only change the text, and then the text is what they mean.
        if not text or text == clean_query(label_of(kind, found)):
            return found, ""
    if not text:
        return None, ""
    hits = find(session, user, kind, text, today=today, limit=2)
    if len(hits) != 1:
        return None, "ambiguous" if hits else "not_found"
    return get_visible(session, user, kind, hits[0].id), ""
