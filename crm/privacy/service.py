"""DSGVO: everything stored about a person (Art. 15), erasure (Art. 17), retention.

Erasure of a participant keeps an anonymised row (office, counsellor, channel, referring
organisation, first contact, session dates and durations, entry, exit and outcome), so the
board and the reports count exactly as before; every personal field is emptied, the
pseudonym is replaced, referrals, releases and checklist items are deleted. A contact person
is deleted outright; their activities with an organisation stay there without person and
text. Afterwards `sweep_mentions` replaces the full name and e-mail wherever they still occur
in any text column of any table (notes of others, audit summaries …).

Other domains (events, newsletters) register functions in ERASURE_HOOKS and
ACCESS_EXPORT_HOOKS for their own rows about a person.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.audit.models import AuditEntry
from crm.audit.service import record
from crm.contacts.models import (
    Activity,
    Affiliation,
    ContactList,
    ContactListMember,
    Organisation,
    Person,
    Tag,
    person_tag,
)
from crm.database import utcnow
from crm.followups.models import FollowUp
from crm.participants.models import (
    ConsentRelease,
    CounsellingSession,
    Participant,
    Referral,
    SupportItem,
    new_pseudonym,
)
from crm.privacy.models import RetentionReview

ERASED = "[gelöscht]"
# fn(session, subject_type, subject_id) -> None: erase the domain's rows about the subject.
ERASURE_HOOKS: list[Callable[[Session, str, int], None]] = []
# fn(session, subject_type, subject_id) -> dict of section name -> list of row dicts.
ACCESS_EXPORT_HOOKS: list[Callable[[Session, str, int], dict[str, list[dict]]]] = []
# Columns never rewritten by the sweep (hashes, keys, enumerations).
_SKIP_COLUMNS = {("user_account", "password_hash")}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value if isinstance(value, dict | list) else str(value)


def row_dict(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of a mapped object as JSON-ready values."""
    mapper = sa.inspect(obj).mapper
    return {
        attr.key: _plain(getattr(obj, attr.key))
        for attr in mapper.column_attrs
        if attr.key not in skip
    }


def _audit_rows(session: Session, pairs: list[tuple[str, list[int]]]) -> list[dict[str, Any]]:
    clauses = [
        sa.and_(AuditEntry.entity_type == kind, AuditEntry.entity_id.in_(ids))
        for kind, ids in pairs
        if ids
    ]
    if not clauses:
        return []
    entries = session.scalars(
        sa.select(AuditEntry).where(sa.or_(*clauses)).order_by(AuditEntry.at, AuditEntry.id)
    )
    return [row_dict(e, skip=("ip",)) for e in entries]


def _newsletter_and_event_export(
    session: Session, kind: str, subject_id: int
) -> dict[str, list[dict]]:
    """Art. 15 sections of the domains merged later: newsletter consent and fair leads."""
    if kind != "person":
        return {}
    from crm.events.models import EventContact, Lead
    from crm.newsletters.models import ConsentEvent, Delivery, Signup, Subscription

    def rows(model: Any, column: Any) -> list[dict]:
        return [
            row_dict(obj) for obj in session.scalars(sa.select(model).where(column == subject_id))
        ]

    signups = session.scalars(
        sa.select(Signup).where(Signup.email.in_(_person_addresses(session, subject_id)))
    )
    return {
        "newsletter_signups": [row_dict(obj) for obj in signups],
        "newsletter_subscriptions": rows(Subscription, Subscription.person_id),
        "newsletter_consent_ledger": rows(ConsentEvent, ConsentEvent.person_id),
        "newsletter_deliveries": rows(Delivery, Delivery.person_id),
        "event_contacts": rows(EventContact, EventContact.person_id),
        "event_leads": rows(Lead, Lead.person_id),
    }


def _person_addresses(session: Session, person_id: int) -> list[str]:
    """A person's non-empty e-mail addresses (how a newsletter sign-up names them)."""
    row = session.execute(
        sa.select(Person.email, Person.email_alt).where(Person.id == person_id)
    ).first()
    return [address for address in (row or ()) if address]


def _erase_newsletter_signups(session: Session, kind: str, subject_id: int) -> None:
    """Sign-ups are keyed by address, not person: delete those with the person's addresses."""
    if kind != "person":
        return
    from crm.newsletters.models import Signup

    addresses = _person_addresses(session, subject_id)
    if addresses:
        session.execute(sa.delete(Signup).where(Signup.email.in_(addresses)))


