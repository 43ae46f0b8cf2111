"""Needs surveys (Bedarfsanalysen): versioned questionnaires sent to organisations in rounds
with personal links; the answers of the needs matrix become qualification needs."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.privacy.access import access_sections
    from crm.privacy.signals import erasure_planned
    from crm.surveys import sending
    from crm.surveys.erasure import plan_erasure
    from crm.surveys.privacy import survey_sections
    from crm.surveys.service import connect_signals as connect_service

    connect_service()
    sending.register()
    erasure_planned.connect(plan_erasure)
    access_sections.connect(survey_sections)
