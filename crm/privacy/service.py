"""DSGVO: erasure (Art. 17) and the retention review; Art. 15 is crm.privacy.access.

Erasure works by links, not by text search: `crm.privacy.erasure` asks every domain which
rows belong to the person and applies that plan (see its docstring). A participant keeps an
anonymised row for the counts; a contact person is deleted, records of others linked to her
stay without the link, and their text changes only where an admin confirmed a mention.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.contacts.models import (
    Person,
)
from crm.database import utcnow
from crm.participants.models import (
    Participant,
)
from crm.privacy import erasure
from crm.privacy.models import ErasureRecord, RetentionReview


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
    if not erasure.lock_for_erasure(session, Person, pid):
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
        options: dict[str, Any] = {
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
        elif rec.subject_type == "inquiry":
            from crm.intake.erasure import erase_inquiry
            from crm.intake.models import Inquiry

            inquiry = session.get(Inquiry, rec.subject_id)
            if inquiry is not None:
                again = erase_inquiry(session, inquiry, **options)
        elif rec.subject_type == "event_registration":
            from crm.events.erasure import erase_registration
            from crm.events.models import EventRegistration

            registration = session.get(EventRegistration, rec.subject_id)
            if registration is not None:
                again = erase_registration(session, registration, **options)
        else:
            person = session.get(Person, rec.subject_id)
            if person is not None:
                again = erase_person(session, person, **options)
        results.append((rec, again is not None))
    return results


def subject_of(obj: Any) -> erasure.Subject:
    """The erasure subject for a participant, a contact person, an inquiry or a registration."""
    from crm.events.erasure import registration_subject
    from crm.events.models import EventRegistration
    from crm.intake.erasure import inquiry_subject
    from crm.intake.models import Inquiry

    if isinstance(obj, EventRegistration):
        return registration_subject(obj)
    if isinstance(obj, Participant):
        return erasure.participant_subject(obj)
    if isinstance(obj, Inquiry):
        return inquiry_subject(obj)
    return erasure.person_subject(obj)


def erasure_preview(
    session: Session, obj: Any, *, directories: dict[str, Path] | None = None
) -> erasure.ErasurePlan:
    """What erasing `obj` would do, with linked mentions to confirm and unlinked ones to review."""
    return erasure.plan_erasure(
        session, subject_of(obj), directories=directories, with_unlinked=True
    )


def unlinked_mentions(session: Session, objects: Collection[Any]) -> list[erasure.Mention]:
    """Text outside these records of one human that names her, for review before an Art. 15 copy.

    The same scan as the erasure preview's: free text such as event minutes is not linked to
    her, so the report leaves it out, and it often names others too. The admin reads the list
    and decides what to add by hand; nothing here goes into the report itself.
    """
    plans = [erasure.plan_erasure(session, subject_of(obj), with_unlinked=True) for obj in objects]
    # A row linked to one of her records is in the report even if another record's scan finds it.
    touched = set().union(*(plan.touched() for plan in plans))
    found: dict[str, erasure.Mention] = {}
    for plan in plans:
        for mention in plan.unlinked:
            if (mention.table, mention.row_id) not in touched:
                found.setdefault(mention.key, mention)
    return sorted(found.values(), key=lambda m: (str(m.label), m.row_id, m.column))


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
        assert exit_on is not None  # the query asks for exits only
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
