"""Bulk actions over a selection of people or organisations.

A selection is either ticked ids or "everything the list filter matches"; the latter is
resolved here by running the list's own query again, so the browser never sends thousands of
ids. Every action writes one audit entry per record it changed, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.audit.service import record, record_each
from crm.contacts import lists
from crm.contacts import service as contacts
from crm.contacts.models import Affiliation, Organisation, Person, Tag, organisation_tag, person_tag
from crm.database import ids_in, int_in_range, utcnow
from crm.newsletters import service as newsletters
from crm.newsletters.models import NewsletterList, Subscription
from crm.participants import service as participants
from crm.participants.models import Participant

__all__ = [
    "KINDS",
    "MAX_BULK",
    "NewsletterResult",
    "TooMany",
    "add_tag",
    "add_to_list",
    "add_to_newsletter",
    "assign_counsellor",
    "assign_owner",
    "people_of_organisations",
    "selected_participant_ids",
    "remove_tag",
    "selected_ids",
]

# "Select all matching" acts on at most this many records at once; a wider filter is refused.
MAX_BULK = 5000
KINDS: dict[str, Any] = {"people": Person, "organisations": Organisation}
_ENTITY = {"people": "person", "organisations": "organisation"}
_TAG_LINK = {
    "people": (person_tag, person_tag.c.person_id),
    "organisations": (organisation_tag, organisation_tag.c.organisation_id),
}
# Staff record consent with the date it was given; noon keeps the day in Europe/Berlin.
_NOON = time(12, 0)
# People per consent batch: a few statements per batch instead of per person, so that a
# bulk add stays within a web request (bench/README.md, "Bulk actions").
_CONSENT_BATCH = 500


class TooMany(ValueError):
    """The selection holds more than MAX_BULK records."""


def _in(session: Session, column: Any, ids: Iterable[int]) -> sa.ColumnElement[bool]:
    return ids_in(column, ids, session.get_bind().dialect.name)


def selected_ids(
    session: Session,
    kind: str,
    *,
    ids: Iterable[int] = (),
    filters: contacts.ListFilters | None = None,
) -> list[int]:
    """The ids of existing records selected by ticked `ids`, or by `filters` when given.

    Raise TooMany beyond MAX_BULK. Ids that do not exist (any more) are dropped.
    """
    model = KINDS[kind]
    if filters is not None:
        query = (
            contacts.person_query(session, filters)
            if kind == "people"
            else contacts.organisation_query(session, filters)
        )
        found = list(
            session.scalars(query.with_only_columns(model.id).order_by(None).limit(MAX_BULK + 1))
        )
    else:
        wanted = sorted({int(i) for i in ids if int_in_range(int(i)) and int(i) > 0})
        if len(wanted) > MAX_BULK:
            raise TooMany(len(wanted))
        found = (
            list(session.scalars(sa.select(model.id).where(_in(session, model.id, wanted))))
            if wanted
            else []
        )
    unique = sorted(set(found))
    if len(unique) > MAX_BULK:
        raise TooMany(len(unique))
    return unique


def add_tag(session: Session, kind: str, ids: list[int], name: str) -> int:
    """Give every selected record the tag `name` (created if new); return how many got it."""
    (tag,) = contacts.get_or_create_tags(session, [name])
    session.flush()
    table, column = _TAG_LINK[kind]
    have = set(
        session.scalars(
            sa.select(column).where(table.c.tag_id == tag.id, _in(session, column, ids))
        )
    )
    new = [i for i in ids if i not in have]
    if new:
        session.execute(sa.insert(table), [{column.key: i, "tag_id": tag.id} for i in new])
    record_each(
        session,
        "bulk_tag_add",
        entity_type=_ENTITY[kind],
        entities=[(i, f"Schlagwort „{tag.name}“ vergeben (Sammelaktion)") for i in new],
    )
    return len(new)


def remove_tag(session: Session, kind: str, ids: list[int], name: str) -> int:
    """Take the tag `name` from every selected record; return how many had it."""
    tag = session.scalar(sa.select(Tag).where(Tag.name == name.strip()))
    if tag is None:
        return 0
    table, column = _TAG_LINK[kind]
    had = list(
        session.scalars(
            sa.select(column).where(table.c.tag_id == tag.id, _in(session, column, ids))
        )
    )
    if had:
        session.execute(sa.delete(table).where(table.c.tag_id == tag.id, _in(session, column, had)))
    record_each(
        session,
        "bulk_tag_remove",
        entity_type=_ENTITY[kind],
        entities=[(i, f"Schlagwort „{tag.name}“ entfernt (Sammelaktion)") for i in had],
    )
    return len(had)


def assign_owner(session: Session, kind: str, ids: list[int], owner: User | None) -> int:
    """Make `owner` (None: nobody) responsible for the selected records; return how many changed."""
    model = KINDS[kind]
    owner_id = owner.id if owner is not None else None
    changing = session.execute(
        sa.select(model.id, model.owner_id).where(
            _in(session, model.id, ids), model.owner_id.is_distinct_from(owner_id)
        )
    ).all()
    if not changing:
        return 0
    session.execute(
        sa.update(model)
        .where(_in(session, model.id, [row.id for row in changing]))
        .values(owner_id=owner_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    label = owner.display_name if owner is not None else "niemand"
    record_each(
        session,
        "bulk_owner",
        entity_type=_ENTITY[kind],
        entities=[
            (row.id, f"Zuständig: #{row.owner_id or '–'} → {label} (Sammelaktion)")
            for row in changing
        ],
    )
    return len(changing)


def people_of_organisations(session: Session, org_ids: list[int], today: date) -> list[int]:
    """Ids of the people working at the organisations on `today` (for list and newsletter)."""
    if not org_ids:
        return []
    return sorted(
        set(
            session.scalars(
                sa.select(Affiliation.person_id).where(
                    _in(session, Affiliation.organisation_id, org_ids),
                    sa.or_(Affiliation.since.is_(None), Affiliation.since <= today),
                    sa.or_(Affiliation.until.is_(None), Affiliation.until >= today),
                )
            )
        )
    )


def add_to_list(session: Session, list_id: int, person_ids: list[int]) -> int:
    """Add the selected people to a static contact list; return how many were new on it."""
    return lists.add_members(session, list_id, person_ids)


@dataclass(frozen=True)
class NewsletterResult:
    """What adding a selection to a newsletter did, for the result message."""

    added: int = 0
    already: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    no_email: int = 0

    @property
    def skipped(self) -> int:
        """Everybody who was not added."""
        return self.already + self.unsubscribed + self.bounced + self.no_email


def add_to_newsletter(
    session: Session,
    newsletter: NewsletterList,
    person_ids: list[int],
    *,
    method: str,
    source: str,
    consented_on: date,
    actor_id: int | None,
) -> NewsletterResult:
    """Record the consent staff obtained (`method`, `source`, date) for every selected person.

    Consent recorded by staff with its source and date is confirmed consent under the product's
    rules (newsletters.service.record_consent, the same as on a person's newsletter page), so no
    confirmation mail is sent. Never touched: people who unsubscribed or whose address bounced
    (their withdrawal stands), people already subscribed, people without an e-mail address.
    """
    source = source.strip()
    if not source:
        # The ledger entry is the proof; without a source there is nothing to prove.
        raise newsletters.NewsletterError("Bitte die Quelle der Einwilligung angeben.")
    status_of = dict(
        session.execute(
            sa.select(Subscription.person_id, Subscription.status).where(
                Subscription.list_id == newsletter.id,
                _in(session, Subscription.person_id, person_ids),
            )
        ).all()
    )
    people = session.scalars(
        sa.select(Person).where(_in(session, Person.id, person_ids)).order_by(Person.id)
    )
    consented_at = datetime.combine(consented_on, _NOON, tzinfo=UTC)
    counts = {"added": 0, "already": 0, "unsubscribed": 0, "bounced": 0, "no_email": 0}
    eligible = []
    for person in people:
        status = status_of.get(person.id)
        if status == "unsubscribed":
            counts["unsubscribed"] += 1
        elif status == "bounced":
            counts["bounced"] += 1
        elif status == "confirmed":
            counts["already"] += 1
        elif not person.email:
            counts["no_email"] += 1
        else:
            eligible.append(person)
    now = utcnow()
    for start in range(0, len(eligible), _CONSENT_BATCH):
        newsletters.record_consents(
            session,
            people=eligible[start : start + _CONSENT_BATCH],
            lst=newsletter,
            method=method,
            note=f"{source} (Sammelaktion)",
            actor_id=actor_id,
            consented_at=consented_at,
            now=now,
        )
    counts["added"] = len(eligible)
    result = NewsletterResult(**counts)
    record(
        session,
        "bulk_subscribe",
        entity_type="newsletter_list",
        entity_id=newsletter.id,
        summary=(
            f"{result.added} Einwilligungen erfasst ({method}: {source}), "
            f"{result.skipped} übersprungen"
        ),
    )
    return result


# --- participants ---------------------------------------------------------------------------


def selected_participant_ids(
    session: Session,
    user: Any,
    *,
    ids: Iterable[int] = (),
    filters: participants.ParticipantFilters | None = None,
    today: date,
) -> list[int]:
    """Ids of the participants `user` may see among ticked `ids`, or matching `filters`.

    Always within the user's access scope: another office's participant is dropped like a
    missing one. Raise TooMany beyond MAX_BULK.
    """
    if filters is not None:
        stmt = participants.participant_query(user, filters, today)
    else:
        wanted = sorted({int(i) for i in ids if int_in_range(int(i)) and int(i) > 0})
        if len(wanted) > MAX_BULK:
            raise TooMany(len(wanted))
        if not wanted:
            return []
        stmt = participants.visible_participants(user).where(_in(session, Participant.id, wanted))
    found = sorted(
        set(
            session.scalars(
                stmt.with_only_columns(Participant.id).order_by(None).limit(MAX_BULK + 1)
            )
        )
    )
    if len(found) > MAX_BULK:
        raise TooMany(len(found))
    return found


def assign_counsellor(session: Session, ids: list[int], counsellor: User) -> tuple[int, int]:
    """Make `counsellor` responsible for the participants; return (changed, skipped).

    Participants of an office the counsellor does not work in are skipped: one contact
    person per participant, from the participant's own office. Each change is audited by
    the flush hook (counsellor_id with old and new value).
    """
    offices = set(counsellor.office_ids)
    changed = skipped = 0
    for participant in session.scalars(
        sa.select(Participant).where(_in(session, Participant.id, ids)).order_by(Participant.id)
    ):
        if participant.office_id not in offices:
            skipped += 1
        elif participant.counsellor_id != counsellor.id:
            participant.counsellor_id = counsellor.id
            changed += 1
    session.flush()
    return changed, skipped
