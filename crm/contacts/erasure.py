"""The contacts domain's part of an erasure: the person, her links, activities and imports."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.models import (
    Activity,
    Affiliation,
    ContactListMember,
    DistinctPair,
    Person,
    person_tag,
)
from crm.database import utcnow
from crm.jobs.models import JobFile

# Report reasons whose "id" names an existing person (see importer._dup_reason).
_PERSON_REASONS = {"dup_email", "dup_phone", "dup_name", "created_anyway"}


def _scrub_report(report: Any, person_id: int, emails: set[str]) -> Any:
    """The import report without reasons that name the person (her id or e-mail)."""
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        return report

    def names_her(reason: Any) -> bool:
        code, params = (reason + [None, None])[:2] if isinstance(reason, list) else (None, None)
        if not isinstance(params, dict):
            return False
        if code in _PERSON_REASONS and params.get("id") == person_id:
            return True
        return str(params.get("value", "")).strip().lower() in emails

    rows = []
    for row in report["rows"]:
        if isinstance(row, list) and len(row) == 3 and isinstance(row[2], list):
            row = [row[0], row[1], [r for r in row[2] if not names_her(r)]]
        rows.append(row)
    return {**report, "rows": rows}


def plan_erasure(session: Session, *, plan: Any) -> None:
    """Rows of a contact person: deleted; activities at a firm stay without her."""
    subject = plan.subject
    if subject.kind != "person":
        return
    pid = subject.id
    activities = session.execute(
        sa.select(Activity.id, Activity.organisation_id).where(Activity.person_id == pid)
    ).all()
    at_firm = [a for a, org in activities if org is not None]
    plan.delete(Activity, [a for a, org in activities if org is None], "activities", order=10)
    # The firm's history keeps the contact, no longer linked to her; its text only changes
    # where the admin confirms a mention.
    plan.anonymise(Activity, at_firm, {"person_id": None}, "activities", owned=False, order=5)
    plan.check_text(Activity, at_firm, ("subject", "text"), _l("Activity"))

    aff_ids = list(session.scalars(sa.select(Affiliation.id).where(Affiliation.person_id == pid)))
    plan.delete(Affiliation, aff_ids, "affiliations", order=10)
    if session.scalar(sa.select(sa.func.count()).where(person_tag.c.person_id == pid)):
        plan.delete(person_tag, [pid], "tags", key="person_id", order=10)
    if session.scalar(sa.select(sa.func.count()).where(ContactListMember.person_id == pid)):
        plan.delete(ContactListMember, [pid], "tags", key="person_id", order=10)

    items = session.execute(
        sa.select(ImportItem.id, ImportItem.job_id).where(
            sa.or_(
                sa.and_(ImportItem.entity_type == "person", ImportItem.entity_id == pid),
                sa.and_(ImportItem.entity_type == "affiliation", ImportItem.entity_id.in_(aff_ids)),
            )
        )
    ).all()
    plan.delete(ImportItem, [i for i, _j in items], "imports", order=10)
    emails = {e.lower() for e in subject.emails}
    job_ids = {j for _i, j in items}
    # Jobs whose report names her by id (a row skipped as her duplicate) hold her row, too.
    for job_id, report in session.execute(
        sa.select(ImportJob.id, ImportJob.report).where(ImportJob.report.is_not(None))
    ):
        if _scrub_report(report, pid, emails) != report:
            job_ids.add(job_id)
    for job in session.scalars(
        sa.select(ImportJob).where(ImportJob.id.in_(job_ids)).order_by(ImportJob.id)
    ):
        values: dict[str, Any] = {"report": _scrub_report(job.report, pid, emails)}
        if job.file_removed_at is None:
            # The uploaded file holds her row; it goes.
            values["file_removed_at"] = utcnow()
            file_ids = list(session.scalars(sa.select(JobFile.id).where(JobFile.key == job.uuid)))
            plan.delete(JobFile, file_ids, "imports", order=10)
        plan.anonymise(ImportJob, [job.id], values, "imports", owned=False, order=10)

    # "Not the same as record #N" marks of the duplicates page name her record.
    marks = session.scalars(
        sa.select(DistinctPair.id).where(
            DistinctPair.kind == "person",
            sa.or_(DistinctPair.first_id == pid, DistinctPair.second_id == pid),
        )
    )
    plan.delete(DistinctPair, list(marks), "contact", order=10)
    plan.delete(Person, [pid], "contact", order=90)
