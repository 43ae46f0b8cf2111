"""Retention rules: one per kind of stored data, set by admins, each run audited.

A rule knows what it removes, how long data is kept (its setting, in days or months) and
how to count and remove what is due. The admin page shows every rule with what its next run
will remove; the nightly job runs them all. Rules that erase people (participants after
their exit) keep their review list (crm.privacy.service) and only appear here with counts.

Consent records are never touched by a rule: they are the proof of consent and are kept for
the limitation period.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from crm.accounts.models import LoginSession
from crm.audit.models import AuditEntry
from crm.audit.service import record
from crm.contacts.import_models import ImportItem, ImportJob
from crm.database import rows_affected, utcnow
from crm.intake import erasure as intake
from crm.mail.models import OutgoingMail
from crm.newsletters.models import Delivery
from crm.privacy.models import RetentionKeep, RetentionSetting

UNITS = {"days": _l("days"), "months": _l("months"), "years": _l("years")}
MAX_SETTING = 1200


@dataclass(frozen=True)
class Due:
    """What one rule sees: the session, the cutoff and the app's settings."""

    session: Session
    cutoff: datetime
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """One kind of data and how long it is kept."""

    key: str
    label: Any
    effect: Any
    unit: str
    default: Callable[[Mapping[str, Any]], int]
    count: Callable[[Due], int]
    apply: Callable[[Due], int]

    def cutoff(self, now: datetime, value: int) -> datetime:
        """Data older than this is due."""
        return _cutoff(self.unit, now, value)


def _cutoff(unit: str, now: datetime, value: int) -> datetime:
    if unit == "years":
        return now - relativedelta(years=value)
    if unit == "months":
        return now - relativedelta(months=value)
    return now - timedelta(days=value)


# --- the rules ---------------------------------------------------------------------------------

_FINAL = ("sent", "failed", "cancelled")


def _deliveries(due: Due) -> sa.ColumnElement[bool]:
    return sa.and_(
        Delivery.status.in_(_FINAL),
        Delivery.updated_at < due.cutoff,
        sa.or_(Delivery.email != "", Delivery.last_error != ""),
    )


def _count_deliveries(due: Due) -> int:
    return due.session.scalar(sa.select(sa.func.count(Delivery.id)).where(_deliveries(due))) or 0


def _strip_deliveries(due: Due) -> int:
    result = due.session.execute(
        sa.update(Delivery).where(_deliveries(due)).values(email="", last_error="")
    )
    return rows_affected(result)


def _audit_values(due: Due) -> sa.ColumnElement[bool]:
    # A JSON column stores Python None as JSON null: neither is a value to strip.
    return sa.and_(
        AuditEntry.at < due.cutoff,
        AuditEntry.changes.is_not(None),
        sa.cast(AuditEntry.changes, sa.Text) != "null",
    )


def _count_audit_values(due: Due) -> int:
    return (
        due.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(_audit_values(due))) or 0
    )


def _strip_audit_values(due: Due) -> int:
    result = due.session.execute(
        sa.update(AuditEntry).where(_audit_values(due)).values(changes=sa.null())
    )
    return rows_affected(result)


def _outbox_files(due: Due) -> list[Path]:
    directory = due.config.get("CRM_MAIL_OUTBOX_DIR")
    if not directory or not Path(directory).is_dir():
        return []
    limit = due.cutoff.timestamp()
    return [p for p in Path(directory).glob("*.eml") if p.stat().st_mtime < limit]


def _delete_outbox_files(due: Due) -> int:
    files = _outbox_files(due)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)


def _outbox_messages(due: Due) -> sa.ColumnElement[bool]:
    # Sent rows only: a failed one keeps its text so an admin can still send it again.
    return sa.and_(
        OutgoingMail.status == "sent",
        OutgoingMail.sent_at < due.cutoff,
        OutgoingMail.message != b"",
    )


def _count_outbox_messages(due: Due) -> int:
    stmt = sa.select(sa.func.count(OutgoingMail.id)).where(_outbox_messages(due))
    return due.session.scalar(stmt) or 0


