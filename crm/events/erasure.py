"""The events domain's part of an erasure: invitations, fair leads and event registrations
of the person."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.events.models import EventContact, EventRegistration, Lead
from crm.mail.models import OutgoingMail
from crm.privacy import erasure
from crm.privacy.models import ErasureRecord


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Her invitations, leads and linked registrations are deleted (the lead's follow-up is
    the follow-ups' part)."""
    if plan.subject.kind != "person":
        return
    pid = plan.subject.id
    for model in (EventContact, Lead, EventRegistration):
        ids = session.scalars(sa.select(model.id).where(model.person_id == pid))
        plan.delete(model, ids, "events", order=10)


# --- a standalone registration as its own erasure subject ---------------------------------------

REGISTRATION_KIND = "event_registration"


def registration_subject(registration: EventRegistration) -> erasure.Subject:
    """The erasure subject for a registration (no e-mail addresses: the mail domain would then
    remove every message to the address; its own mails are planned here instead)."""
    values = [registration.name, registration.email]
    return erasure.Subject(
        REGISTRATION_KIND,
        registration.id,
        erasure.search_needles_of(values),
        erasure.search_needles_of(values, min_len=4),
        (),
    )


def _registration_mails(session: Session, registration: EventRegistration) -> list[int]:
    """The registration mails to its address, unless another registration still uses it (the
    outbox row names no registration, only its recipient)."""
    others = session.scalar(
        sa.select(sa.func.count(EventRegistration.id)).where(
            EventRegistration.email_key == registration.email_key,
            EventRegistration.id != registration.id,
        )
    )
    if others:
        return []
    return list(
        session.scalars(
            sa.select(OutgoingMail.id).where(
                OutgoingMail.kind == "registration",
                sa.func.lower(OutgoingMail.recipient) == registration.email_key,
            )
        )
    )


def plan_registration_erasure(session: Session, *, plan: Any) -> None:
    """A registration subject: the row and its mails in the outbox."""
    if plan.subject.kind != REGISTRATION_KIND:
        return
    registration = session.get(EventRegistration, plan.subject.id)
    if registration is None:
        return
    plan.delete(OutgoingMail, _registration_mails(session, registration), "mail", order=10)
    plan.delete(EventRegistration, [registration.id], "events")


def erase_registration(
    session: Session,
    registration: EventRegistration,
    *,
    legal_basis: str = "request",
    requested_by_id: int | None = None,
    confirmed: Collection[str] | str = (),
    directories: dict[str, Path] | None = None,
) -> ErasureRecord | None:
    """Art. 17 for a registration: the row and its mails go; logged like any erasure."""
    rid = registration.id
    if not erasure.lock_for_erasure(session, EventRegistration, rid):
        return None
    rec = erasure.erase(
        session,
        registration_subject(registration),
        legal_basis=legal_basis,
        requested_by_id=requested_by_id,
        confirmed=confirmed,
        directories=directories,
    )
    record(
        session,
        "erase",
        entity_type=REGISTRATION_KIND,
        entity_id=rid,
        summary=f"Art. 17, Löschprotokoll #{rec.id}",
    )
    session.flush()
    return rec
