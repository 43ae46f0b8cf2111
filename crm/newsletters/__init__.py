"""Newsletters: lists, consent, double opt-in, audiences, templates, campaigns, deliveries."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.newsletters import service
    from crm.newsletters.erasure import plan_erasure
    from crm.privacy.signals import erasure_planned

    service.connect_signals()
    erasure_planned.connect(plan_erasure)
