"""The audit log table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime, utcnow
from crm.extensions import db


class AuditEntry(db.Model):
    """One recorded event: a change to a record, a login, an export, a view of sensitive data."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # No foreign key: the log must outlive the user and never block deleting one.
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(200), default="")
    action: Mapped[str] = mapped_column(sa.String(40), index=True)
    entity_type: Mapped[str] = mapped_column(sa.String(60), default="", index=True)
    entity_id: Mapped[int | None] = mapped_column()
    # {"fields": [...changed field names...], "values": {field: [old, new]} for
    # non-personal fields only}
    changes: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")

    __table_args__ = (sa.Index("ix_audit_entry_entity", "entity_type", "entity_id"),)
