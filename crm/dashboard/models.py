"""Weekly targets of the project year (one row per ISO week-year, optionally per office)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import TimestampMixin
from crm.extensions import db


class WeeklyTarget(TimestampMixin, db.Model):
    """How many entries and exits per ISO week the project has promised for a year.

    Without a row the configured defaults apply (CRM_TARGET_ENTRIES_PER_WEEK /
    CRM_TARGET_EXITS_PER_WEEK, 1 each).
    """

    __tablename__ = "weekly_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(unique=True)
    entries_per_week: Mapped[float] = mapped_column(sa.Numeric(6, 2, asdecimal=False), default=1)
    exits_per_week: Mapped[float] = mapped_column(sa.Numeric(6, 2, asdecimal=False), default=1)

    __table_args__ = (
        sa.CheckConstraint("entries_per_week >= 0", name="entries_not_negative"),
        sa.CheckConstraint("exits_per_week >= 0", name="exits_not_negative"),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="year_plausible"),
    )
