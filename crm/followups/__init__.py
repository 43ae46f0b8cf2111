"""Follow-ups (Wiedervorlagen): due dates, assignees, reminders by e-mail."""

from __future__ import annotations


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.followups import service
    from crm.followups.erasure import plan_erasure
    from crm.privacy.signals import erasure_planned

    service.connect_signals()
    erasure_planned.connect(plan_erasure)
