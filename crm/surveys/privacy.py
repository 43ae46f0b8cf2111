"""The surveys' part of the Art. 15 access report: the survey links sent to her."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from crm.contacts.models import Organisation
from crm.privacy import labels as L
from crm.privacy.access import ReportEntry, ReportField, ReportSection
from crm.surveys.models import SurveyRecipient, SurveyRound


def survey_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[ReportSection]:
    """The survey rounds whose personal link went to the ticked people."""
    ids = sorted({r.id for r in refs if r.kind == "person"})
    if not ids:
        return []
    rows = session.execute(
        sa.select(SurveyRecipient, SurveyRound.name, Organisation.name)
        .join(SurveyRound, SurveyRound.id == SurveyRecipient.round_id)
        .join(Organisation, Organisation.id == SurveyRecipient.organisation_id)
        .where(SurveyRecipient.person_id.in_(ids))
        .order_by(SurveyRecipient.id)
    ).all()
    labels = {
        "organisation": _("Organisation"),
        "email": _("E-mail address"),
        "invited_at": _("Invited"),
        "reminded_at": _("Reminded"),
        "responded_at": _("Answered"),
    }
    entries = [
        ReportEntry(
            title=round_name,
            source=_("Sent by the office"),
            audit_key=("survey_recipient", r.id),
            fields=[
                ReportField(key, labels[key], value)
                for key, value in (
                    ("organisation", org_name),
                    ("email", r.email),
                    ("invited_at", L.fmt_datetime(r.invited_at)),
                    ("reminded_at", L.fmt_datetime(r.reminded_at)),
                    ("responded_at", L.fmt_datetime(r.responded_at)),
                )
                if value
            ],
        )
        for r, round_name, org_name in rows
    ]
    return [ReportSection("survey_recipients", _("Needs surveys sent to you"), "contacts", entries)]
