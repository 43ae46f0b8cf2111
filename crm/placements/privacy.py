"""The placements domain's part of the Art. 15 access report (receiver of access_sections)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, joinedload

from crm.placements.forms import KIND_LABELS, STATUS_LABELS
from crm.placements.models import FirmSupport, Placement
from crm.privacy import labels as L
from crm.privacy.access import ReportEntry, ReportField, ReportSection


def placement_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[ReportSection]:
    """The ticked participants' placements: firm, kind, status, period, need and note."""
    ids = sorted({r.id for r in refs if r.kind == "participant"})
    if not ids:
        return []
    rows = session.scalars(
        sa.select(Placement)
        .where(Placement.participant_id.in_(ids))
        .options(joinedload(Placement.organisation), joinedload(Placement.need))
        .order_by(Placement.starts_on, Placement.id)
    ).all()
    labels = {
        "organisation": _("Firm"),
        "kind": _("Kind"),
        "status": _("Status"),
        "starts_on": _("Start"),
        "ends_on": _("End"),
        "need": _("Qualification need it fills"),
        "note": _("Note"),
    }
    entries = []
    for pl in rows:
        values = [
            ("organisation", pl.organisation.name),
            ("kind", L.choice(KIND_LABELS, pl.kind)),
            ("status", L.choice(STATUS_LABELS, pl.status)),
            ("starts_on", L.fmt_date(pl.starts_on)),
            ("ends_on", L.fmt_date(pl.ends_on)),
            ("need", pl.need.occupation if pl.need else ""),
            ("note", pl.note),
        ]
        entries.append(
            ReportEntry(
                title=f"{pl.organisation.name}, {L.fmt_date(pl.starts_on)}",
                source=_("Entered by staff"),
                audit_key=("placement", pl.id),
                fields=[
                    ReportField(key, labels[key], value.strip())
                    for key, value in values
                    if value and value.strip()
                ],
            )
        )
    if not entries:
        return []
    return [ReportSection("placements", _("Placements"), "participants", entries)]


def onboarding_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[ReportSection]:
    """The firms' checklists that name the ticked people as onboarding contact."""
    ids = sorted({r.id for r in refs if r.kind == "person"})
    if not ids:
        return []
    rows = session.scalars(
        sa.select(FirmSupport)
        .where(FirmSupport.onboarding_person_id.in_(ids))
        .options(joinedload(FirmSupport.organisation))
        .order_by(FirmSupport.id)
    ).all()
    entries = [
        ReportEntry(
            title=fs.organisation.name,
            source=_("Entered by staff"),
            audit_key=("firm_support", fs.id),
            fields=[
                ReportField("organisation", _("Firm"), fs.organisation.name),
                ReportField(
                    "role", _("Role"), _("Onboarding contact for people placed with the firm")
                ),
            ],
        )
        for fs in rows
    ]
    if not entries:
        return []
    return [ReportSection("onboarding_contacts", _("Onboarding contact"), "contacts", entries)]
