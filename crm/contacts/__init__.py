"""Contacts: organisations, people, activities, search, import and export."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.contacts import import_jobs
    from crm.contacts.erasure import plan_erasure
    from crm.privacy.signals import erasure_planned

    erasure_planned.connect(plan_erasure)
    import_jobs.register()
