"""Demo mail: a setup test mail, an invitation, the due reminders and the campaign the other demo
modules queued, delivered through the real sender into the development outbox; an outdated and
a mistyped address bounce."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.contacts.demo import OUTDATED_EMAIL
from crm.contacts.models import Person
from crm.database import utcnow
from crm.followups.service import send_due_reminders
from crm.mail.message import RawMessage, build_message
from crm.mail.queue import enqueue, mail_domain
from crm.mail.sender import SenderSettings, send_outbox
from crm.mail.store import stores_for
from crm.mail.transports import FileTransport, PermanentMailError, SendResult
from crm.offices.mailcheck import send_test_mail

# An invitation to Franziska Bär typed with a wrong domain: the failed row of the outbox.
INVITED_EMAIL = "f.baer@hotel-zur-boerde.example"
MISTYPED_EMAIL = "f.baer@hotel-zur-boerde.exmaple"
UNKNOWN_MAILBOXES = frozenset({OUTDATED_EMAIL, MISTYPED_EMAIL})


class DemoTransport(FileTransport):
    """The development outbox (.eml files), except that unknown mailboxes are refused (550)."""

    def send_raw(self, raw: RawMessage) -> SendResult:
        """Write the message, or refuse it like a relay for a mailbox that does not exist."""
        unknown = [r for r in raw.recipients if r.lower() in UNKNOWN_MAILBOXES]
        if unknown:
            raise PermanentMailError(550, f"5.1.1 <{unknown[0]}>: Recipient address rejected")
        return super().send_raw(raw)


def seed_mail(session: Session) -> dict[str, int]:
    """Queue a test mail, an invitation and the due reminders, then send everything (demo only).

    Mail goes to the configured outbox folder whatever the transport setting: demo data never
    reaches a real relay.
    """
    config = current_app.config
    sender = config.get("CRM_MAIL_FROM") or "netzwerk-crm <crm@localhost>"
    admin = session.scalar(sa.select(User).where(User.role == "admin").order_by(User.id))
    if admin is not None:
        send_test_mail(session, admin, config)
    invited = session.scalar(sa.select(Person).where(Person.email == INVITED_EMAIL))
    enqueue(
        session,
        build_message(
            sender=sender,
            to=("Franziska Bär", MISTYPED_EMAIL),
            subject="Einladung: Netzwerktreffen im Haus der Wirtschaft",
            text=(
                "Guten Tag Frau Bär,\n\n"
                "wir laden Sie herzlich zu unserem nächsten Netzwerktreffen ein.\n"
            ),
            message_id_domain=mail_domain(sender),
        ),
        kind="notice",
        person_id=invited.id if invited is not None else None,
    )
    session.commit()
    # The events demo has overdue follow-ups: their reminders, as the scheduler would queue.
    send_due_reminders(session, utcnow(), config.get("CRM_BASE_URL") or "", sender=sender)
    # The default settings, not the configured rate: the demo should load in seconds.
    report = send_outbox(
        session, DemoTransport(config["CRM_MAIL_OUTBOX_DIR"]), stores_for(config), SenderSettings()
    )
    return {"mails_sent": report.sent, "mails_failed": report.failed}