def _strip_outbox_messages(due: Due) -> int:
    # updated_at stays: the row's age, not this clean-up, decides when it is deleted.
    stmt = (
        sa.update(OutgoingMail)
        .where(_outbox_messages(due))
        .values(message=b"", updated_at=OutgoingMail.updated_at)
    )
    return rows_affected(due.session.execute(stmt))


def _outbox_rows(due: Due) -> sa.ColumnElement[bool]:
    # Queued and sending rows are work still to do; only finished ones go.
    return sa.and_(OutgoingMail.status.in_(_FINAL), OutgoingMail.updated_at < due.cutoff)


def _count_outbox_rows(due: Due) -> int:
    stmt = sa.select(sa.func.count(OutgoingMail.id)).where(_outbox_rows(due))
    return due.session.scalar(stmt) or 0


def _delete_outbox_rows(due: Due) -> int:
    return rows_affected(due.session.execute(sa.delete(OutgoingMail).where(_outbox_rows(due))))


def _import_values(due: Due) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    old_jobs = sa.select(ImportJob.id).where(
        ImportJob.created_at < due.cutoff, ImportJob.status != "running"
    )
    items = sa.and_(
        ImportItem.job_id.in_(old_jobs),
        ImportItem.fields.is_not(None),
        sa.cast(ImportItem.fields, sa.Text) != "null",
    )
    jobs = sa.and_(
        ImportJob.created_at < due.cutoff,
        ImportJob.status != "running",
        ImportJob.report.is_not(None),
        sa.cast(ImportJob.report, sa.Text) != "null",
    )
    return items, jobs


def _count_import_values(due: Due) -> int:
    items, jobs = _import_values(due)
    s = due.session
    return (s.scalar(sa.select(sa.func.count(ImportItem.id)).where(items)) or 0) + (
        s.scalar(sa.select(sa.func.count(ImportJob.id)).where(jobs)) or 0
    )


def _strip_import_values(due: Due) -> int:
    items, jobs = _import_values(due)
    s = due.session
    n = rows_affected(s.execute(sa.update(ImportItem).where(items).values(fields=sa.null())))
    return n + rows_affected(s.execute(sa.update(ImportJob).where(jobs).values(report=sa.null())))


def _login_sessions(due: Due) -> sa.ColumnElement[bool]:
    return LoginSession.created_at < due.cutoff


def _count_login_sessions(due: Due) -> int:
    stmt = sa.select(sa.func.count(LoginSession.id)).where(_login_sessions(due))
    return due.session.scalar(stmt) or 0


def _delete_login_sessions(due: Due) -> int:
    return rows_affected(due.session.execute(sa.delete(LoginSession).where(_login_sessions(due))))


# Inquiries (crm.intake.erasure): each due inquiry is erased like one on request, with its
# acknowledgements and an erasure record of its own.
def _count_closed_inquiries(due: Due) -> int:
    return intake.count_due(due.session, intake.closed_due(due.cutoff))


def _erase_closed_inquiries(due: Due) -> int:
    return intake.erase_due(due.session, intake.closed_due(due.cutoff), due.config)


def _count_untouched_inquiries(due: Due) -> int:
    return intake.count_due(due.session, intake.untouched_due(due.cutoff))


def _erase_untouched_inquiries(due: Due) -> int:
    return intake.erase_due(due.session, intake.untouched_due(due.cutoff), due.config)


# Event registrations (crm.events.registration): the rows of events long past; attendance
# of linked contacts stays on their EventContact rows.
def _count_registrations(due: Due) -> int:
    from crm.events import registration

    return registration.count_expired(due.session, due.cutoff)


def _delete_registrations(due: Due) -> int:
    from crm.events import registration

    return registration.delete_expired(due.session, due.cutoff)


