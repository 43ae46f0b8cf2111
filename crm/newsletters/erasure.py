"""The newsletter domain's part of an erasure: subscriptions, consent records, deliveries.

The consent ledger is append-only: a trigger refuses any change of an entry's content, so
her entries cannot be emptied field by field. They are deleted by subject id (the ledger's
sanctioned path, the same one deleting a person always took); entries of everybody else,
even with the same e-mail address, are never read or touched. Keeping her entries as proof
would keep her address and IP, which the erasure request is about; the erasure record keeps
the ids and the legal basis instead.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.newsletters.models import ConsentEvent, Delivery, Signup, Subscription


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Her ledger entries first (they point at her subscriptions), then deliveries, then those."""
    if plan.subject.kind != "person":
        return
    pid = plan.subject.id
    for model, order in ((ConsentEvent, 10), (Delivery, 10), (Subscription, 20)):
        ids = session.scalars(sa.select(model.id).where(model.person_id == pid))
        plan.delete(model, ids, "newsletter", order=order)
    # A waiting sign-up names nobody by id, only by address: hers are those with her addresses.
    addresses = [a.lower() for a in plan.subject.emails if a]
    if addresses:
        ids = session.scalars(sa.select(Signup.id).where(Signup.email.in_(addresses)))
        plan.delete(Signup, ids, "newsletter", order=10)
