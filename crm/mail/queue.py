"""Putting a message into the mail outbox (crm.mail.models.OutgoingMail).

`enqueue` is the one way the app sends a message that is not a campaign delivery. It only
adds a row to the caller's session: the caller commits it together with the state change
that causes the message (a follow-up marked reminded, a subscription requested), so either
both happen or neither. The web request never talks SMTP; the sender delivers the row.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid

from sqlalchemy.orm import Session

from crm.mail.models import MAIL_KINDS, OutgoingMail

__all__ = ["MAX_MESSAGE_BYTES", "enqueue", "mail_domain"]

# A queued message is a whole message in one column; nothing the app builds comes near this.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


def mail_domain(sender: str) -> str:
    """The domain of a From address ("Name <a@b.de>" or "a@b.de"), for Message-IDs."""
    addr = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    try:
        return Address(addr_spec=addr).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"


def enqueue(
    session: Session,
    msg: EmailMessage,
    *,
    kind: str,
    person_id: int | None = None,
    user_id: int | None = None,
) -> OutgoingMail:
    """Add `msg` to the outbox in `session` (no commit) and return its row.

    The message must have exactly one To address and a From; a Message-ID is added if it has
    none, from the From domain. Raises ValueError for a message that cannot be sent (no or
    several recipients, too large), so the caller can refuse the action with a message.
    """
    if kind not in MAIL_KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    recipients = [addr for _name, addr in getaddresses([str(v) for v in msg.get_all("To", [])])]
    if len(recipients) != 1 or "@" not in recipients[0]:
        raise ValueError("a queued message needs exactly one recipient address")
    if not msg.get("From"):
        raise ValueError("a queued message needs a From address")
    if not msg.get("Message-ID"):
        msg["Message-ID"] = make_msgid(domain=mail_domain(str(msg["From"])))
    recipient = recipients[0]
    smtputf8 = not recipient.isascii()
    # An EmailMessage carries an EmailPolicy (which has utf8); typeshed types it as the base.
    data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", utf8=smtputf8))  # type: ignore[call-arg]
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError("the message is too large for the outbox")
    row = OutgoingMail(
        kind=kind,
        recipient=recipient[:254],
        subject=str(msg.get("Subject", ""))[:300],
        message=data,
        message_id=str(msg["Message-ID"])[:255],
        smtputf8=smtputf8,
        person_id=person_id,
        user_id=user_id,
        status="queued",
        attempts=0,
    )
    session.add(row)
    return row
