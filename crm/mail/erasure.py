"""The mail domain's part of an erasure: outbox rows and file-outbox messages about the person."""

from __future__ import annotations

import contextlib
import os
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session


def _recipients(path: str) -> set[str]:
    try:
        with open(path, "rb") as fh:
            msg = BytesParser(policy=policy.compat32).parse(fh, headersonly=True)
    except OSError:
        return set()
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])]
    return {addr.strip().lower() for _name, addr in getaddresses(fields) if addr}


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Every .eml in the outbox directory with one of her addresses as a recipient."""
    directory = plan.directories.get("outbox")
    emails = {e.lower() for e in plan.subject.emails}
    if directory is None or not emails:
        return
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        is_message = entry.name.endswith(".eml") and entry.is_file(follow_symlinks=False)
        if is_message and _recipients(entry.path) & emails:
            plan.remove_file(directory / entry.name, "mail")


# Kinds whose text may name a contact although they go to a staff member (a reminder names the
# follow-up's contact, a digest lists them). Their stored copy goes when it names her.
_MENTIONING_KINDS = ("reminder", "digest", "notice", "test")


def _mentions(message: bytes, needles: tuple[str, ...]) -> bool:
    """Whether the subject or a text part of a stored message names her."""
    msg = BytesParser(policy=policy.default).parsebytes(message)
    texts = [str(msg.get("Subject", ""))]
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            with contextlib.suppress(LookupError, ValueError):
                texts.append(part.get_content())
    low = "\n".join(texts).lower()
    return any(n.lower() in low for n in needles)


def plan_outbox_erasure(session: Session, *, plan: Any) -> None:
    """Her rows in the mail outbox: messages to her go; copies that name her are emptied.

    Deleting a queued row is also its cancellation: the sender never sees it again (a row a
    sender holds at this moment is gone when it tries to mark it). A message to a colleague
    that names her (a reminder about her follow-up) keeps its delivery state but loses its
    stored text and subject; if it was still waiting, it is cancelled, since its text is gone.
    """
    from crm.mail.models import OutgoingMail

    emails = [e.lower() for e in plan.subject.emails if e]
    to_her = []
    if plan.subject.kind == "person":
        to_her.append(OutgoingMail.person_id == plan.subject.id)
    if emails:
        to_her.append(sa.func.lower(OutgoingMail.recipient).in_(emails))
    own: set[int] = set()
    if to_her:
        own = set(session.scalars(sa.select(OutgoingMail.id).where(sa.or_(*to_her))))
        plan.delete(OutgoingMail, own, "mail", order=10)
    # Whole names and addresses only: a surname alone would empty colleagues' unrelated mail.
    needles = tuple(n for n in plan.subject.search_needles if " " in n or "@" in n)
    if not needles:
        return
    naming: dict[str, list[int]] = {"queued": [], "other": []}
    rows = session.execute(
        sa.select(OutgoingMail.id, OutgoingMail.status, OutgoingMail.message).where(
            OutgoingMail.kind.in_(_MENTIONING_KINDS), OutgoingMail.message != b""
        )
    )
    for row_id, status, message in rows:
        if row_id not in own and _mentions(message, needles):
            naming["queued" if status == "queued" else "other"].append(row_id)
    blank = {"message": b"", "subject": ""}
    plan.anonymise(OutgoingMail, naming["queued"], {**blank, "status": "cancelled"}, "mail")
    plan.anonymise(OutgoingMail, naming["other"], blank, "mail")
