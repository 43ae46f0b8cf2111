"""Signals through which domains take part in each other's writes (merge and delete of contacts).

A domain connects its handlers in its own `connect_signals()`, which `create_app` calls; the
domain that performs the write sends the signal and never imports the others. Handlers return
what they did, so the sender can audit every row another domain changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from sqlalchemy.orm import Session

_signals = Namespace()

merge_impact = _signals.signal("merge-impact")
"""Before a merge: `send(entity_type, session=, keep_id=, drop_id=)`; a handler returns a
`MergeImpact` if the merge would touch its domain's data in a way that needs a permission."""

delete_impact = _signals.signal("delete-impact")
"""Before deleting a contact: `send(entity_type, session=, record_id=)`; a handler returns a
`MergeImpact` if the deletion would remove or unlink its domain's data that needs a permission."""

deleting = _signals.signal("deleting")
"""Just before deleting a contact: `send(entity_type, session=, record_id=)`; a handler returns
the `RowChange`s the database's ON DELETE rules are about to make to its rows, for the audit."""

merging = _signals.signal("merging")
"""During a merge: `send(entity_type, session=, keep_id=, drop_id=)`; a handler moves its own
references from the merged-away record and returns the `RowChange`s it made."""

case_followup_moved = _signals.signal("case-followup-moved")
"""After a follow-up that keeps a participant's case date got a new due date on the follow-up
pages (snoozed or edited): `send(kind, session=, participant_id=, due_date=)`; the
participants domain moves its date along, so the two never disagree."""

exit_changed = _signals.signal("exit-changed")
"""After a participant's exit was recorded, moved or withdrawn (crm.participants.service
.record_exit): `send(participant, session=)`; the ESF domain keeps its six-month follow-up."""


@dataclass(frozen=True)
class MergeImpact:
    """What a merge or delete would touch in another domain, and the permission that needs."""

    permission: str
    message: Any  # a lazy string shown when the merge is refused
    # After a merge: a lazy string saying what needs doing, and the endpoint of that page
    # (called with `organisation=<kept id>`).
    notice: Any = None
    follow_up_endpoint: str = ""


@dataclass(frozen=True)
class RowChange:
    """One row a signal handler changed: table, primary key, field, old and new value."""

    table: str
    row_id: int
    field: str
    old: Any = None
    new: Any = None


def move_column(
    session: Session, attribute: Any, keep_id: int, drop_id: int, *, where: Any = None
) -> list[RowChange]:
    """Point every row whose mapped `attribute` is `drop_id` (and matches `where`) at
    `keep_id`; return the changes."""
    model = attribute.class_
    stmt = sa.select(model.id).where(attribute == drop_id)
    if where is not None:
        stmt = stmt.where(where)
    ids = list(session.scalars(stmt.order_by(model.id)))
    if ids:
        # ORM-enabled update: objects already in the session see the new value too.
        session.execute(sa.update(model).where(model.id.in_(ids)).values({attribute.key: keep_id}))
    return [RowChange(model.__tablename__, i, attribute.key, drop_id, keep_id) for i in ids]


def delete_where(session: Session, model: Any, clause: Any, field: str) -> list[RowChange]:
    """Delete the rows of `model` matching `clause`; return them as changes of `field`."""
    ids = list(session.scalars(sa.select(model.id).where(clause).order_by(model.id)))
    if ids:
        session.execute(sa.delete(model).where(model.id.in_(ids)))
    return [RowChange(model.__tablename__, i, field, "deleted", None) for i in ids]


def collect(results: Iterable[tuple[Any, Any]]) -> list[Any]:
    """Flatten what the handlers of one `send` returned (None and empty lists left out)."""
    out: list[Any] = []
    for _receiver, value in results:
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out.extend(value)
        else:
            out.append(value)
    return out