RULES: tuple[Rule, ...] = (
    Rule(
        "delivery_addresses",
        _l("Newsletter deliveries"),
        _l(
            "Removes the recipient's address and the mail server's answer from delivery rows; "
            "the campaign's figures and the consent records stay."
        ),
        "months",
        lambda config: 24,
        _count_deliveries,
        _strip_deliveries,
    ),
    Rule(
        "outbox_files",
        _l("Copies of sent e-mails"),
        _l("Deletes the .eml copies in the file outbox (Administration → Mail outbox)."),
        "months",
        lambda config: 6,
        lambda due: len(_outbox_files(due)),
        _delete_outbox_files,
    ),
    Rule(
        "outbox_messages",
        _l("Text of sent e-mails"),
        _l(
            "Removes the stored text of e-mails that were sent (reminders, digests, "
            "confirmations, test mails); recipient, subject, status and Message-ID stay in "
            "Administration → Mail outbox."
        ),
        "days",
        lambda config: int(config.get("CRM_MAIL_OUTBOX_TEXT_DAYS", 14)),
        _count_outbox_messages,
        _strip_outbox_messages,
    ),
    Rule(
        "outbox_rows",
        _l("Entries in the mail outbox"),
        _l(
            "Deletes sent, failed and cancelled e-mails from the mail outbox (newsletter "
            "deliveries follow their own rule); waiting ones stay."
        ),
        "days",
        lambda config: int(config.get("CRM_MAIL_OUTBOX_KEEP_DAYS", 90)),
        _count_outbox_rows,
        _delete_outbox_rows,
    ),
    Rule(
        "import_values",
        _l("Imported values"),
        _l(
            "Removes the values an import kept for undo and its row report; who imported "
            "which records stays. The uploaded file itself is deleted after the days set "
            "in CRM_IMPORT_KEEP_DAYS."
        ),
        "days",
        lambda config: int(config.get("CRM_IMPORT_KEEP_DAYS", 30)),
        _count_import_values,
        _strip_import_values,
    ),
    Rule(
        "inquiries_closed",
        _l("Closed inquiries"),
        _l(
            "Erases inquiries that were closed without becoming a contact (also spam), with "
            "their acknowledgement e-mails; each erasure is logged. A converted inquiry is "
            "erased with the record it became, or like a closed one once that record is deleted."
        ),
        "months",
        lambda config: 6,
        _count_closed_inquiries,
        _erase_closed_inquiries,
    ),
    Rule(
        "inquiries_untouched",
        _l("Inquiries nobody worked on"),
        _l(
            "Erases open inquiries that nobody has changed for this long, with their "
            "acknowledgement e-mails; each erasure is logged."
        ),
        "months",
        lambda config: 12,
        _count_untouched_inquiries,
        _erase_untouched_inquiries,
    ),
    Rule(
        "event_registrations",
        _l("Event registrations"),
        _l(
            "Deletes the public registrations (names, addresses, answers, consent) of events "
            "that ended this long ago; attendance of known contacts stays on their event."
        ),
        "months",
        lambda config: 12,
        _count_registrations,
        _delete_registrations,
    ),
    Rule(
        "audit_values",
        _l("Values in the audit log"),
        _l("Removes the old and new values from audit entries; who changed what and when stays."),
        "months",
        lambda config: 24,
        _count_audit_values,
        _strip_audit_values,
    ),
    Rule(
        "login_sessions",
        _l("Login sessions"),
        _l("Deletes every login session older than this, however active it is."),
        "days",
        lambda config: 30,
        _count_login_sessions,
        _delete_login_sessions,
    ),
)
RULES_BY_KEY = {rule.key: rule for rule in RULES}
# Rules that erase records through crm.privacy.erasure (its SQLite clean-up follows the commit).
ERASING_RULES = ("inquiries_closed", "inquiries_untouched")


# --- settings, preview and run -------------------------------------------------------------------


def _default(rule: Rule | ReviewRule, config: Mapping[str, Any]) -> int:
    return rule.default(config) if callable(rule.default) else rule.default


def settings(session: Session, config: Mapping[str, Any]) -> dict[str, int]:
    """The value of every rule: the admin's setting, else the default."""
    stored = dict(session.execute(sa.select(RetentionSetting.key, RetentionSetting.value)).all())
    return {rule.key: int(stored.get(rule.key) or _default(rule, config)) for rule in ALL_RULES}


