"""The periodic jobs: one list with stable ids; each job is a thin wrapper over a service.

Jobs must be idempotent and catch up on their own: the database holds every due date, the
scheduler only ticks (see ARCHITECTURE.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[Flask], Any]
    trigger: str  # "interval" or "cron"
    trigger_args: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # Runs on every scheduler tick (every minute; CRM_SCHEDULER_TICK_SECONDS overrides).
    every_tick: bool = False
    # Runs every app.config[interval_setting] seconds instead (a job that must react fast).
    interval_setting: str = ""


def scheduler_job(func: Callable[[Flask, Session], T]) -> Callable[[Flask], T]:
    """Run `func(app, session)` in an app context, audited as the scheduler, then commit."""

    @functools.wraps(func)
    def run(app: Flask) -> T:
        from crm.audit.service import Actor, acting_as
        from crm.extensions import db

        with app.app_context(), acting_as(Actor(None, "scheduler")):
            result = func(app, db.session)
            db.session.commit()
            return result

    return run


@scheduler_job
def purge_expired_sessions(app: Flask, session: Session) -> int:
    """Delete idle login sessions and login attempts older than 30 days."""
    from crm.accounts.service import purge_expired

    return purge_expired(
        session,
        idle=timedelta(minutes=app.config["CRM_SESSION_IDLE_MINUTES"]),
        keep_attempts=timedelta(days=30),
    )


@scheduler_job
def send_followup_reminders(app: Flask, session: Session) -> int:
    """Queue the reminder e-mail for every follow-up that has become due (each exactly once).

    The mail outbox sender delivers them; this job never talks to the SMTP server.
    """
    from crm.database import utcnow
    from crm.followups.service import send_due_reminders

    total = 0
    # Batches of 100 until nothing is due: a long downtime catches up in one run.
    while True:
        sent = send_due_reminders(
            session,
            now=utcnow(),
            base_url=app.config["CRM_BASE_URL"],
            batch=100,
            sender=app.config["CRM_MAIL_FROM"],
            reply_to=app.config.get("CRM_MAIL_REPLY_TO") or None,
        )
        total += sent
        if sent < 100:
            return total


@scheduler_job
def purge_import_files(app: Flask, session: Session) -> int:
    """Delete stored import uploads older than CRM_IMPORT_KEEP_DAYS, and old finished jobs."""
    from crm.contacts.importer import purge_old_files
    from crm.database import utcnow
    from crm.jobs.queue import purge_finished

    purge_finished(session, utcnow())
    return purge_old_files(session, keep_days=app.config["CRM_IMPORT_KEEP_DAYS"])


@scheduler_job
def create_series_occurrences(app: Flask, session: Session) -> int:
    """Create the occurrences of every series up to CRM_SERIES_HORIZON_DAYS ahead."""
    from crm.database import utcnow
    from crm.events.series import BERLIN
    from crm.events.service import materialise_all

    return materialise_all(
        session,
        today=utcnow().astimezone(BERLIN).date(),
        horizon_days=app.config["CRM_SERIES_HORIZON_DAYS"],
    )


@scheduler_job
def send_daily_digest(app: Flask, session: Session) -> int:
    """Queue the 07:00 digest for every staff member with something to report (once a day)."""
    from crm.database import utcnow
    from crm.events.digest import send_daily_digests

    return send_daily_digests(
        session,
        now=utcnow(),
        base_url=app.config["CRM_BASE_URL"],
        sender=app.config["CRM_MAIL_FROM"],
    )


@scheduler_job
def purge_tokens(app: Flask, session: Session) -> int:
    """Revoke feed tokens of deactivated users, delete revoked ones and old job-run rows."""
    from crm.database import utcnow
    from crm.events.ical import purge_tokens as purge_calendar_tokens
    from crm.jobs.service import purge_runs

    now = utcnow()
    n = purge_calendar_tokens(session, now)
    purge_runs(session, now)
    return n


@scheduler_job
def erase_due_participants(app: Flask, session: Session) -> dict[str, int]:
    """Mark participants past the retention period for review; erase those admins approved."""
    from pathlib import Path

    from crm.dashboard.weeks import local_date
    from crm.database import utcnow
    from crm.extensions import db
    from crm.privacy.erasure import finish_erasure
    from crm.privacy.service import erase_approved, mark_due

    marked = mark_due(
        session,
        today=local_date(utcnow()),
        years=app.config["CRM_RETENTION_YEARS_AFTER_EXIT"],
    )
    directories = {"outbox": Path(app.config["CRM_MAIL_OUTBOX_DIR"])}
    erased = erase_approved(session, directories=directories)
    session.commit()
    if erased:
        # After the commit: the WAL must not keep the erased pages (SQLite).
        finish_erasure(db.engine)
    return {"marked": marked, "erased": erased}


@scheduler_job
def apply_retention_rules(app: Flask, session: Session) -> dict[str, int]:
    """Apply every retention rule with the admins' periods (crm.privacy.retention)."""
    from crm.database import utcnow
    from crm.extensions import db
    from crm.privacy.erasure import finish_erasure
    from crm.privacy.retention import ERASING_RULES, run

    done = run(session, app.config, utcnow())
    if any(done[key] for key in ERASING_RULES):
        session.commit()
        # After the commit: the WAL must not keep the erased inquiries' pages (SQLite).
        finish_erasure(db.engine)
    return done


