"""DSGVO: everything stored about a person (Art. 15), erasure (Art. 17), retention.

Erasure works by links, not by text search: `crm.privacy.erasure` asks every domain which
rows belong to the person and applies that plan (see its docstring). A participant keeps an
anonymised row for the counts; a contact person is deleted, records of others linked to her
stay without the link, and their text changes only where an admin confirmed a mention.

ACCESS_EXPORT_HOOKS collects the Art. 15 sections of the domains merged later.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
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
)
from crm.privacy import erasure
from crm.privacy.models import ErasureRecord, RetentionReview

# fn(session, subject_type, subject_id) -> dict of section name -> list of row dicts.
ACCESS_EXPORT_HOOKS: list[Callable[[Session, str, int], dict[str, list[dict]]]] = []


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
    from crm.newsletters.models import ConsentEvent, Delivery, Subscription

    def rows(model: Any, column: Any) -> list[dict]:
        return [
            row_dict(obj) for obj in session.scalars(sa.select(model).where(column == subject_id))
        ]

    return {
        "newsletter_subscriptions": rows(Subscription, Subscription.person_id),
        "newsletter_consent_ledger": rows(ConsentEvent, ConsentEvent.person_id),
        "newsletter_deliveries": rows(Delivery, Delivery.person_id),
        "event_contacts": rows(EventContact, EventContact.person_id),
        "event_leads": rows(Lead, Lead.person_id),
    }


ACCESS_EXPORT_HOOKS.append(_newsletter_and_event_export)


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


# --- Art. 17: erasure (by links, see crm.privacy.erasure) ---------------------------------------


def _legal_basis(reason: str | None, legal_basis: str) -> str:
    return "retention" if reason == "retention" else legal_basis


def erase_participant(
    session: Session,
    participant: Participant,
    *,
    reason: str | None = None,
    legal_basis: str = "request",
    requested_by_id: int | None = None,
    confirmed: Collection[str] | str = (),
    directories: dict[str, Path] | None = None,
) -> ErasureRecord | None:
    """Art. 17: anonymise the participant, keep what the counts need (see erasure module)."""
    pid = participant.id
    session.flush()
    # Two admins erasing the same record: the second waits here, then finds it erased.
    session.execute(sa.select(Participant.id).where(Participant.id == pid).with_for_update())
    session.refresh(participant, ["erased_at"])
    if participant.erased_at is not None:
        return None
    rec = erasure.erase(
        session,
        erasure.participant_subject(participant),
        legal_basis=_legal_basis(reason, legal_basis),
        requested_by_id=requested_by_id,
        confirmed=confirmed,
        directories=directories,
    )
    record(
        session,
        "erase",
        entity_type="participant",
        entity_id=pid,
        summary=f"Art. 17, Löschprotokoll #{rec.id}",
    )
    session.flush()
    return rec


def erase_person(
    session: Session,
    person: Person,
    *,
    legal_basis: str = "request",
    requested_by_id: int | None = None,
    confirmed: Collection[str] | str = (),
    directories: dict[str, Path] | None = None,
) -> ErasureRecord | None:
    """Art. 17 for a contact person: delete her rows; linked records stay without her."""
    pid = person.id
    session.flush()
    locked = session.execute(sa.select(Person.id).where(Person.id == pid).with_for_update())
    if locked.first() is None:
        return None
    rec = erasure.erase(
        session,
        erasure.person_subject(person),
        legal_basis=legal_basis,
        requested_by_id=requested_by_id,
        confirmed=confirmed,
        directories=directories,
    )
    record(
        session,
        "erase",
        entity_type="person",
        entity_id=pid,
        summary=f"Art. 17, Löschprotokoll #{rec.id}",
    )
    session.flush()
    return rec


def reapply_erasures(
    session: Session,
    *,
    since: datetime | None = None,
    directories: dict[str, Path] | None = None,
) -> list[tuple[ErasureRecord, bool]]:
    """After restoring a backup: erase again everyone the erasure log names (from `since`).

    Returns (record, erased again?) per record; a subject already gone is left alone. The
    same legal basis and the same confirmed notes apply; each re-application is logged.
    """
    stmt = sa.select(ErasureRecord).order_by(ErasureRecord.requested_at, ErasureRecord.id)
    if since is not None:
        stmt = stmt.where(ErasureRecord.requested_at >= since)
    results = []
    for rec in list(session.scalars(stmt)):
        options = {
            "legal_basis": rec.legal_basis,
            "requested_by_id": rec.requested_by_id,
            "confirmed": set(rec.mention_keys or ()),
            "directories": directories,
        }
        again = None
        if rec.subject_type == "participant":
            participant = session.get(Participant, rec.subject_id)
            if participant is not None and participant.erased_at is None:
                again = erase_participant(session, participant, **options)
        else:
            person = session.get(Person, rec.subject_id)
            if person is not None:
                again = erase_person(session, person, **options)
        results.append((rec, again is not None))
    return results


def subject_of(obj: Participant | Person) -> erasure.Subject:
    """The erasure subject for a participant or a contact person."""
    if isinstance(obj, Participant):
        return erasure.participant_subject(obj)
    return erasure.person_subject(obj)


def erasure_preview(
    session: Session, obj: Participant | Person, *, directories: dict[str, Path] | None = None
) -> erasure.ErasurePlan:
    """What erasing `obj` would do, with linked mentions to confirm and unlinked ones to review."""
    return erasure.plan_erasure(
        session, subject_of(obj), directories=directories, with_unlinked=True
    )


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
        erase_participant(session, review.participant, reason="retention", requested_by_id=user_id)


def erase_approved(session: Session, *, directories: dict[str, Path] | None = None) -> int:
    """Erase every participant whose retention review an admin approved; returns the count."""
    reviews = list(
        session.scalars(sa.select(RetentionReview).where(RetentionReview.status == "approved"))
    )
    for review in reviews:
        erase_participant(
            session,
            review.participant,
            reason="retention",
            requested_by_id=review.decided_by_id,
            directories=directories,
        )
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
