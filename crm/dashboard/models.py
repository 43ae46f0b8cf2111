"""Saved funder report definitions ("Zwischenbericht Stadt", "ESF-Halbjahresmeldung")."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.audit.mixins import Audited
from crm.database import TimestampMixin
from crm.extensions import db

DEFINITION_PRESETS = ("year", "half", "100d", "term", "custom")


class ReportDefinition(Audited, TimestampMixin, db.Model):
    """A named period for the funder report: a preset, or fixed dates for "custom"."""

    __tablename__ = "report_definition"
    __audit_values__ = frozenset({"name", "preset", "start_on", "end_on"})

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    preset: Mapped[str] = mapped_column(sa.String(10))
    start_on: Mapped[date | None] = mapped_column(sa.Date)
    end_on: Mapped[date | None] = mapped_column(sa.Date)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        sa.CheckConstraint(
            "preset IN (" + ", ".join(f"'{p}'" for p in DEFINITION_PRESETS) + ")",
            name="preset_valid",
        ),
        sa.CheckConstraint(
            "preset != 'custom' OR (start_on IS NOT NULL AND end_on IS NOT NULL"
            " AND end_on >= start_on)",
            name="custom_has_dates",
        ),
    )

    def audit_label(self) -> str:
        return f"Berichtsdefinition {self.name}"


class ProjectTerm(Audited, TimestampMixin, db.Model):
    """The funded project's term (Projektlaufzeit), set by an admin; one row at most.

    Without a row the environment (CRM_PROJECT_START/CRM_PROJECT_END) still applies
    (crm.dashboard.term).
    """

    __tablename__ = "project_term"
    __audit_values__ = frozenset({"name", "start_on", "end_on"})

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    start_on: Mapped[date] = mapped_column(sa.Date)
    end_on: Mapped[date] = mapped_column(sa.Date)

    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("end_on >= start_on", name="ordered"),
    )

    def audit_label(self) -> str:
        return "Projektlaufzeit"