ACCESS_EXPORT_HOOKS.append(_newsletter_and_event_export)
ERASURE_HOOKS.append(_erase_newsletter_signups)


# --- Art. 15: access ----------------------------------------------------------------------------


@dataclass
class AccessExport:
    """Everything stored about one subject, section by section (JSON-ready)."""

    subject_type: str
    subject_id: int
    generated_at: str
    sections: dict[str, list[dict[str, Any]]]

    def as_json(self) -> dict[str, Any]:
        return {
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "generated_at": self.generated_at,
            "data": self.sections,
        }


def _hooks_export(session: Session, kind: str, subject_id: int) -> dict[str, list[dict]]:
    extra: dict[str, list[dict]] = {}
    for hook in ACCESS_EXPORT_HOOKS:
        extra.update(hook(session, kind, subject_id))
    return extra


def participant_access_export(session: Session, participant: Participant) -> AccessExport:
    """Art. 15 for a participant: record, sessions, referrals, releases, checklist, audit."""
    pid = participant.id
    sessions = list(
        session.scalars(
            sa.select(CounsellingSession)
            .where(CounsellingSession.participant_id == pid)
            .order_by(CounsellingSession.held_on, CounsellingSession.id)
        )
    )
    referrals = list(
        session.scalars(
            sa.select(Referral).where(Referral.participant_id == pid).order_by(Referral.id)
        )
    )
    releases = list(
        session.scalars(
            sa.select(ConsentRelease)
            .where(ConsentRelease.participant_id == pid)
            .order_by(ConsentRelease.id)
        )
    )
    items = list(
        session.scalars(
            sa.select(SupportItem).where(SupportItem.participant_id == pid).order_by(SupportItem.id)
        )
    )
    org_names = _names(
        session, [r.organisation_id for r in referrals] + [r.organisation_id for r in releases]
    )
    record_row = row_dict(participant)
    record_row["office"] = participant.office.name if participant.office else None
    record_row["counsellor"] = (
        participant.counsellor.display_name if participant.counsellor else None
    )
    if participant.referring_organisation_id:
        record_row["referring_organisation"] = _names(
            session, [participant.referring_organisation_id]
        ).get(participant.referring_organisation_id)
    sections: dict[str, list[dict[str, Any]]] = {
        "participant": [record_row],
        "counselling_sessions": [row_dict(s) for s in sessions],
        "referrals": [
            {**row_dict(r), "organisation": org_names.get(r.organisation_id)} for r in referrals
        ],
        "consent_releases": [
            {**row_dict(r), "organisation": org_names.get(r.organisation_id)} for r in releases
        ],
        "support_items": [{**row_dict(i), "item": i.type.name} for i in items],
        "audit_entries": _audit_rows(
            session,
            [
                ("participant", [pid]),
                ("counselling_session", [s.id for s in sessions]),
                ("referral", [r.id for r in referrals]),
                ("consent_release", [r.id for r in releases]),
                ("support_item", [i.id for i in items]),
            ],
        ),
    }
    sections.update(_hooks_export(session, "participant", pid))
    return AccessExport("participant", pid, utcnow().isoformat(), sections)


def _names(session: Session, org_ids: list[int]) -> dict[int, str]:
    ids = {i for i in org_ids if i}
    if not ids:
        return {}
    return dict(
        session.execute(
            sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
        ).all()
    )


