"""The mail outbox in the Art. 15 report: the messages the office sent (or will send) to her."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from crm.contacts.models import Person
from crm.mail.models import OutgoingMail
from crm.outbox.labels import KIND_LABELS, STATUS_LABELS

FIELDS = {
    "kind": _l("Kind"),
    "recipient": _l("E-mail address"),
    "subject": _l("Subject"),
    "created_at": _l("Created"),
    "sent_at": _l("Sent on"),
    "status": _l("Status"),
}


def mail_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[Any]:
    """E-mails in the outbox to her: by person id, or by one of her addresses (a sign-up
    confirmation goes out before she is a contact). Receiver of access_sections."""
    from crm.privacy import labels as L
    from crm.privacy.access import ReportEntry, ReportField, ReportSection

    ids = [r.id for r in refs if r.kind == "person"]
    if not ids:
        return []
    addresses = {
        a.lower()
        for row in session.execute(
            sa.select(Person.email, Person.email_alt).where(Person.id.in_(ids))
        )
        for a in row
        if a
    }
    match = [OutgoingMail.person_id.in_(ids)]
    if addresses:
        match.append(sa.func.lower(OutgoingMail.recipient).in_(addresses))
    rows = session.scalars(
        sa.select(OutgoingMail).where(sa.or_(*match)).order_by(OutgoingMail.id)
    ).all()

    entries = [
        ReportEntry(
            title=f"{KIND_LABELS.get(m.kind, m.kind)}: {m.subject}",
            source=_("Sent by the office"),
            audit_key=("mail_outbox", m.id),
            fields=[
                ReportField(key, str(FIELDS[key]), text)
                for key, text in (
                    ("kind", str(KIND_LABELS.get(m.kind, m.kind))),
                    ("recipient", m.recipient),
                    ("subject", m.subject),
                    ("created_at", L.fmt_datetime(m.created_at)),
                    ("sent_at", L.fmt_datetime(m.sent_at)),
                    ("status", str(STATUS_LABELS.get(m.status, m.status))),
                )
                if text
            ],
        )
        for m in rows
    ]
    return [ReportSection("mail_outbox", _("Other e-mails sent to you"), "contacts", entries)]
