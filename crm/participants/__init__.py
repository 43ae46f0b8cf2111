"""Participants (Teilnehmende): counselling, sessions, referrals, releases, checklist."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.participants import service
    from crm.participants.erasure import plan_erasure
    from crm.privacy.signals import erasure_planned

    service.connect_signals()
    erasure_planned.connect(plan_erasure)