def person_access_export(session: Session, person: Person) -> AccessExport:
    """Art. 15 for a contact person: record, links, activities, follow-ups, audit entries."""
    pid = person.id
    affiliations = list(session.scalars(sa.select(Affiliation).where(Affiliation.person_id == pid)))
    org_names = _names(session, [a.organisation_id for a in affiliations])
    activities = list(
        session.scalars(
            sa.select(Activity)
            .where(Activity.person_id == pid)
            .order_by(Activity.occurred_at, Activity.id)
        )
    )
    followups = list(
        session.scalars(
            sa.select(FollowUp)
            .where(FollowUp.person_id == pid)
            .order_by(FollowUp.due_at, FollowUp.id)
        )
    )
    tags = list(
        session.scalars(
            sa.select(Tag.name)
            .join(person_tag, person_tag.c.tag_id == Tag.id)
            .where(person_tag.c.person_id == pid)
        )
    )
    lists = session.execute(
        sa.select(ContactList.name, ContactListMember.added_at)
        .join(ContactListMember, ContactListMember.list_id == ContactList.id)
        .where(ContactListMember.person_id == pid)
    ).all()
    sections: dict[str, list[dict[str, Any]]] = {
        "person": [row_dict(person, skip=("search_text", "name_key"))],
        "affiliations": [
            {**row_dict(a), "organisation": org_names.get(a.organisation_id)} for a in affiliations
        ],
        "tags": [{"name": t} for t in tags],
        "contact_lists": [{"name": n, "added_at": _plain(at)} for n, at in lists],
        "activities": [row_dict(a) for a in activities],
        "followups": [row_dict(f) for f in followups],
        "audit_entries": _audit_rows(
            session,
            [
                ("person", [pid]),
                ("affiliation", [a.id for a in affiliations]),
                ("activity", [a.id for a in activities]),
                ("followup", [f.id for f in followups]),
            ],
        ),
    }
    sections.update(_hooks_export(session, "person", pid))
    return AccessExport("person", pid, utcnow().isoformat(), sections)


# --- Art. 17: erasure ---------------------------------------------------------------------------


def _needles(*values: str) -> list[str]:
    """Distinctive strings to hunt down elsewhere: full names and addresses (min. 5 chars)."""
    seen: list[str] = []
    for v in values:
        v = (v or "").strip()
        if len(v) >= 5 and v not in seen:
            seen.append(v)
    return seen


def text_columns(bind: Any) -> list[tuple[str, str]]:
    """(table, column) of every text/varchar column of every table, by database inspection."""
    inspector = sa.inspect(bind)
    found = []
    for table in inspector.get_table_names():
        if table.startswith("alembic") or "_fts" in table:
            continue
        for col in inspector.get_columns(table):
            if isinstance(col["type"], sa.String) and (table, col["name"]) not in _SKIP_COLUMNS:
                found.append((table, col["name"]))
    return found


def sweep_mentions(session: Session, needles: Iterable[str]) -> int:
    """Replace each needle by ERASED in every text column of every table; rows changed."""
    needles = [n for n in needles if n]
    if not needles:
        return 0
    conn = session.connection()
    changed = 0
    for table, column in text_columns(conn):
        t = sa.table(table, sa.column(column, sa.Text))
        col = t.c[column]
        for needle in needles:
            result = conn.execute(
                sa.update(t)
                .where(col.contains(needle, autoescape=True))
                .values({column: sa.func.replace(col, needle, ERASED)})
            )
            changed += result.rowcount or 0
    return changed


PARTICIPANT_PERSONAL_FIELDS = {
    "first_name": "",
    "last_name": "",
    "name_key": "",
    "email": "",
    "phone": "",
    "city": "",
    "birth_year": None,
    "gender": "",
    "notes": "",
    "country_of_origin": "",
    "profession": "",
    "profession_learned_in": "",
    "recognising_body": "",
    "language_level": "",
    "target_field": "",
    "exit_note": "",
    "recognition_status": "not_started",
}


def erase_participant(
    session: Session, participant: Participant, *, reason: str = "request"
) -> None:
    """Art. 17: anonymise the participant, keep what the counts need (see module doc)."""
    if participant.erased_at is not None:
        return
    pid = participant.id
    needles = _needles(
        participant.full_name,
        f"{participant.last_name}, {participant.first_name}",
        participant.email,
        participant.phone,
    )
    session.execute(sa.delete(Referral).where(Referral.participant_id == pid))
    session.execute(sa.delete(ConsentRelease).where(ConsentRelease.participant_id == pid))
    session.execute(sa.delete(SupportItem).where(SupportItem.participant_id == pid))
    session.execute(
        sa.update(CounsellingSession)
        .where(CounsellingSession.participant_id == pid)
        .values(note="")
    )
    session.expire(participant, ["referrals", "consent_releases", "support_items", "sessions"])
    for key, value in PARTICIPANT_PERSONAL_FIELDS.items():
        setattr(participant, key, value)
    participant.pseudonym = new_pseudonym()
    participant.erased_at = utcnow()
    for hook in ERASURE_HOOKS:
        hook(session, "participant", pid)
    session.flush()
    sweep_mentions(session, needles)
    record(
        session, "erase", entity_type="participant", entity_id=pid, summary=f"Art. 17 ({reason})"
    )
    session.execute(
        sa.update(RetentionReview)
        .where(RetentionReview.participant_id == pid)
        .values(status="done", decided_at=utcnow())
    )
    session.flush()


