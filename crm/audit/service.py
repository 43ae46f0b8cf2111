"""Writing the audit log: automatically on flush for audited models, explicitly for events."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from crm.audit.mixins import Audited
from crm.audit.models import AuditEntry
from crm.database import utcnow


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, or a named system process such as the scheduler."""

    user_id: int | None
    label: str
    ip: str = ""


SYSTEM = Actor(None, "system")
_actor_override: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)
# The web app registers a provider that reads the logged-in user; the audit service itself
# never touches the request.
_actor_provider: Callable[[], Actor | None] | None = None


def set_actor_provider(provider: Callable[[], Actor | None]) -> None:
    """Register the function that tells who is acting in a web request."""
    global _actor_provider
    _actor_provider = provider


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Attribute audit entries written inside the block to `actor` (CLI, scheduler, tests)."""
    token = _actor_override.set(actor)
    try:
        yield
    finally:
        _actor_override.reset(token)


def current_actor() -> Actor:
    """The actor for entries written now."""
    override = _actor_override.get()
    if override is not None:
        return override
    if _actor_provider is not None:
        actor = _actor_provider()
        if actor is not None:
            return actor
    return SYSTEM


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _changes(obj: Audited, *, deleted: bool = False, created: bool = False) -> dict[str, Any]:
    state = inspect(obj)
    fields: list[str] = []
    values: dict[str, list[Any]] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in obj.__audit_ignore__ or key == "id":
            continue
        hist = state.attrs[key].history
        if created:
            if getattr(obj, key) is None:
                continue
            old, new = None, getattr(obj, key)
        elif deleted:
            continue
        else:
            if not hist.has_changes():
                continue
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if old == new:
                continue
        fields.append(key)
        if key in obj.__audit_values__:
            values[key] = [_jsonable(old), _jsonable(new)]
    return {"fields": fields, "values": values}


def _entity_type(obj: object) -> str:
    return getattr(obj, "__tablename__", type(obj).__name__.lower())


def _entry_row(actor: Actor, action: str, obj: Audited, changes: dict[str, Any] | None) -> dict:
    return {
        "at": utcnow(),
        "actor_id": actor.user_id,
        "actor_label": actor.label[:200],
        "action": action,
        "entity_type": _entity_type(obj),
        "entity_id": getattr(obj, "id", None),
        "changes": changes,
        "summary": obj.audit_label()[:300],
        "ip": actor.ip[:64],
    }


def _after_flush(session: Session, _ctx: Any) -> None:
    rows: list[dict] = []
    actor: Actor | None = None
    for bucket, action in ((session.new, "create"), (session.dirty, "update")):
        for obj in bucket:
            if not isinstance(obj, Audited):
                continue
            if action == "update" and not session.is_modified(obj, include_collections=False):
                continue
            changes = _changes(obj, created=action == "create")
            if action == "update" and not changes["fields"]:
                continue
            actor = actor or current_actor()
            rows.append(_entry_row(actor, action, obj, changes))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            actor = actor or current_actor()
            rows.append(_entry_row(actor, "delete", obj, None))
    if rows:
        # Executed on the flushing connection: the entries commit or roll back together with
        # the change they describe.
        session.connection().execute(sa.insert(AuditEntry), rows)


def install(session_class: type[Session] | Any) -> None:
    """Attach the audit hook to a session class or scoped session (idempotent)."""
    if not event.contains(session_class, "after_flush", _after_flush):
        event.listen(session_class, "after_flush", _after_flush)


def record(
    session: Session,
    action: str,
    *,
    entity_type: str = "",
    entity_id: int | None = None,
    summary: str = "",
    changes: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """Write an explicit audit entry (logins, exports, views, merges) in the current transaction."""
    who = actor or current_actor()
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=who.user_id,
            actor_label=who.label[:200],
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            changes=changes,
            summary=summary[:300],
            ip=who.ip[:64],
        )
    )


def record_each(
    session: Session,
    action: str,
    *,
    entity_type: str,
    entities: list[tuple[int, str]],
    actor: Actor | None = None,
) -> None:
    """One entry per (id, summary) in one statement (e.g. every participant in a hit list)."""
    if not entities:
        return
    who = actor or current_actor()
    now = utcnow()
    rows = [
        {
            "at": now,
            "actor_id": who.user_id,
            "actor_label": who.label[:200],
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "changes": None,
            "summary": summary[:300],
            "ip": who.ip[:64],
        }
        for entity_id, summary in entities
    ]
    session.execute(sa.insert(AuditEntry), rows)


def record_row_changes(
    session: Session,
    action: str,
    changes: list[Any],
    *,
    summary: str = "",
    actor: Actor | None = None,
) -> None:
    """One entry per changed row (table, id, field, old and new id) in the current transaction.

    For rows changed by bulk statements, which the flush hook never sees.
    """
    if not changes:
        return
    who = actor or current_actor()
    rows = [
        {
            "at": utcnow(),
            "actor_id": who.user_id,
            "actor_label": who.label[:200],
            "action": action,
            "entity_type": change.table,
            "entity_id": change.row_id,
            "changes": {
                "fields": [change.field],
                "values": {change.field: [_jsonable(change.old), _jsonable(change.new)]},
            },
            "summary": summary[:300],
            "ip": who.ip[:64],
        }
        for change in changes
    ]
    session.execute(sa.insert(AuditEntry), rows)


def query_entries(
    session: Session,
    *,
    action: str | None = None,
    entity_type: str | None = None,
    actor_id: int | None = None,
    entity_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditEntry], int]:
    """A filtered page of audit entries, newest first, and the total count."""
    stmt = sa.select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    page = max(page, 1)
    items = session.scalars(
        stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(items), total