@scheduler_job
def purge_signup_attempts(app: Flask, session: Session) -> int:
    """Delete newsletter sign-up attempts (IP addresses) older than two days."""
    from crm.database import utcnow
    from crm.newsletters.service import purge_signup_attempts as purge

    return purge(session, older_than=utcnow() - timedelta(days=2))


@scheduler_job
def purge_newsletter_signups(app: Flask, session: Session) -> int:
    """Delete newsletter sign-ups whose confirmation window (CRM_NEWSLETTER_CONFIRM_HOURS) ended."""
    from crm.database import utcnow
    from crm.newsletters.service import MailSettings, purge_signups

    window = MailSettings.from_config(app.config).confirm_max_age
    return purge_signups(session, now=utcnow(), window=window)


@scheduler_job
def start_due_campaigns(app: Flask, session: Session) -> list[int]:
    """Move scheduled newsletter campaigns whose send time has come to 'sending'."""
    from crm.newsletters.campaigns import start_due_campaigns as start_due

    return start_due(session)


def send_newsletter_outbox(app: Flask) -> str:
    """Deliver the due mail: outbox rows and campaign deliveries (see crm/mail/sender.py)."""
    from crm.mail.sender import run_outbox

    # Not a scheduler_job: the sender commits per message in sessions of its own.
    report = run_outbox(app)
    if report.error:
        raise RuntimeError(str(report))
    return str(report)


@scheduler_job
def escalate_inquiries(app: Flask, session: Session) -> int:
    """Mail the lead once about each inquiry whose first-response deadline passed."""
    from crm.database import utcnow
    from crm.intake.service import escalate_overdue

    return escalate_overdue(
        session, utcnow(), sender=app.config["CRM_MAIL_FROM"], base_url=app.config["CRM_BASE_URL"]
    )


@scheduler_job
def purge_intake_attempts(app: Flask, session: Session) -> int:
    """Delete the inquiry form's counted posts older than the limit's window (at least a day)."""
    from crm.database import utcnow
    from crm.intake.service import purge_attempts

    window = timedelta(minutes=int(app.config.get("CRM_INTAKE_WINDOW_MINUTES", 60)))
    return purge_attempts(session, utcnow() - max(window, timedelta(days=1)))


@scheduler_job
def purge_registration_attempts(app: Flask, session: Session) -> int:
    """Delete the event registration pages' counted posts older than a day (or the window)."""
    from crm import public_forms
    from crm.database import utcnow
    from crm.events.models import RegistrationAttempt

    window = timedelta(minutes=int(app.config.get("CRM_INTAKE_WINDOW_MINUTES", 60)))
    cutoff = utcnow() - max(window, timedelta(days=1))
    return public_forms.purge_attempts(session, RegistrationAttempt, cutoff)