def erase_person(session: Session, person: Person) -> None:
    """Art. 17 for a contact person: delete them and every text about them."""
    pid = person.id
    needles = _needles(
        person.full_name,
        f"{person.first_name} {person.last_name}",
        f"{person.last_name}, {person.first_name}",
        person.email,
        person.email_alt,
        person.phone,
        person.mobile,
    )
    # Follow-ups about them: the texts go, the to-do of the assignee stays.
    session.execute(
        sa.update(FollowUp)
        .where(FollowUp.person_id == pid)
        .values(subject=ERASED, note="", outcome="", person_id=None)
    )
    # Activities with an organisation stay in its history without person and text.
    session.execute(
        sa.update(Activity)
        .where(Activity.person_id == pid, Activity.organisation_id.is_not(None))
        .values(person_id=None, subject=ERASED, text="")
    )
    session.execute(sa.delete(Activity).where(Activity.person_id == pid))
    for hook in ERASURE_HOOKS:
        hook(session, "person", pid)
    session.delete(person)
    session.flush()
    sweep_mentions(session, needles)
    record(session, "erase", entity_type="person", entity_id=pid, summary="Art. 17")
    session.flush()


# --- retention ----------------------------------------------------------------------------------


def retention_cutoff(today: date, years: int) -> date:
    """Exits on or before this date have passed the retention period on `today`."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def mark_due(session: Session, *, today: date, years: int) -> int:
    """Mark participants whose exit is `years` ago for review; returns how many were new."""
    cutoff = retention_cutoff(today, years)
    due = session.execute(
        sa.select(Participant.id, Participant.exit_on).where(
            Participant.exit_on.is_not(None),
            Participant.exit_on <= cutoff,
            Participant.erased_at.is_(None),
            ~sa.exists(
                sa.select(RetentionReview.id).where(
                    RetentionReview.participant_id == Participant.id
                )
            ),
        )
    ).all()
    for pid, exit_on in due:
        due_on = retention_cutoff(exit_on, -years)
        session.add(RetentionReview(participant_id=pid, due_on=due_on, status="pending"))
        session.execute(
            sa.update(Participant).where(Participant.id == pid).values(erase_after=due_on)
        )
    # Postponed reviews whose date has come are pending again.
    session.execute(
        sa.update(RetentionReview)
        .where(RetentionReview.status == "postponed", RetentionReview.postponed_until <= today)
        .values(status="pending")
    )
    session.flush()
    return len(due)


def decide(
    session: Session, review: RetentionReview, decision: str, *, user_id: int | None, today: date
) -> None:
    """An admin's decision: "approve" (the job erases), "postpone" (one year), "erase" (now)."""
    if decision not in ("approve", "postpone", "erase"):
        raise ValueError(decision)
    review.decided_by_id = user_id
    review.decided_at = utcnow()
    if decision == "postpone":
        review.status = "postponed"
        review.postponed_until = retention_cutoff(today, -1)
    else:
        review.status = "approved"
    session.flush()
    record(
        session,
        f"retention_{decision}",
        entity_type="participant",
        entity_id=review.participant_id,
        summary=f"Aufbewahrung: {decision}",
    )
    if decision == "erase":
        erase_participant(session, review.participant, reason="retention")


def erase_approved(session: Session) -> int:
    """Erase every participant whose retention review an admin approved; returns the count."""
    reviews = list(
        session.scalars(sa.select(RetentionReview).where(RetentionReview.status == "approved"))
    )
    for review in reviews:
        erase_participant(session, review.participant, reason="retention")
    return len(reviews)


def pending_reviews(
    session: Session, *, page: int = 1, per_page: int = 50
) -> tuple[list[RetentionReview], int]:
    """Reviews waiting for an admin (pending first, then approved), oldest due first."""
    stmt = sa.select(RetentionReview).where(RetentionReview.status.in_(("pending", "approved")))
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(
        stmt.options(sa.orm.joinedload(RetentionReview.participant).joinedload(Participant.office))
        .order_by(RetentionReview.status.desc(), RetentionReview.due_on, RetentionReview.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return list(items), total