def save_settings(session: Session, values: Mapping[str, int], config: Mapping[str, Any]) -> int:
    """Store changed values (each audited); returns how many changed."""
    current = settings(session, config)
    changed = 0
    for key, value in values.items():
        if key not in RULES_BY_KEY and key not in REVIEWS_BY_KEY:
            raise KeyError(key)
        if not 1 <= value <= MAX_SETTING:
            raise ValueError(key)
        if current[key] == value:
            continue
        row = session.get(RetentionSetting, key)
        if row is None:
            session.add(RetentionSetting(key=key, value=value))
        else:
            row.value = value
        record(
            session,
            "retention_setting",
            entity_type="retention_rule",
            summary=f"{key}: {current[key]} → {value}",
        )
        changed += 1
    session.flush()
    return changed


@dataclass(frozen=True)
class RuleState:
    """A rule (removing or review) as the admin page shows it: its period and what is due."""

    rule: Rule | ReviewRule
    value: int
    cutoff: datetime
    due: int


def preview(session: Session, config: Mapping[str, Any], now: datetime) -> list[RuleState]:
    """Every rule with its value, cutoff and what its next run would remove."""
    values = settings(session, config)
    states = []
    for rule in RULES:
        cutoff = rule.cutoff(now, values[rule.key])
        states.append(
            RuleState(rule, values[rule.key], cutoff, rule.count(Due(session, cutoff, config)))
        )
    return states


def run(session: Session, config: Mapping[str, Any], now: datetime) -> dict[str, int]:
    """Apply every rule once; each is written to the audit log with what it removed."""
    values = settings(session, config)
    done: dict[str, int] = {}
    for rule in RULES:
        cutoff = rule.cutoff(now, values[rule.key])
        done[rule.key] = rule.apply(Due(session, cutoff, config))
        record(
            session,
            "retention_run",
            entity_type="retention_rule",
            summary=f"{rule.key}: {done[rule.key]} (vor {cutoff:%Y-%m-%d})",
        )
    session.flush()
    return done


def storage_periods(session: Session, *, config: Mapping[str, Any], **_kw: Any) -> list[Any]:
    """The rules' periods as the Art. 15 report states them (receiver of access.storage_periods)."""
    from flask_babel import gettext as _

    v = settings(session, config)
    return [
        (
            "newsletter",
            _(
                "Delivery records of newsletters sent to you: your address and the mail "
                "server's answer are removed after %(n)d months.",
                n=v["delivery_addresses"],
            ),
        ),
        (
            "newsletter",
            _("Copies of e-mails sent to you: deleted after %(n)d months.", n=v["outbox_files"]),
        ),
        (
            "contacts",
            _(
                "E-mails the office sent you (such as a confirmation of your newsletter "
                "sign-up): their text is deleted %(text)d days after sending, the entry "
                "with recipient, subject and status after %(rows)d days.",
                text=v["outbox_messages"],
                rows=v["outbox_rows"],
            ),
        ),
        (
            "contacts",
            _(
                "Values taken over from an import file: removed after %(n)d days.",
                n=v["import_values"],
            ),
        ),
        (
            "log",
            _(
                "Log of changes: the changed values are removed after %(n)d months; who changed "
                "what and when is kept.",
                n=v["audit_values"],
            ),
        ),
    ]


# --- review rules: records that only an admin may erase -------------------------------------------


@dataclass(frozen=True)
class ReviewRule:
    """Records of people idle for a period: listed for an admin, erased only by an admin."""

    key: str
    label: Any
    effect: Any
    subject_type: str  # "person" or "participant"
    default: int  # years
    unit: str = "years"

    def cutoff(self, now: datetime, value: int) -> datetime:
        """Records idle since before this are listed."""
        return _cutoff(self.unit, now, value)


REVIEW_RULES: tuple[ReviewRule, ...] = (
    ReviewRule(
        "inactive_contacts",
        _l("Contacts without activity"),
        _l(
            "Lists people without a recorded contact, change or active newsletter "
            "subscription for this long (also those who only unsubscribed from a newsletter); "
            "an admin erases or keeps each."
        ),
        "person",
        3,
    ),
    ReviewRule(
        "inactive_participants",
        _l("Participants without exit"),
        _l(
            "Lists participants without an exit and without a counselling session for this "
            "long; an admin erases or keeps each."
        ),
        "participant",
        3,
    ),
)
REVIEWS_BY_KEY = {rule.key: rule for rule in REVIEW_RULES}
# Removing and review rules together, in the order the settings page lists them.
ALL_RULES: tuple[Rule | ReviewRule, ...] = (*RULES, *REVIEW_RULES)


