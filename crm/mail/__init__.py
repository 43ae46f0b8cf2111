"""Outgoing mail: message building, transports (file outbox, SMTP) and the outbox reader."""

from __future__ import annotations

from crm.mail.message import (
    Attachment,
    BulkMessageBuilder,
    RawMessage,
    build_message,
    list_unsubscribe_headers,
    sanitize_header,
)
from crm.mail.outbox import OutboxItem, list_outbox, read_outbox_message
from crm.mail.transports import (
    FileTransport,
    MailError,
    PermanentMailError,
    SendResult,
    SMTPTransport,
    TemporaryMailError,
    Transport,
    transport_from_config,
)

__all__ = [
    "Attachment",
    "BulkMessageBuilder",
    "FileTransport",
    "MailError",
    "OutboxItem",
    "PermanentMailError",
    "RawMessage",
    "SMTPTransport",
    "SendResult",
    "TemporaryMailError",
    "Transport",
    "build_message",
    "list_outbox",
    "list_unsubscribe_headers",
    "read_outbox_message",
    "sanitize_header",
    "transport_from_config",
]


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.mail.erasure import plan_erasure, plan_outbox_erasure
    from crm.mail.store import delivery_stores, outbox_store
    from crm.privacy.signals import erasure_planned

    erasure_planned.connect(plan_erasure)
    erasure_planned.connect(plan_outbox_erasure)
    delivery_stores.connect(outbox_store)
