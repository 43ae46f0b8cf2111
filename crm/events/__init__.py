"""Events (Termine): single dates, series, fair planning, leads, iCal."""

from __future__ import annotations

from typing import Any


def _revoke_feed_tokens(session: Any, *, user: Any, at: Any) -> None:
    from crm.events import ical

    ical.revoke_tokens(session, user.id, at)


def connect_signals() -> None:
    """Connect this domain's receivers to other domains' signals (called by create_app)."""
    from crm.accounts.signals import user_deactivated
    from crm.events.erasure import plan_erasure
    from crm.privacy.signals import erasure_planned

    user_deactivated.connect(_revoke_feed_tokens)
    erasure_planned.connect(plan_erasure)
