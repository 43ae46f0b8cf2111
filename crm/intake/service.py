"""Inquiries: create (public form, hotline), assign by rule, work the queue, acknowledge.

Services take the session and plain values; the views, the demo data and the tests call them.
Nothing here writes to people or organisations: an inquiry stays its own record until it is
converted (a later step), so spam never enters the contacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session, joinedload

from crm import public_forms
from crm.accounts.absences import absent_user_ids
from crm.accounts.models import Role, User, user_office
from crm.intake.models import OPEN_STATUSES, Inquiry, IntakeAttempt, IntakeRule
from crm.mail import build_message
from crm.mail.queue import enqueue, mail_domain
from crm.public_forms import Limit as Limit
from crm.public_forms import hash_ip as hash_ip
from crm.public_forms import ip_bucket as ip_bucket

BERLIN = ZoneInfo("Europe/Berlin")
# Admins and leads see every inquiry and may reassign; everybody else sees their own scope.
SUPERVISING = (Role.ADMIN.value, Role.LEAD.value)
# Roles an inquiry can be assigned to (a read-only account cannot answer anybody).
ASSIGNABLE_ROLES = (Role.ADMIN.value, Role.LEAD.value, Role.COUNSELLOR.value, Role.STAFF.value)
# Leads (and admins) read for the fallback: enough to find one who is not absent.
FALLBACK_SCAN = 20


class IntakeError(ValueError):
    """A refused change, with a message for the user."""


# --- the public form's limit -----------------------------------------------------------------


def throttled(session: Session, ip_hash: str, limit: Limit, now: datetime) -> bool:
    """True if this address has posted the form too often within the window."""
    return public_forms.throttled(session, IntakeAttempt, ip_hash, limit, now)


def record_attempt(session: Session, ip_hash: str, now: datetime) -> None:
    """Count one post of the form (in the caller's transaction)."""
    public_forms.record_attempt(session, IntakeAttempt, ip_hash, now)


def purge_attempts(session: Session, older_than: datetime) -> int:
    """Delete counted posts older than the given moment."""
    return public_forms.purge_attempts(session, IntakeAttempt, older_than)


# --- deadline ---------------------------------------------------------------------------------


def working_days_after(start: datetime, days: int) -> datetime:
    """`start` moved on by `days` working days (Monday to Friday, Berlin time); a start on a
    weekend counts from the next Monday morning. Public holidays are not modelled."""
    local = start.astimezone(BERLIN)
    while local.weekday() >= 5:
        local = (local + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    added = 0
    while added < days:
        local += timedelta(days=1)
        if local.weekday() < 5:
            added += 1
    return local.astimezone(start.tzinfo)


# --- assignment ---------------------------------------------------------------------------------


def _active(users: Sequence[User]) -> list[User]:
    return [u for u in users if u.is_active and u.role in ASSIGNABLE_ROLES]


def _round_robin(rule: IntakeRule, absent: set[int]) -> User | None:
    """The next active eligible user after the one who got the previous inquiry, skipping
    users absent today.

    The turn is a pointer into the rule's users ordered by id. An absent user is passed over
    while away and takes part again from the day they are back, at their place in the order;
    the inquiries they missed are not made up afterwards (a returning colleague would otherwise
    get every new inquiry at once, and the inquirers would wait for them). So everyone present
    gets an equal share, and nobody loses their turn beyond the days they were absent.
    """
    eligible = sorted((u for u in _active(rule.users) if u.id not in absent), key=lambda u: u.id)
    if not eligible:
        return None
    last = rule.last_user_id or 0
    chosen = next((u for u in eligible if u.id > last), eligible[0])
    rule.last_user_id = chosen.id
    return chosen


def _fallback(session: Session, office_id: int | None, day: date | None = None) -> User | None:
    """The office's lead, else an admin (the lowest id: stable, so nobody is surprised).

    With `day`, leads and admins absent that day are passed over while someone present is
    left; if all of them are away the first lead (else admin) still gets it: an inquiry never
    stays without a responsible person.
    """
    candidates: list[User] = []
    if office_id is not None:
        candidates += session.scalars(
            sa.select(User)
            .where(
                User.role == Role.LEAD.value,
                User.is_active_flag.is_(True),
                sa.or_(
                    User.office_id == office_id,
                    User.id.in_(
                        sa.select(user_office.c.user_id).where(user_office.c.office_id == office_id)
                    ),
                ),
            )
            .order_by(User.id)
            .limit(FALLBACK_SCAN)
        )
    candidates += session.scalars(
        sa.select(User)
        .where(User.role == Role.ADMIN.value, User.is_active_flag.is_(True))
        .order_by(User.id)
        .limit(FALLBACK_SCAN)
    )
    if not candidates:
        return None
    if day is not None:
        absent = absent_user_ids(session, [u.id for u in candidates], day)
        present = next((u for u in candidates if u.id not in absent), None)
        if present is not None:
            return present
    return candidates[0]


def choose_assignee(
    session: Session, office_id: int | None, topic: str, now: datetime | None = None
) -> User | None:
    """Exactly one responsible user: the office's rule for the topic, else its rule for every
    topic, in turn among their active users present on the day of `now` (Berlin date); else
    the office's lead or an admin (present ones first).

    The rule row is locked (PostgreSQL; SQLite's write lock serialises) so two inquiries
    arriving at once on two web nodes take two turns, not the same one.
    """
    day = now.astimezone(BERLIN).date() if now is not None else None
    if office_id is not None:
        rules = session.scalars(
            sa.select(IntakeRule)
            .where(IntakeRule.office_id == office_id, IntakeRule.topic.in_((topic, "")))
            .options(joinedload(IntakeRule.users))
            .with_for_update(of=IntakeRule)
        ).unique()
        ordered = sorted(rules, key=lambda r: r.topic == "")
        absent: set[int] = set()
        if day is not None:
            absent = absent_user_ids(session, {u.id for r in ordered for u in r.users}, day)
        # The topic's own rule first, then the office-wide one.
        for rule in ordered:
            chosen = _round_robin(rule, absent)
            if chosen is not None:
                return chosen
    return _fallback(session, office_id, day)


def assign(inquiry: Inquiry, user: User | None, now: datetime) -> None:
    """Make `user` the inquiry's one responsible person (no one: it stays new)."""
    if user is None:
        return
    inquiry.assigned_to = user
    inquiry.assigned_to_id = user.id
    inquiry.assigned_at = now
    if inquiry.status == "new":
        inquiry.status = "assigned"


# --- creating an inquiry ------------------------------------------------------------------------


@dataclass
class InquiryData:
    """What the public form or the hotline capture asks."""

    kind: str
    topic: str
    office_id: int | None
    name: str
    email: str = ""
    phone: str = ""
    organisation_name: str = ""
    message: str = ""
    preferred_language: str = "de"
    contact_way: str = "email"


@dataclass(frozen=True)
class AckSettings:
    """Where the acknowledgement comes from."""

    sender: str


def create_inquiry(
    session: Session,
    data: InquiryData,
    *,
    channel: str,
    now: datetime,
    consent_text: str,
    consent_version: str,
    response_days: int = 2,
    form_language: str = "de",
    created_by: User | None = None,
    ip_hash: str = "",
    ack: AckSettings | None = None,
) -> Inquiry:
    """Insert an inquiry, give it its responsible person and queue the acknowledgement.

    All in the caller's transaction: the caller commits once, so the inquiry and its mail
    exist together or not at all.
    """
    inquiry = Inquiry(
        kind=data.kind,
        topic=data.topic,
        office_id=data.office_id,
        name=data.name.strip(),
        email=data.email.strip(),
        phone=data.phone.strip(),
        organisation_name=data.organisation_name.strip() if data.kind == "firm" else "",
        message=data.message.strip(),
        preferred_language=data.preferred_language,
        contact_way=data.contact_way,
        form_language=form_language,
        channel=channel,
        consent_text=consent_text,
        consent_version=consent_version,
        consented_at=now,
        # Received at `now`: the queue, the reports' weeks and the time to first contact
        # count from here (the demo data and the tests create inquiries in the past).
        created_at=now,
        status="new",
        close_reason="",
        close_note="",
        first_response_due_at=working_days_after(now, response_days),
        created_by=created_by,
        created_by_id=created_by.id if created_by else None,
        source_ip_hash=ip_hash,
    )
    session.add(inquiry)
    assign(inquiry, choose_assignee(session, data.office_id, data.topic, now), now)
    session.flush()
    if ack is not None and inquiry.email:
        queue_acknowledgement(session, inquiry, ack)
    return inquiry


def queue_acknowledgement(session: Session, inquiry: Inquiry, ack: AckSettings) -> None:
    """Add the acknowledgement naming the contact person to the outbox (no commit)."""
    lang = inquiry.form_language
    contact = inquiry.assigned_to
    context = {
        "inquiry": inquiry,
        "lang": lang,
        "contact_name": contact.display_name if contact else "",
        "office_name": inquiry.office.name if inquiry.office else "",
    }
    with force_locale("en" if lang == "en" else "de"):
        if lang == "simple":
            subject = "Wir haben Ihre Anfrage bekommen"
        else:
            subject = _("We have received your inquiry")
        text = render_template("intake/email/acknowledgement.txt", **context)
        html = render_template("intake/email/acknowledgement.html", subject=subject, **context)
    message = build_message(
        sender=ack.sender,
        to=(inquiry.name, inquiry.email),
        subject=subject,
        text=text,
        html=html,
        # An answer reaches the contact person directly.
        reply_to=contact.email if contact else None,
        extra_headers={"Auto-Submitted": "auto-generated"},
        message_id_domain=mail_domain(ack.sender),
    )
    enqueue(session, message, kind="inquiry", user_id=contact.id if contact else None)


# --- scope and the queue ----------------------------------------------------------------------


def supervises(user: Any) -> bool:
    return user.role in SUPERVISING


def scope(query: sa.Select[Any], user: Any) -> sa.Select[Any]:
    """Limit an inquiry query to what `user` may see.

    Admins and leads: everything. Everybody else: inquiries assigned to them, those they took
    on the hotline, and the unassigned ones of their offices (so an office can pick up an
    inquiry no rule matched).
    """
    if supervises(user):
        return query
    conditions = [Inquiry.assigned_to_id == user.id, Inquiry.created_by_id == user.id]
    if user.office_ids:
        conditions.append(
            sa.and_(Inquiry.assigned_to_id.is_(None), Inquiry.office_id.in_(user.office_ids))
        )
    return query.where(sa.or_(*conditions))


def can_see(user: Any, inquiry: Inquiry) -> bool:
    """The single-record form of `scope`."""
    if supervises(user):
        return True
    if user.id in (inquiry.assigned_to_id, inquiry.created_by_id):
        return True
    return inquiry.assigned_to_id is None and inquiry.office_id in user.office_ids


FILTERS = ("open", "mine", "overdue", "new", "assigned", "in_contact", "converted", "closed", "all")


def _filtered(query: sa.Select[Any], user: Any, wanted: str, now: datetime) -> sa.Select[Any]:
    if wanted == "open":
        return query.where(Inquiry.status.in_(OPEN_STATUSES))
    if wanted == "mine":
        return query.where(Inquiry.assigned_to_id == user.id, Inquiry.status.in_(OPEN_STATUSES))
    if wanted == "overdue":
        return query.where(*overdue_condition(now))
    if wanted == "all":
        return query
    return query.where(Inquiry.status == wanted)


def overdue_condition(now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """Not yet contacted and past the first-response deadline."""
    return (
        Inquiry.status.in_(("new", "assigned")),
        Inquiry.first_contact_at.is_(None),
        Inquiry.first_response_due_at < now,
    )


def queue_page(
    session: Session, user: Any, wanted: str, now: datetime, *, page: int, per_page: int
) -> tuple[list[Inquiry], int]:
    """One page of the queue and the total: overdue first, then by deadline, newest last."""
    base = _filtered(scope(sa.select(Inquiry), user), user, wanted, now)
    total = session.scalar(base.with_only_columns(sa.func.count(Inquiry.id)).order_by(None)) or 0
    overdue_first = sa.case((sa.and_(*overdue_condition(now)), 0), else_=1)
    rows = session.scalars(
        base.options(joinedload(Inquiry.assigned_to), joinedload(Inquiry.office))
        .order_by(overdue_first, Inquiry.first_response_due_at.asc(), Inquiry.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def open_for_user(session: Session, user_id: int, limit: int) -> list[Inquiry]:
    """The user's open inquiries, the earliest first-response deadline first (Mein Tag)."""
    return list(
        session.scalars(
            sa.select(Inquiry)
            .where(Inquiry.assigned_to_id == user_id, Inquiry.status.in_(OPEN_STATUSES))
            .order_by(Inquiry.first_response_due_at.asc(), Inquiry.id)
            .limit(limit)
        )
    )


# --- status changes -----------------------------------------------------------------------------


def mark_in_contact(inquiry: Inquiry, now: datetime) -> None:
    """The responsible person has reached the inquirer: the first contact time is set once."""
    if inquiry.status not in ("new", "assigned", "in_contact"):
        raise IntakeError(_("This inquiry is already finished."))
    inquiry.status = "in_contact"
    if inquiry.first_contact_at is None:
        inquiry.first_contact_at = now


def close(inquiry: Inquiry, reason: str, note: str, now: datetime) -> None:
    """Close an open inquiry with a reason."""
    if not inquiry.is_open:
        raise IntakeError(_("This inquiry is already finished."))
    inquiry.status = "closed"
    inquiry.close_reason = reason
    inquiry.close_note = note.strip()
    inquiry.closed_at = now


def reassign(inquiry: Inquiry, user: User, now: datetime) -> None:
    """Give an open inquiry another responsible person (leads and admins)."""
    if not inquiry.is_open:
        raise IntakeError(_("This inquiry is already finished."))
    if not user.is_active or user.role not in ASSIGNABLE_ROLES:
        raise IntakeError(_("This user cannot take inquiries."))
    assign(inquiry, user, now)


def assignable_users(session: Session) -> list[User]:
    """Active users who can take inquiries, by name."""
    return list(
        session.scalars(
            sa.select(User)
            .where(User.is_active_flag.is_(True), User.role.in_(ASSIGNABLE_ROLES))
            .order_by(User.display_name, User.id)
        )
    )


# --- rules ----------------------------------------------------------------------------------------


def rules(session: Session) -> list[IntakeRule]:
    """Every assignment rule, by office and topic."""
    return list(
        session.scalars(
            sa.select(IntakeRule)
            .options(joinedload(IntakeRule.office), joinedload(IntakeRule.users))
            .order_by(IntakeRule.office_id, IntakeRule.topic)
        ).unique()
    )


def save_rule(
    session: Session,
    rule: IntakeRule | None,
    *,
    office_id: int,
    topic: str,
    user_ids: Sequence[int],
) -> IntakeRule:
    """Create or change a rule; one rule per office and topic."""
    clash = session.scalar(
        sa.select(IntakeRule.id).where(IntakeRule.office_id == office_id, IntakeRule.topic == topic)
    )
    if clash is not None and (rule is None or clash != rule.id):
        raise IntakeError(_("There is already a rule for this office and topic."))
    users = list(
        session.scalars(sa.select(User).where(User.id.in_(list(user_ids))).order_by(User.id))
    )
    if not users:
        raise IntakeError(_("Choose at least one person."))
    if rule is None:
        rule = IntakeRule(office_id=office_id, topic=topic)
        session.add(rule)
    rule.office_id = office_id
    rule.topic = topic
    rule.users = users
    session.flush()
    return rule


# --- escalation (scheduler) -------------------------------------------------------------------


def _escalation_message(inquiry: Inquiry, lead: User, *, sender: str, base_url: str) -> Any:
    context = {
        "inquiry": inquiry,
        "lead": lead,
        "url": f"{base_url.rstrip('/')}/anfragen/{inquiry.id}",
        "due": inquiry.first_response_due_at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")
        if inquiry.first_response_due_at
        else "",
        "assignee": inquiry.assigned_to.display_name if inquiry.assigned_to else "",
    }
    # Staff mail in German, like the follow-up reminders and the digest.
    with force_locale("de"):
        subject = _("Inquiry without first response: %(name)s", name=inquiry.name)
        text = render_template("intake/email/escalation.txt", **context)
        html = render_template("intake/email/escalation.html", subject=subject, **context)
    return build_message(
        sender=sender,
        to=(lead.display_name, lead.email),
        subject=subject,
        text=text,
        html=html,
        extra_headers={"Auto-Submitted": "auto-generated"},
        message_id_domain=mail_domain(sender),
    )


def escalate_overdue(
    session: Session, now: datetime, *, sender: str, base_url: str, batch: int = 100
) -> int:
    """Mail the office lead (else an admin) once about each inquiry whose first-response
    deadline passed without a first contact; returns how many were queued.

    Each inquiry is claimed in its own short transaction (FOR UPDATE SKIP LOCKED on
    PostgreSQL): `escalated_at` and the outbox row commit together, so a second scheduler
    skips it and a crash loses neither half.
    """
    queued = 0
    for _n in range(batch):
        inquiry = session.scalars(
            sa.select(Inquiry)
            .where(*overdue_condition(now), Inquiry.escalated_at.is_(None))
            .order_by(Inquiry.first_response_due_at, Inquiry.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=Inquiry)
        ).first()
        if inquiry is None:
            break
        inquiry.escalated_at = now
        lead = _fallback(session, inquiry.office_id)
        if lead is not None and lead.email:
            try:
                message = _escalation_message(inquiry, lead, sender=sender, base_url=base_url)
                enqueue(session, message, kind="notice", user_id=lead.id)
            except ValueError:
                # An unusable address: marked anyway, so it neither blocks nor repeats.
                pass
            else:
                queued += 1
        session.commit()
    session.commit()
    return queued
