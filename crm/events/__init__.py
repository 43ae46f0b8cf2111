"""Events (Termine): single dates, series, fair planning, leads, iCal."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.events import invitation_jobs, registration_privacy, service
    from crm.events.erasure import plan_erasure, plan_registration_erasure
    from crm.privacy.access import access_sections, lookup_subjects, storage_periods
    from crm.privacy.signals import erasure_planned

    service.connect_signals()
    invitation_jobs.register()
    erasure_planned.connect(plan_erasure)
    erasure_planned.connect(plan_registration_erasure)
    lookup_subjects.connect(registration_privacy.registration_lookup)
    access_sections.connect(registration_privacy.registration_sections)
    storage_periods.connect(registration_privacy.registration_storage_periods)
