"""Placements (Vermittlungen) and matching firms' needs with participants."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.placements import service
    from crm.placements.erasure import plan_erasure
    from crm.placements.privacy import onboarding_sections, placement_sections
    from crm.privacy.access import access_sections
    from crm.privacy.signals import erasure_planned

    service.connect_signals()
    erasure_planned.connect(plan_erasure)
    access_sections.connect(placement_sections)
    access_sections.connect(onboarding_sections)
