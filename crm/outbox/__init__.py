"""Verwaltung → Postausgang: every outgoing message (outbox rows and campaign deliveries) for
admins, and the Art. 15 section on the messages sent to a person.

It sits above crm.mail (the queue and the sender, which serve every kind of mail and know no
domain) and crm.newsletters (whose deliveries it lists), so neither depends on the other.
"""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.outbox.privacy import mail_sections
    from crm.privacy.access import access_sections

    access_sections.connect(mail_sections)
