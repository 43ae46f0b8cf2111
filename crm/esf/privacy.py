"""The ESF domain's part of the Art. 15 access report (receiver of access_sections)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from crm.esf.labels import FIELD_LABELS, value_label
from crm.esf.models import ENTRY_FLAGS, EXIT_RESULTS, EsfFollowupLink, EsfRecord
from crm.privacy import labels as L
from crm.privacy.access import ReportEntry, ReportField, ReportSection


def esf_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[ReportSection]:
    """The ticked participants' ESF Plus data, the disability datum with its consent."""
    ids = sorted({r.id for r in refs if r.kind == "participant"})
    if not ids:
        return []
    rows = session.scalars(
        sa.select(EsfRecord).where(EsfRecord.participant_id.in_(ids)).order_by(EsfRecord.id)
    ).all()
    entries = []
    for rec in rows:
        values = [
            (key, value_label(key, getattr(rec, key)))
            for key in ("labour_status", "isced", *ENTRY_FLAGS, "disability")
        ]
        values.append(("disability_consent_on", L.fmt_date(rec.disability_consent_on)))
        values += [(f"exit_{r}", _("yes")) for r in EXIT_RESULTS if getattr(rec, f"exit_{r}")]
        values.append(("long_result", value_label("long_result", rec.long_result)))
        values.append(("long_result_on", L.fmt_date(rec.long_result_on)))
        entries.append(
            ReportEntry(
                title=_("ESF Plus data"),
                source=_("Entered by staff"),
                audit_key=("esf_record", rec.id),
                fields=[
                    ReportField(key, str(FIELD_LABELS[key]), str(value))
                    for key, value in values
                    if value
                ],
            )
        )
    if not entries:
        return []
    return [ReportSection("esf", _("ESF Plus data"), "participants", entries)]


def esf_link_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[ReportSection]:
    """The short-survey links mailed to the ticked participants, and their answers."""
    ids = sorted({r.id for r in refs if r.kind == "participant"})
    if not ids:
        return []
    rows = session.scalars(
        sa.select(EsfFollowupLink)
        .where(EsfFollowupLink.participant_id.in_(ids))
        .order_by(EsfFollowupLink.id)
    ).all()
    answers = {"yes": _("yes"), "no": _("no"), "unknown": _("not stated")}
    entries = [
        ReportEntry(
            title=_("Short survey six months after the exit"),
            source=_("Sent by the office"),
            audit_key=("esf_followup_link", link.id),
            fields=[
                ReportField(key, label, value)
                for key, label, value in (
                    ("sent_at", _("Sent"), L.fmt_datetime(link.sent_at)),
                    ("answered_at", _("Answered"), L.fmt_datetime(link.answered_at)),
                    ("employed", _("In work"), answers.get(link.employed, "")),
                    ("improved", _("Situation improved"), answers.get(link.improved, "")),
                )
                if value
            ],
        )
        for link in rows
    ]
    if not entries:
        return []
    return [
        ReportSection(
            "esf_followup_links", _("Short survey after the counselling"), "participants", entries
        )
    ]
