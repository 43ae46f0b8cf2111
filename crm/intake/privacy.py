"""Inquiries in the Art. 15 report: found by the lookup, shown with their status and mails,
and the storage period of the retention rules (erasure: crm.intake.erasure).

Connected through the privacy signals (`crm.intake.connect_signals`), like every other domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, joinedload

from crm.contacts.normalize import normalize_email
from crm.intake import texts
from crm.intake.erasure import KIND, acknowledgements
from crm.intake.models import Inquiry
from crm.mail.models import OutgoingMail
from crm.outbox.labels import STATUS_LABELS as MAIL_STATUS_LABELS
from crm.privacy import labels as L
from crm.privacy.access import (
    MAX_CANDIDATES,
    Candidate,
    RecordRef,
    ReportEntry,
    ReportField,
    ReportSection,
    phone_key,
)

FIELDS = texts.REPORT_FIELDS


# --- Art. 15: lookup ----------------------------------------------------------------------------


def _folded_name() -> sa.ColumnElement[str]:
    """The name in lower case with German letters spelled out, as `search_terms` folds them.

    The inquiry stores no name key (nothing else searches it), so the lookup folds in SQL;
    accents other than German umlauts are not folded (an "é" is matched only by "é").
    """
    expr: sa.ColumnElement[str] = sa.func.lower(Inquiry.name)
    for letter, spelled in (
        ("ä", "ae"),
        ("ö", "oe"),
        ("ü", "ue"),
        ("Ä", "ae"),
        ("Ö", "oe"),
        ("Ü", "ue"),
        ("ß", "ss"),
    ):
        expr = sa.func.replace(expr, letter, spelled)
    return expr


def _digits(column: Any) -> Any:
    expr = column
    for char in (" ", "-", "/", "(", ")", ".", "+"):
        expr = sa.func.replace(expr, char, "")
    return expr


def inquiry_lookup(session: Session, *, kind: str, value: str, **_kw: Any) -> list[Candidate]:
    """Inquiries by e-mail, phone or name (receiver of access.lookup_subjects)."""
    stmt = sa.select(Inquiry)
    if kind == "email":
        stmt = stmt.where(sa.func.lower(Inquiry.email) == value)
    elif kind == "phone":
        stmt = stmt.where(
            Inquiry.phone != "", _digits(Inquiry.phone).endswith(value, autoescape=True)
        )
    else:
        folded = _folded_name()
        for term in value.split():
            stmt = stmt.where(folded.contains(term, autoescape=True))
    inquiries = session.scalars(
        stmt.options(joinedload(Inquiry.office))
        .order_by(Inquiry.created_at.desc(), Inquiry.id)
        .limit(MAX_CANDIDATES)
    ).all()
    return [
        Candidate(
            ref=RecordRef(KIND, i.id),
            name=i.name,
            kind_label=_("Inquiry"),
            emails=[e for e in (normalize_email(i.email),) if e],
            phones=[k for k in (phone_key(i.phone),) if k],
            phone_texts=[t for t in (i.phone,) if t],
            details=[
                d
                for d in (
                    L.fmt_date(i.created_at),
                    L.choice(texts.TOPIC_LABELS, i.topic),
                    L.choice(texts.STATUS_LABELS, i.status),
                    i.office.name if i.office else "",
                )
                if d
            ],
        )
        for i in inquiries
    ]


# --- Art. 15: the report ------------------------------------------------------------------------


def _mail_text(mail: OutgoingMail) -> str:
    status = L.choice(MAIL_STATUS_LABELS, mail.status)
    when = L.fmt_datetime(mail.sent_at or mail.created_at)
    return f"{mail.subject} – {mail.recipient}, {when} ({status})"


def _converted_to(inquiry: Inquiry) -> str:
    """What the inquiry became (its data is then in that record's section of the report)."""
    if inquiry.participant_id:
        return _(
            "our counselling record about you (participant no. %(id)s)", id=inquiry.participant_id
        )
    if inquiry.person_id:
        return _("our contact record about you (no. %(id)s)", id=inquiry.person_id)
    return ""


def _entry(inquiry: Inquiry, mails: list[OutgoingMail]) -> ReportEntry:
    values: list[tuple[str, str]] = [
        ("kind", L.choice(texts.KIND_LABELS, inquiry.kind)),
        ("topic", L.choice(texts.TOPIC_LABELS, inquiry.topic)),
        ("office", inquiry.office.name if inquiry.office else ""),
        ("channel", L.choice(texts.CHANNEL_LABELS, inquiry.channel)),
        ("created_at", L.fmt_datetime(inquiry.created_at)),
        ("name", inquiry.name),
        ("organisation_name", inquiry.organisation_name),
        ("email", inquiry.email),
        ("phone", inquiry.phone),
        ("contact_way", L.choice(texts.CONTACT_WAY_LABELS, inquiry.contact_way)),
        ("preferred_language", L.choice(texts.LANGUAGE_LABELS, inquiry.preferred_language)),
        ("form_language", L.choice(texts.FORM_LANGUAGE_LABELS, inquiry.form_language)),
        ("message", inquiry.message),
        (
            "source_ip_hash",
            _("stored only as a keyed hash (not readable), for the limit of the form")
            if inquiry.source_ip_hash
            else "",
        ),
        ("consent_version", inquiry.consent_version),
        ("consented_at", L.fmt_datetime(inquiry.consented_at)),
        ("consent_text", inquiry.consent_text),
        ("status", L.choice(texts.STATUS_LABELS, inquiry.status)),
        ("assigned_to", inquiry.assigned_to.display_name if inquiry.assigned_to else ""),
        ("assigned_at", L.fmt_datetime(inquiry.assigned_at)),
        ("first_contact_at", L.fmt_datetime(inquiry.first_contact_at)),
        ("closed_at", L.fmt_datetime(inquiry.closed_at)),
        ("close_reason", L.choice(texts.CLOSE_REASON_LABELS, inquiry.close_reason or None)),
        ("close_note", inquiry.close_note),
        ("created_by", inquiry.created_by.display_name if inquiry.created_by else ""),
        ("converted_at", L.fmt_datetime(inquiry.converted_at)),
        ("converted_to", _converted_to(inquiry)),
    ]
    values += [("acknowledgement", _mail_text(m)) for m in mails]
    if inquiry.channel == "web":
        source = _("You sent it with the inquiry form on our website.")
    elif inquiry.created_by is not None:
        source = _("Taken down by %(name)s during your call.", name=inquiry.created_by.display_name)
    else:
        source = _("Taken down by staff.")
    return ReportEntry(
        title=_(
            "Inquiry of %(date)s: %(topic)s",
            date=L.fmt_date(inquiry.created_at),
            topic=L.choice(texts.TOPIC_LABELS, inquiry.topic),
        ),
        source=source,
        fields=[
            ReportField(key, str(FIELDS[key]), text.strip())
            for key, text in values
            if text and text.strip()
        ],
    )


def inquiry_sections(session: Session, *, refs: list[Any], **_kw: Any) -> list[ReportSection]:
    """The ticked inquiries, and those converted into a ticked person or participant, with their
    fields, status and mails (receiver of access_sections)."""
    ids = sorted({r.id for r in refs if r.kind == KIND})
    people = sorted({r.id for r in refs if r.kind == "person"})
    participants = sorted({r.id for r in refs if r.kind == "participant"})
    if not (ids or people or participants):
        return []
    # The inquiry a record was made from is part of what we hold about that person.
    wanted = sa.or_(
        Inquiry.id.in_(ids), Inquiry.person_id.in_(people), Inquiry.participant_id.in_(participants)
    )
    inquiries = session.scalars(
        sa.select(Inquiry)
        .where(wanted)
        .options(
            joinedload(Inquiry.office),
            joinedload(Inquiry.assigned_to),
            joinedload(Inquiry.created_by),
        )
        .order_by(Inquiry.created_at, Inquiry.id)
    ).all()
    mails = acknowledgements(session, inquiries)
    if not inquiries:
        return []
    entries = [_entry(i, mails.get(i.id, [])) for i in inquiries]
    return [
        ReportSection(
            "inquiries",
            _("Inquiries"),
            "inquiries",
            entries,
            note=_(
                "Your inquiries to us and what happened to them. An inquiry is not a contact "
                "record: it becomes one only when we agree with you to stay in contact."
            ),
        )
    ]


def inquiry_storage_periods(
    session: Session, *, config: Mapping[str, Any], **_kw: Any
) -> list[tuple[str, str]]:
    """The inquiries' retention rules as the report states them (receiver of storage_periods)."""
    from crm.privacy import retention

    values = retention.settings(session, config)
    return [
        (
            "inquiries",
            _(
                "Inquiries: erased %(closed)d months after they were closed; an inquiry nobody "
                "has worked on is erased %(untouched)d months after its last change.",
                closed=values["inquiries_closed"],
                untouched=values["inquiries_untouched"],
            ),
        )
    ]
