"""Snapshots of every table, to see which rows a write changed (invariants about everyone else)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.extensions import db

Snapshot = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


def snapshot(session: Session, *, skip: frozenset[str] = frozenset()) -> Snapshot:
    """Every row of every table (except `skip`), keyed by table name and primary key."""
    out: Snapshot = {}
    for table in db.metadata.sorted_tables:
        if table.name in skip:
            continue
        key_columns = list(table.primary_key.columns) or list(table.columns)
        rows = session.execute(sa.select(table)).all()
        out[table.name] = {tuple(row._mapping[c] for c in key_columns): tuple(row) for row in rows}
    return out


def changed_rows(before: Snapshot, after: Snapshot) -> dict[str, set[tuple[Any, ...]]]:
    """Per table, the primary keys of rows inserted, updated or deleted between two snapshots."""
    changed: dict[str, set[tuple[Any, ...]]] = {}
    for name in before.keys() | after.keys():
        old, new = before.get(name, {}), after.get(name, {})
        keys = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        if keys:
            changed[name] = keys
    return changed