@scheduler_job
def send_event_reminders(app: Flask, session: Session) -> int:
    """Queue the reminder for every seat of tomorrow's events (each exactly once)."""
    from crm.database import utcnow
    from crm.events.followthrough import send_reminders
    from crm.events.registration import MailSettings

    mail = MailSettings(
        sender=app.config["CRM_MAIL_FROM"],
        base_url=app.config["CRM_BASE_URL"],
        secret=str(app.secret_key or ""),
    )
    total = 0
    # Batches until nothing is left: a long downtime catches up in one run.
    # The mail builds its links with url_for, which needs a request context outside a view.
    with app.test_request_context(base_url=app.config["CRM_BASE_URL"]):
        while True:
            queued = send_reminders(session, now=utcnow(), mail=mail, batch=500)
            session.commit()
            total += queued
            if queued < 500:
                return total


@scheduler_job
def send_esf_followup_links(app: Flask, session: Session) -> int:
    """Mail the short survey's personal link to every former participant whose six-month date
    has come (each once), and delete the answer page's counted posts older than a day."""
    from crm.dashboard.weeks import local_date
    from crm.database import utcnow
    from crm.esf import followup_link, mails

    now = utcnow()
    followup_link.purge_attempts(session, now - timedelta(days=1))
    # The mail builds its link with url_for, which needs a request context outside a view.
    with app.test_request_context(base_url=app.config["CRM_BASE_URL"]):
        mail = mails.link_mail(app.config, str(app.secret_key or ""), None)
        return followup_link.send_due_links(session, today=local_date(now), now=now, mail=mail)


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
        id="purge-newsletter-signups",
        func=purge_newsletter_signups,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 25},
        description="Unbestätigte Newsletter-Anmeldungen nach Ablauf der Bestätigungsfrist löschen",
    ),
    JobSpec(
        id="apply-retention-rules",
        func=apply_retention_rules,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 40},
        description="Aufbewahrungsfristen anwenden (Zustellungen, Postausgang, Importwerte, "
        "Protokollwerte, Anmeldungen)",
    ),
    JobSpec(
        id="purge-import-files",
        func=purge_import_files,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 30},
        description="Alte hochgeladene Import-Dateien und erledigte Hintergrund-Jobs löschen",
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
        id="escalate-inquiries",
        func=escalate_inquiries,
        trigger="interval",
        trigger_args={"minutes": 1},
        description="Leitung über Anfragen ohne erste Rückmeldung informieren",
        every_tick=True,
    ),
    JobSpec(
        id="purge-intake-attempts",
        func=purge_intake_attempts,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 22},
        description="Gezählte Absendungen des Anfrageformulars nach einem Tag löschen",
    ),
    JobSpec(
        id="purge-registration-attempts",
        func=purge_registration_attempts,
        trigger="cron",
        trigger_args={"hour": 3, "minute": 24},
        description="Gezählte Absendungen der Anmeldeseiten nach einem Tag löschen",
    ),
    JobSpec(
        id="send-event-reminders",
        func=send_event_reminders,
        # Hourly in the daytime (Berlin): the morning run sends them, later runs catch up
        # after a downtime and reach those who registered during the day; none at night.
        trigger="cron",
        trigger_args={"hour": "8-20", "minute": 5},
        description="Erinnerung am Vortag an alle mit Platz für morgige Veranstaltungen senden",
    ),
    JobSpec(
        id="send-esf-followup-links",
        func=send_esf_followup_links,
        # Daily in the morning (Berlin), when the office is there for questions it raises.
        trigger="cron",
        trigger_args={"hour": 9, "minute": 10},
        description="ESF Plus: Kurzumfrage 6 Monate nach Austritt an ehemalige Teilnehmende senden",
    ),
    JobSpec(
        id="send-outbox",
        func=send_newsletter_outbox,
        trigger="interval",
        trigger_args={"seconds": 10},
        description="Postausgang senden (E-Mails und Newsletter)",
        interval_setting="CRM_OUTBOX_POLL_SECONDS",
    ),
)


def run_all_once(app: Flask) -> dict[str, Any]:
    """Run every job once now (for `flask crm run-jobs --once`)."""
    return {job.id: job.func(app) for job in JOBS}
