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
from datetime import datetime, timedelta
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
from crm.newsletters.models import Delivery
from crm.privacy.models import RetentionSetting

UNITS = {"days": _l("days"), "months": _l("months")}
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
        if self.unit == "months":
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
    return result.rowcount or 0


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
    return result.rowcount or 0


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
    n = s.execute(sa.update(ImportItem).where(items).values(fields=sa.null())).rowcount or 0
    return n + (s.execute(sa.update(ImportJob).where(jobs).values(report=sa.null())).rowcount or 0)


def _login_sessions(due: Due) -> sa.ColumnElement[bool]:
    return LoginSession.created_at < due.cutoff


def _count_login_sessions(due: Due) -> int:
    stmt = sa.select(sa.func.count(LoginSession.id)).where(_login_sessions(due))
    return due.session.scalar(stmt) or 0


def _delete_login_sessions(due: Due) -> int:
    return due.session.execute(sa.delete(LoginSession).where(_login_sessions(due))).rowcount or 0


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


# --- settings, preview and run -------------------------------------------------------------------


def settings(session: Session, config: Mapping[str, Any]) -> dict[str, int]:
    """The value of every rule: the admin's setting, else the default."""
    stored = dict(session.execute(sa.select(RetentionSetting.key, RetentionSetting.value)).all())
    return {rule.key: int(stored.get(rule.key) or rule.default(config)) for rule in RULES}


def save_settings(session: Session, values: Mapping[str, int], config: Mapping[str, Any]) -> int:
    """Store changed values (each audited); returns how many changed."""
    current = settings(session, config)
    changed = 0
    for key, value in values.items():
        if key not in RULES_BY_KEY:
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
    """A rule as the admin page shows it."""

    rule: Rule
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
