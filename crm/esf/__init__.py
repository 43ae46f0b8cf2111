"""ESF Plus indicators: participant data at entry, at exit and six months later, and the table."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.esf import followup_link, service
    from crm.esf.privacy import esf_link_sections, esf_sections
    from crm.privacy.access import access_sections
    from crm.privacy.signals import erasure_planned

    service.connect_signals()
    erasure_planned.connect(service.plan_erasure)
    access_sections.connect(esf_sections)
    erasure_planned.connect(followup_link.plan_erasure)
    access_sections.connect(esf_link_sections)
