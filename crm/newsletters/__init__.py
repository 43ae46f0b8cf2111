"""Newsletters: lists, consent, double opt-in, audiences, templates, campaigns, deliveries."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.mail.store import delivery_stores
    from crm.newsletters import service
    from crm.newsletters.erasure import plan_erasure
    from crm.newsletters.sending import campaign_store
    from crm.privacy.signals import erasure_planned

    service.connect_signals()
    erasure_planned.connect(plan_erasure)
    delivery_stores.connect(campaign_store)
