"""Reading what a producer put into the mail outbox (crm.mail.models.OutgoingMail)."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import sqlalchemy as sa

from crm.mail.models import OutgoingMail


def queued(session, kind: str | None = None) -> list[OutgoingMail]:
    """The outbox rows (of one kind), oldest first."""
    query = sa.select(OutgoingMail).order_by(OutgoingMail.id)
    if kind is not None:
        query = query.where(OutgoingMail.kind == kind)
    return list(session.scalars(query))


def message_of(row: OutgoingMail) -> EmailMessage:
    """The stored message of an outbox row, parsed as a receiver would."""
    msg = BytesParser(policy=policy.default).parsebytes(row.message)
    assert isinstance(msg, EmailMessage)
    return msg


@dataclass
class QueuedMessage:
    """A queued row seen like a message a test SMTP server received."""

    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    row: OutgoingMail


class QueuedMail:
    """The mail outbox read as a test's mailbox: what producers queued so far, in order.

    Producers never talk SMTP; tests of what they write read it here (the sender's own
    tests and the end-to-end ones deliver it to a real server).
    """

    def __init__(self, session, kind: str | None = None) -> None:
        self.session = session
        self.kind = kind

    @property
    def messages(self) -> list[QueuedMessage]:
        """Every queued message (of this kind), oldest first."""
        return [
            QueuedMessage([row.recipient], message_of(row), row.message, row)
            for row in queued(self.session, self.kind)
        ]
