"""The mail settings check of the first-run setup: a test mail through the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.audit.service import record
from crm.mail.message import build_message
from crm.mail.models import OutgoingMail
from crm.mail.queue import enqueue, mail_domain


def send_test_mail(session: Session, user: User, config: Mapping[str, Any]) -> OutgoingMail:
    """Queue a test mail to `user`'s address (the caller commits); the sender delivers it."""
    sender = config.get("CRM_MAIL_FROM") or "netzwerk-crm <crm@localhost>"
    with force_locale(user.locale or "de"):
        msg = build_message(
            sender=sender,
            to=(user.display_name, user.email),
            subject=_("netzwerk-crm: test mail"),
            text=_(
                "This is the test mail of the netzwerk-crm setup. If you can read it, "
                "the mail settings work."
            )
            + "\n",
            message_id_domain=mail_domain(sender),
        )
    row = enqueue(session, msg, kind="test", user_id=user.id)
    record(session, "create", entity_type="mail_outbox", summary="Testmail (Ersteinrichtung)")
    return row


def latest_test_mail(session: Session, user_id: int) -> OutgoingMail | None:
    """The newest test mail queued for this user, if any."""
    return session.scalar(
        sa.select(OutgoingMail)
        .where(OutgoingMail.kind == "test", OutgoingMail.user_id == user_id)
        .order_by(OutgoingMail.id.desc())
        .limit(1)
    )
