"""Erasure of inquiries (Art. 17) on request and after the retention period.

An inquiry is its own erasure subject ("inquiry"), erased on its own with the acknowledgements
that were sent for it; the participant or person it was converted into stays (its data lives
on that record now, under that record's rules). Erasing a participant or contact person also
erases the inquiries converted into (or linked to) them: they hold the same person's data.
Kept apart from crm.intake.privacy (the Art. 15 report) so that the privacy service can call
it without importing the report's labels.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.intake.models import OPEN_STATUSES, Inquiry
from crm.mail.models import OutgoingMail
from crm.privacy import erasure
from crm.privacy.models import ErasureRecord

KIND = "inquiry"


def acknowledgements(
    session: Session, inquiries: Iterable[Inquiry]
) -> dict[int, list[OutgoingMail]]:
    """The outbox rows of kind "inquiry" sent for each inquiry.

    The outbox row names no inquiry, only its recipient; a mail belongs to the latest inquiry
    from that address created before it (the acknowledgement is queued in the inquiry's own
    transaction, so nothing comes between them).
    """
    addresses = {i.email.lower() for i in inquiries if i.email}
    if not addresses:
        return {}
    same_address = session.execute(
        sa.select(Inquiry.id, sa.func.lower(Inquiry.email), Inquiry.created_at)
        .where(sa.func.lower(Inquiry.email).in_(sorted(addresses)))
        .order_by(Inquiry.created_at, Inquiry.id)
    ).all()
    mails = session.scalars(
        sa.select(OutgoingMail)
        .where(
            OutgoingMail.kind == "inquiry",
            sa.func.lower(OutgoingMail.recipient).in_(sorted(addresses)),
        )
        .order_by(OutgoingMail.created_at, OutgoingMail.id)
    ).all()
    linked: dict[int, list[OutgoingMail]] = defaultdict(list)
    for mail in mails:
        owner = None
        for inquiry_id, email, created_at in same_address:
            if email == mail.recipient.lower() and created_at <= mail.created_at:
                owner = inquiry_id
        if owner is not None:
            linked[owner].append(mail)
    return linked


# --- Art. 17 ---------------------------------------------------------------------------


def inquiry_subject(inquiry: Inquiry) -> erasure.Subject:
    """The erasure subject for an inquiry.

    No e-mail addresses: the mail domain would then remove every message to the address
    (also a newsletter confirmation of a contact with the same address); the inquiry's own
    acknowledgements are planned here instead.
    """
    names = [inquiry.name]
    addresses = [inquiry.email, inquiry.phone]
    return erasure.Subject(
        KIND,
        inquiry.id,
        erasure.search_needles_of([*names, *addresses]),
        erasure.search_needles_of([*names, *addresses], min_len=4),
        (),
    )


def _message_ids(directory: Path, wanted: set[str]) -> list[str]:
    """Names of the .eml files in the file outbox that carry one of the Message-IDs."""
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if not (entry.name.endswith(".eml") and entry.is_file(follow_symlinks=False)):
            continue
        try:
            with open(entry.path, "rb") as fh:
                headers = BytesParser(policy=policy.compat32).parse(fh, headersonly=True)
        except OSError:
            continue
        if str(headers.get("Message-ID", "")).strip() in wanted:
            found.append(entry.name)
    return found


# The records a converted inquiry can point to, by erasure subject kind.
LINKED_COLUMNS = {"participant": Inquiry.participant_id, "person": Inquiry.person_id}


def plan_erasure(session: Session, *, plan: Any) -> None:
    """The inquiry rows and their acknowledgements (outbox rows and copies): for an inquiry
    subject the inquiry itself, for a participant or person the inquiries converted into them."""
    if plan.subject.kind == KIND:
        inquiry = session.get(Inquiry, plan.subject.id)
        inquiries = [inquiry] if inquiry is not None else []
    elif plan.subject.kind in LINKED_COLUMNS:
        column = LINKED_COLUMNS[plan.subject.kind]
        inquiries = list(
            session.scalars(
                sa.select(Inquiry).where(column == plan.subject.id).order_by(Inquiry.id)
            )
        )
    else:
        return
    if not inquiries:
        return
    linked = acknowledgements(session, inquiries)
    mails = [m for i in inquiries for m in linked.get(i.id, [])]
    plan.delete(OutgoingMail, [m.id for m in mails], "mail", order=10)
    directory = plan.directories.get("outbox")
    wanted = {m.message_id for m in mails if m.message_id}
    if directory is not None and wanted:
        for name in _message_ids(directory, wanted):
            plan.remove_file(directory / name, "mail")
    plan.delete(Inquiry, [i.id for i in inquiries], "inquiries")


def erase_inquiry(
    session: Session,
    inquiry: Inquiry,
    *,
    legal_basis: str = "request",
    requested_by_id: int | None = None,
    confirmed: Collection[str] | str = (),
    directories: dict[str, Path] | None = None,
) -> ErasureRecord | None:
    """Art. 17 for an inquiry: the row and its acknowledgements go; logged like any erasure."""
    iid = inquiry.id
    if not erasure.lock_for_erasure(session, Inquiry, iid):
        return None
    rec = erasure.erase(
        session,
        inquiry_subject(inquiry),
        legal_basis=legal_basis,
        requested_by_id=requested_by_id,
        confirmed=confirmed,
        directories=directories,
    )
    record(
        session,
        "erase",
        entity_type=KIND,
        entity_id=iid,
        summary=f"Art. 17, Löschprotokoll #{rec.id}",
    )
    session.flush()
    return rec


# --- retention ----------------------------------------------------------------------------------


def closed_due(cutoff: Any) -> sa.ColumnElement[bool]:
    """Closed inquiries closed before the cutoff, and converted ones whose record is gone
    (deleted without an erasure) converted before it.

    A converted inquiry whose record exists is not due here: its data lives on the record,
    and erasing the record erases the inquiry with it (plan_erasure).
    """
    return sa.or_(
        sa.and_(Inquiry.status == "closed", Inquiry.closed_at < cutoff),
        sa.and_(
            Inquiry.status == "converted",
            Inquiry.participant_id.is_(None),
            Inquiry.person_id.is_(None),
            Inquiry.converted_at < cutoff,
        ),
    )


def untouched_due(cutoff: Any) -> sa.ColumnElement[bool]:
    """Open inquiries nobody changed since before the cutoff."""
    return sa.and_(Inquiry.status.in_(OPEN_STATUSES), Inquiry.updated_at < cutoff)


def count_due(session: Session, condition: sa.ColumnElement[bool]) -> int:
    return session.scalar(sa.select(sa.func.count(Inquiry.id)).where(condition)) or 0


def erase_due(
    session: Session, condition: sa.ColumnElement[bool], config: Mapping[str, Any]
) -> int:
    """Erase every inquiry the condition selects, each with its own erasure record."""
    directory = config.get("CRM_MAIL_OUTBOX_DIR")
    directories = {"outbox": Path(directory)} if directory else {}
    erased = 0
    for inquiry in list(session.scalars(sa.select(Inquiry).where(condition).order_by(Inquiry.id))):
        if erase_inquiry(session, inquiry, legal_basis="retention", directories=directories):
            erased += 1
    return erased
