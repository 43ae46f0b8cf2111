"""The periodic jobs: one list with stable ids; each job is a thin wrapper over a service.

Jobs must be idempotent and catch up on their own: the database holds every due date, the
scheduler only ticks (see ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[Flask], Any]
    trigger: str  # "interval" or "cron"
    trigger_args: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # Runs on every scheduler tick (every minute; CRM_SCHEDULER_TICK_SECONDS overrides).
    every_tick: bool = False


def purge_expired_sessions(app: Flask) -> int:
    """Delete idle login sessions and login attempts older than 30 days."""
    from crm.accounts.service import purge_expired
    from crm.audit.service import Actor, acting_as
    from crm.extensions import db

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        n = purge_expired(
            db.session,
            idle=timedelta(minutes=app.config["CRM_SESSION_IDLE_MINUTES"]),
            keep_attempts=timedelta(days=30),
        )
        db.session.commit()
        return n


def send_followup_reminders(app: Flask) -> int:
    """Send the reminder e-mail for every follow-up that has become due (each exactly once)."""
    from crm.audit.service import Actor, acting_as
    from crm.database import utcnow
    from crm.extensions import db
    from crm.followups.service import send_due_reminders
    from crm.mail import transport_from_config

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        total = 0
        # Batches of 100 until nothing is due: a long downtime catches up in one run.
        while True:
            sent = send_due_reminders(
                db.session,
                transport_from_config(app.config),
                now=utcnow(),
                base_url=app.config["CRM_BASE_URL"],
                batch=100,
                sender=app.config["CRM_MAIL_FROM"],
                reply_to=app.config.get("CRM_MAIL_REPLY_TO") or None,
            )
            total += sent
            if sent < 100:
                return total


def purge_import_files(app: Flask) -> int:
    """Delete uploaded import files older than CRM_IMPORT_KEEP_DAYS."""
    from crm.audit.service import Actor, acting_as
    from crm.contacts.importer import purge_old_files, storage_dir
    from crm.extensions import db

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        n = purge_old_files(
            db.session, storage_dir(app), keep_days=app.config["CRM_IMPORT_KEEP_DAYS"]
        )
        db.session.commit()
        return n


def create_series_occurrences(app: Flask) -> int:
    """Create the occurrences of every series up to CRM_SERIES_HORIZON_DAYS ahead."""
    from crm.audit.service import Actor, acting_as
    from crm.database import utcnow
    from crm.events.series import BERLIN
    from crm.events.service import materialise_all
    from crm.extensions import db

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        n = materialise_all(
            db.session,
            today=utcnow().astimezone(BERLIN).date(),
            horizon_days=app.config["CRM_SERIES_HORIZON_DAYS"],
        )
        db.session.commit()
        return n


def send_daily_digest(app: Flask) -> int:
    """Send the 07:00 digest to every staff member with something to report (once a day)."""
    from crm.audit.service import Actor, acting_as
    from crm.database import utcnow
    from crm.events.digest import send_daily_digests
    from crm.extensions import db
    from crm.mail import transport_from_config

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        return send_daily_digests(
            db.session,
            transport_from_config(app.config),
            now=utcnow(),
            base_url=app.config["CRM_BASE_URL"],
            sender=app.config["CRM_MAIL_FROM"],
        )


def purge_tokens(app: Flask) -> int:
    """Revoke feed tokens of deactivated users, delete revoked ones and old job-run rows."""
    from crm.audit.service import Actor, acting_as
    from crm.database import utcnow
    from crm.events.ical import purge_tokens as purge_calendar_tokens
    from crm.extensions import db
    from crm.jobs.service import purge_runs

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        now = utcnow()
        n = purge_calendar_tokens(db.session, now)
        purge_runs(db.session, now)
        db.session.commit()
        return n


def erase_due_participants(app: Flask) -> dict[str, int]:
    """Mark participants past the retention period for review; erase those admins approved."""
    from crm.audit.service import Actor, acting_as
    from crm.dashboard.weeks import local_date
    from crm.database import utcnow
    from crm.extensions import db
    from crm.privacy.service import erase_approved, mark_due

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        marked = mark_due(
            db.session,
            today=local_date(utcnow()),
            years=app.config["CRM_RETENTION_YEARS_AFTER_EXIT"],
        )
        erased = erase_approved(db.session)
        db.session.commit()
        return {"marked": marked, "erased": erased}


def purge_signup_attempts(app: Flask) -> int:
    """Delete newsletter sign-up attempts (IP addresses) older than two days."""
    from crm.audit.service import Actor, acting_as
    from crm.database import utcnow
    from crm.extensions import db
    from crm.newsletters.service import purge_signup_attempts as purge

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        n = purge(db.session, older_than=utcnow() - timedelta(days=2))
        db.session.commit()
        return n


def start_due_campaigns(app: Flask) -> list[int]:
    """Move scheduled newsletter campaigns whose send time has come to 'sending'."""
    from crm.audit.service import Actor, acting_as
    from crm.extensions import db
    from crm.newsletters.campaigns import start_due_campaigns as start_due

    with app.app_context(), acting_as(Actor(None, "scheduler")):
        return start_due(db.session)


def send_newsletter_outbox(app: Flask) -> str:
    """Send the due delivery rows of every sending campaign (crash-safe, see sending.py)."""
    from crm.newsletters.sending import run_outbox

    return str(run_outbox(app))


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        id="send-followup-reminders",
        func=send_followup_reminders,
        trigger="interval",
        trigger_args={"minutes": 1},
        description="Erinnerungen für fällige Wiedervorlagen senden",
        every_tick=True,
    ),
    JobSpec(
        id="purge-expired-sessions",
        func=purge_expired_sessions,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 15},
        description="Abgelaufene Anmeldungen und alte Anmeldeversuche löschen",
    ),
    JobSpec(
        id="purge-signup-attempts",
        func=purge_signup_attempts,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 20},
        description="Alte Newsletter-Anmeldeversuche (IP-Adressen) löschen",
    ),
    JobSpec(
        id="purge-import-files",
        func=purge_import_files,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 30},
        description="Alte Import-Dateien löschen",
    ),
    JobSpec(
        id="create-series-occurrences",
        func=create_series_occurrences,
        trigger="cron",
        trigger_args={"hour": 5, "minute": 30},
        description="Kommende Termine der Terminserien anlegen",
    ),
    JobSpec(
        id="send-daily-digest",
        func=send_daily_digest,
        trigger="cron",
        trigger_args={"hour": 7, "minute": 0},
        description="Tagesübersicht um 7 Uhr senden",
    ),
    JobSpec(
        id="purge-tokens",
        func=purge_tokens,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 45},
        description="Widerrufene Kalender-Links und alte Job-Läufe löschen",
    ),
    JobSpec(
        id="erase-due-participants",
        func=erase_due_participants,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 45},
        description="Aufbewahrungsfrist: fällige Teilnehmende vormerken, freigegebene löschen",
    ),
    JobSpec(
        id="start-due-campaigns",
        func=start_due_campaigns,
        trigger="interval",
        trigger_args={"minutes": 1},
        description="Geplante Newsletter-Aussendungen starten",
        every_tick=True,
    ),
    JobSpec(
        id="send-outbox",
        func=send_newsletter_outbox,
        trigger="interval",
        trigger_args={"minutes": 1},
        description="Newsletter-Postausgang senden",
        every_tick=True,
    ),
)


def run_all_once(app: Flask) -> dict[str, Any]:
    """Run every job once now (for `flask crm run-jobs --once`)."""
    return {job.id: job.func(app) for job in JOBS}
