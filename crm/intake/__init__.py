"""Inquiries (Anfragen): the public form, the hotline capture, the queue and its assignment."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to the privacy signals (called by create_app)."""
    from crm.intake import erasure, privacy
    from crm.privacy.access import access_sections, lookup_subjects, storage_periods
    from crm.privacy.signals import erasure_planned

    lookup_subjects.connect(privacy.inquiry_lookup)
    access_sections.connect(privacy.inquiry_sections)
    storage_periods.connect(privacy.inquiry_storage_periods)
    erasure_planned.connect(erasure.plan_erasure)
