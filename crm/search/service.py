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
# A search of only one- and two-letter terms looks at this many records in result order.
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


def _window(session: Session, column: Any, *, descending: bool) -> sa.ColumnElement[bool]:
    """Rows among the first SHORT_WINDOW in `column`'s order (ties at the edge included).

    For searches made only of terms too short for the trigram index (crm.substring): they
    test row after row in the result's order, which is quick while hits are common but reads
    the whole table for a rare pair of letters. The window is a prefix of that order, so the
    hits found in it are the true first hits; a rare short term may find fewer than exist.
    """
    edge = session.scalar(
        sa.select(column)
        .order_by(column.desc() if descending else column)
        .offset(SHORT_WINDOW - 1)
        .limit(1)
    )
    if edge is None:
        return sa.true()
    return column >= edge if descending else column <= edge


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
    if number is not None:
        stmt = participants.visible_participants(user).where(Participant.id == number)
    else:
        terms = fold(text).split()
        if not terms:
            return []
        stmt = participants.participant_query(
            user, participants.ParticipantFilters(q=text), today
        ).order_by(Participant.sort_name, Participant.id)
        if not substring.long_terms(terms):
            stmt = stmt.where(_window(session, Participant.sort_name, descending=False))
    found = list(session.scalars(stmt.limit(limit)))
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
    stmt = sa.select(Event)
    if number is not None:
        stmt = stmt.where(Event.id == number)
    else:
        terms = text.lower().split()
        stmt = stmt.where(
            substring.contains_all(substring.EVENT_TITLE, Event.title, Event.id, terms)
        )
        if not substring.long_terms(terms):
            stmt = stmt.where(_window(session, Event.starts_at, descending=True))
    found = session.scalars(stmt.order_by(Event.starts_at.desc(), Event.id).limit(limit))
    return [
        Hit("event", e.id, e.title, e.starts_at.astimezone(BERLIN).strftime("%d.%m.%Y"))
        for e in found
    ]


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
    session: Session, user: Any, kind: str, text: Any, *, today: date, limit: int = PICKER_LIMIT
) -> list[Hit]:
    """Records of `kind` matching `text` that `user` may see, at most `limit` (≤ 20).

    Participant hits are written to the audit log (in the caller's transaction).
    """
    text = clean_query(text)
    limit = max(1, min(limit, PICKER_LIMIT))
    if not text or kind not in KIND_PERMISSIONS or not has_permission(user, KIND_PERMISSIONS[kind]):
        return []
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