def _kept(subject_type: str, id_column: Any, today: date) -> sa.ColumnElement[bool]:
    return sa.exists(
        sa.select(RetentionKeep.id).where(
            RetentionKeep.subject_type == subject_type,
            RetentionKeep.subject_id == id_column,
            RetentionKeep.keep_until >= today,
        )
    )


def review_candidates(rule: ReviewRule, cutoff: datetime, today: date) -> sa.Select:
    """The ids (and the date of last activity) of the records the rule lists on `today`."""
    if rule.subject_type == "person":
        from crm.contacts.models import Person
        from crm.newsletters.models import Subscription

        last = sa.func.coalesce(Person.last_contact_at, Person.created_at)
        return sa.select(Person.id, last.label("last_activity")).where(
            last < cutoff,
            Person.updated_at < cutoff,
            ~sa.exists(
                sa.select(Subscription.id).where(
                    Subscription.person_id == Person.id, Subscription.status == "confirmed"
                )
            ),
            ~_kept("person", Person.id, today),
        )
    from crm.participants.models import CounsellingSession, Participant

    last_session = (
        sa.select(sa.func.max(CounsellingSession.held_on))
        .where(CounsellingSession.participant_id == Participant.id)
        .scalar_subquery()
    )
    last = sa.func.coalesce(last_session, Participant.first_contact_on)
    return sa.select(Participant.id, last.label("last_activity")).where(
        Participant.exit_on.is_(None),
        Participant.erased_at.is_(None),
        last < cutoff.date(),
        ~_kept("participant", Participant.id, today),
    )


def review_preview(session: Session, config: Mapping[str, Any], now: datetime) -> list[RuleState]:
    """Every review rule with its value and how many records it lists now."""
    values = settings(session, config)
    out = []
    for rule in REVIEW_RULES:
        cutoff = rule.cutoff(now, values[rule.key])
        candidates = review_candidates(rule, cutoff, now.date()).subquery()
        stmt = sa.select(sa.func.count()).select_from(candidates)
        out.append(RuleState(rule, values[rule.key], cutoff, session.scalar(stmt) or 0))
    return out


def review_list(
    session: Session,
    rule: ReviewRule,
    config: Mapping[str, Any],
    now: datetime,
    *,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[tuple[Any, Any]], int]:
    """One page of the records a review rule lists, longest idle first: (record, last date)."""
    cutoff = rule.cutoff(now, settings(session, config)[rule.key])
    candidates = review_candidates(rule, cutoff, now.date()).subquery()
    total = session.scalar(sa.select(sa.func.count()).select_from(candidates)) or 0
    if rule.subject_type == "person":
        from crm.contacts.models import Person as model
    else:
        from crm.participants.models import Participant as model
    rows = session.execute(
        sa.select(model, candidates.c.last_activity)
        .join(candidates, candidates.c.id == model.id)
        .order_by(candidates.c.last_activity, model.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return [(record, last) for record, last in rows], total


def keep(
    session: Session, subject_type: str, subject_id: int, *, user_id: int | None, today: date
) -> RetentionKeep:
    """An admin keeps the record for one more year (audited); it leaves the review list."""
    row = session.scalar(
        sa.select(RetentionKeep).where(
            RetentionKeep.subject_type == subject_type, RetentionKeep.subject_id == subject_id
        )
    )
    until = today + relativedelta(years=1)
    if row is None:
        row = RetentionKeep(subject_type=subject_type, subject_id=subject_id, keep_until=until)
        session.add(row)
    row.keep_until = until
    row.decided_by_id = user_id
    row.decided_at = utcnow()
    record(
        session,
        "retention_keep",
        entity_type=subject_type,
        entity_id=subject_id,
        summary=f"Aufbewahrung bis {until:%d.%m.%Y}",
    )
    session.flush()
    return row
