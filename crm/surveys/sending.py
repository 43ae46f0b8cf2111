"""Invitations and reminders of a survey round as a background job: the web request only
queues the job; a worker queues the mails through the outbox in batches, marking each
recipient invited (reminded) in the same transaction as its outbox row and committing the
progress to the job row after every batch. A crash or a second run resumes where it stopped:
whoever is already marked is skipped."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from crm.audit.service import Actor, acting_as
from crm.contacts.models import Person
from crm.database import utcnow
from crm.extensions import db
from crm.jobs import queue
from crm.jobs.models import BackgroundJob
from crm.surveys import service
from crm.surveys.models import SurveyRecipient, SurveyRound

KIND = "surveys.send"
SUBJECT = "survey_round"
LANGUAGES = ("de", "en")
BATCH = 200
BERLIN = ZoneInfo("Europe/Berlin")


def _today() -> date:
    return utcnow().astimezone(BERLIN).date()


def render_mail(
    recipient: SurveyRecipient, person: Person | None, link: str, reminder: bool
) -> tuple[str, str]:
    """Subject and text of an invitation or reminder, in the contact person's language."""
    survey_round = db.session.get(SurveyRound, recipient.round_id)
    assert survey_round is not None
    language = person.language if person is not None and person.language in LANGUAGES else "de"
    closes = survey_round.closes_on.strftime("%d.%m.%Y")
    with force_locale(language):
        if reminder:
            subject = _("Reminder: %(name)s", name=survey_round.name)
            ask = _(
                'we have not yet received your answers to our survey "%(name)s". We would be '
                "glad to hear from you.",
                name=survey_round.name,
            )
        else:
            subject = survey_round.name
            ask = _(
                'we kindly ask you to answer our survey "%(name)s". It takes a few minutes and '
                "helps us find the right people for your organisation.",
                name=survey_round.name,
            )
        greeting = _("Hello %(name)s,", name=person.full_name) if person else _("Hello,")
        text = "\n\n".join(
            [
                greeting,
                ask,
                _("Your personal link (you can save your answers and continue later):")
                + "\n"
                + link,
                _("The survey closes on %(date)s.", date=closes),
            ]
        )
    return subject, text


def mail_settings(base_url: str) -> service.MailSettings:
    """Sender, secret, link and renderer of the round mails; links point at `base_url`."""
    base = base_url.rstrip("/")
    return service.MailSettings(
        sender=str(current_app.config["CRM_MAIL_FROM"]),
        secret=str(current_app.secret_key or ""),
        link=lambda token, lang: base + url_for("surveys.answer", token=token, sprache=lang),
        render=render_mail,
    )


def latest_for(session: Session, round_id: int) -> BackgroundJob | None:
    """The newest sending of the round (for its page to show the progress)."""
    return queue.latest_for(session, SUBJECT, round_id)


def running_for(session: Session, round_id: int) -> bool:
    """Whether invitations or reminders of the round are still queued or being sent."""
    return queue.is_active(latest_for(session, round_id))


def enqueue(
    session: Session,
    survey_round: SurveyRound,
    *,
    reminder: bool,
    base_url: str,
    actor: Actor,
    now: datetime,
) -> BackgroundJob:
    """Queue the sending of the round's invitations (or reminders); the caller commits.
    `now` is when the staff member asked: a reminder goes to those invited before it."""
    since = now.isoformat()
    total = service.count_pending(session, survey_round.id, reminder=reminder, since=now)
    payload = {
        "round_id": survey_round.id,
        "reminder": reminder,
        "since": since,
        "base_url": base_url,
        "actor": {"user_id": actor.user_id, "label": actor.label, "ip": actor.ip},
    }
    return queue.enqueue_job(
        session,
        KIND,
        payload,
        subject=(SUBJECT, survey_round.id),
        created_by_id=actor.user_id,
        total=total,
    )


def run(ctx: queue.JobContext) -> dict[str, Any]:
    """Worker: queue the mails batch by batch, committing each batch and then its progress."""
    session = ctx.session
    payload = ctx.payload
    a = payload.get("actor") or {}
    actor = Actor(a.get("user_id"), a.get("label") or "worker", a.get("ip") or "")
    base_url = str(payload.get("base_url") or current_app.config["CRM_BASE_URL"])
    reminder = bool(payload.get("reminder"))
    since = datetime.fromisoformat(str(payload["since"]))
    round_id = int(payload["round_id"])
    # The links are built with url_for, which needs a request context in a worker.
    with current_app.test_request_context(base_url=base_url), acting_as(actor):
        survey_round = session.get(SurveyRound, round_id)
        if survey_round is None:
            return {"status": "gone"}
        if not service.is_open(survey_round, _today()):
            session.commit()
            return {"status": "closed", "queued": 0}
        total = service.count_pending(session, round_id, reminder=reminder, since=since)
        # Commit first: on SQLite the progress write needs the write lock this session holds.
        session.commit()
        ctx.progress(0, total, "")
        mail = mail_settings(base_url)
        seen = queued = last_id = 0
        while True:
            batch = service.send_batch(
                session,
                survey_round,
                mail,
                reminder=reminder,
                since=since,
                now=utcnow(),
                after_id=last_id,
                size=BATCH,
            )
            session.commit()
            if not batch.seen:
                break
            seen += batch.seen
            queued += batch.queued
            last_id = batch.last_id
            ctx.progress(min(seen, total), total, "")
    return {"status": "done", "queued": queued, "reminder": reminder}


def register() -> None:
    """Register the sending job kind with the queue (from `connect_signals`)."""
    queue.register(KIND, run)
