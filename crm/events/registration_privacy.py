"""Event registrations in the Art. 15 report: found by the lookup (address or name), shown
with their answers, consent and status, and the storage period of their retention rule.

Connected through the privacy signals (`crm.events.connect_signals`). A registration linked to
a contact is also shown when the contact is ticked; its erasure is part of the contact's
(crm.events.erasure), and a standalone one goes with the retention rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, joinedload

from crm.contacts.normalize import normalize_email
from crm.events.forms import REGISTRATION_STATUS_LABELS
from crm.events.models import EventRegistration
from crm.privacy import labels as L
from crm.privacy.access import (
    MAX_CANDIDATES,
    Candidate,
    RecordRef,
    ReportEntry,
    ReportField,
    ReportSection,
)

KIND = "event_registration"
FIELDS = L.EVENT_REGISTRATION


def registration_lookup(session: Session, *, kind: str, value: str, **_kw: Any) -> list[Candidate]:
    """Registrations by e-mail or name (receiver of access.lookup_subjects)."""
    stmt = sa.select(EventRegistration)
    if kind == "email":
        stmt = stmt.where(EventRegistration.email_key == value)
    elif kind == "phone":
        return []
    else:
        for term in value.split():
            stmt = stmt.where(EventRegistration.name.icontains(term, autoescape=True))
    rows = session.scalars(
        stmt.options(joinedload(EventRegistration.event))
        .order_by(EventRegistration.created_at.desc(), EventRegistration.id)
        .limit(MAX_CANDIDATES)
    ).all()
    return [
        Candidate(
            ref=RecordRef(KIND, r.id),
            name=r.name,
            kind_label=_("Event registration"),
            emails=[e for e in (normalize_email(r.email),) if e],
            details=[
                r.event.title,
                L.fmt_date(r.event.starts_at),
                L.choice(REGISTRATION_STATUS_LABELS, r.status),
            ],
        )
        for r in rows
    ]


def _entry(r: EventRegistration) -> ReportEntry:
    values = [
        ("event", f"{r.event.title}, {L.fmt_datetime(r.event.starts_at)}"),
        ("name", r.name),
        ("email", r.email),
        ("organisation", r.organisation),
        ("dietary", r.dietary),
        ("accessibility", r.accessibility),
        ("status", L.choice(REGISTRATION_STATUS_LABELS, r.status)),
        ("queued_at", L.fmt_datetime(r.queued_at)),
        ("cancelled_at", L.fmt_datetime(r.cancelled_at)),
        ("checked_in_at", L.fmt_datetime(r.checked_in_at)),
        ("share_consent", _("yes") if r.share_consent else _("no")),
        ("consent_text", r.consent_text),
        ("consent_version", r.consent_version),
        ("consented_at", L.fmt_datetime(r.consented_at)),
    ]
    return ReportEntry(
        title=_("Registration for %(title)s", title=r.event.title),
        source=_("You registered on our public registration page."),
        audit_key=(KIND, r.id),
        fields=[
            ReportField(key, str(FIELDS[key]), text.strip())
            for key, text in values
            if text and text.strip()
        ],
    )


def registration_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[ReportSection]:
    """The ticked registrations and those of the ticked contacts (receiver of access_sections)."""
    ids = sorted({r.id for r in refs if r.kind == KIND})
    people = sorted({r.id for r in refs if r.kind == "person"})
    if not ids and not people:
        return []
    rows = session.scalars(
        sa.select(EventRegistration)
        .where(
            sa.or_(
                EventRegistration.id.in_(ids),
                EventRegistration.person_id.in_(people),
            )
        )
        .options(joinedload(EventRegistration.event))
        .order_by(EventRegistration.created_at, EventRegistration.id)
    ).all()
    if not rows:
        return []
    return [
        ReportSection(
            "event_registrations",
            _("Event registrations"),
            "events",
            [_entry(r) for r in rows],
        )
    ]


def registration_storage_periods(
    session: Session, *, config: Mapping[str, Any], **_kw: Any
) -> list[tuple[str, str]]:
    """The registrations' retention rule as the report states it (receiver of storage_periods)."""
    from crm.privacy import retention

    months = retention.settings(session, config)["event_registrations"]
    return [
        (
            "events",
            _(
                "Event registrations: deleted %(n)d months after the event.",
                n=months,
            ),
        )
    ]
