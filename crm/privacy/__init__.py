"""DSGVO rights: access (Art. 15), erasure (Art. 17) and retention after exit."""

from __future__ import annotations

from typing import Any


def _close_retention_review(session: Any, *, plan: Any) -> None:
    import sqlalchemy as sa

    from crm.database import utcnow
    from crm.privacy.models import RetentionReview

    if plan.subject.kind != "participant":
        return
    ids = session.scalars(
        sa.select(RetentionReview.id).where(RetentionReview.participant_id == plan.subject.id)
    )
    plan.anonymise(
        RetentionReview,
        ids,
        {"status": "done", "decided_at": utcnow()},
        "retention",
        owned=False,
        order=80,
    )


def connect_signals() -> None:
    """Connect this domain's receivers (called by create_app)."""
    from crm.privacy import access
    from crm.privacy.signals import erasure_planned

    access.connect_signals()
    erasure_planned.connect(_close_retention_review)
