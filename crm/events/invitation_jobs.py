"""Invitations as a background job: the web request only queues it; a worker builds one mail
per person (a list may hold tens of thousands) and commits chunk by chunk. A crash or a second
run resumes where it stopped: whoever already has `invited_at` is skipped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from crm.audit.service import Actor, acting_as
from crm.contacts.models import Person
from crm.database import utcnow
from crm.events import followthrough as ft
from crm.events import registration as reg
from crm.events.models import Event
from crm.jobs import queue
from crm.jobs.models import BackgroundJob
from crm.newsletters import service as nl
from crm.newsletters.models import Audience, NewsletterList

KIND = "events.invite"
SUBJECT = "event"


def enqueue(
    session: Session,
    event: Event,
    *,
    list_id: int,
    audience_id: int | None,
    contact_list_id: int | None,
    base_url: str,
    actor: Actor,
) -> BackgroundJob:
    """Queue the invitations of `event` (the caller commits). `base_url` is where the personal
    links point: the worker has no request to ask."""
    payload = {
        "event_id": event.id,
        "list_id": list_id,
        "audience_id": audience_id,
        "contact_list_id": contact_list_id,
        "base_url": base_url,
        "actor": {"user_id": actor.user_id, "label": actor.label, "ip": actor.ip},
    }
    return queue.enqueue_job(
        session, KIND, payload, subject=(SUBJECT, event.id), created_by_id=actor.user_id
    )


def running_for(session: Session, event_id: int) -> bool:
    """Whether invitations of the event are still queued or being sent."""
    return queue.is_active(queue.latest_for(session, SUBJECT, event_id))


def render_invitation(event: Event, unsubscribe: Callable[[Person], str] | None = None) -> Any:
    """The renderer `followthrough.invite` calls per person: (subject, text, html) in the
    person's language, with the link that unsubscribes them from the list they were invited
    through (`unsubscribe(person)`)."""

    def render(person: Person, link: str) -> tuple[str, str, str]:
        lang = person.language if person.language in ("de", "en") else "de"
        with force_locale(lang):
            subject = _("Invitation: %(title)s", title=event.title)
            context = {
                "event": event,
                "person": person,
                "link": link,
                "lang": lang,
                "unsubscribe_link": unsubscribe(person) if unsubscribe is not None else "",
            }
            text = render_template("events/email/invitation.txt", **context)
            html = render_template("events/email/invitation.html", subject=subject, **context)
        return subject, text, html

    return render


def run(ctx: queue.JobContext) -> dict[str, Any]:
    """Worker: queue the invitations, committing after each chunk."""
    session = ctx.session
    payload = ctx.payload
    a = payload.get("actor") or {}
    actor = Actor(a.get("user_id"), a.get("label") or "worker", a.get("ip") or "")
    base_url = str(payload.get("base_url") or current_app.config["CRM_BASE_URL"])
    mail = reg.MailSettings(
        sender=str(current_app.config["CRM_MAIL_FROM"]),
        base_url=base_url,
        secret=str(current_app.secret_key or ""),
    )

    def chunk_done(done: int) -> None:
        # Commit first: on SQLite the progress write needs the write lock this chunk holds.
        session.commit()
        ctx.progress(done, 0, "")

    # The mails build their links with url_for, which needs a request context in a worker.
    with current_app.test_request_context(base_url=base_url), acting_as(actor):
        event = session.get(Event, int(payload["event_id"]))
        if event is None:
            return {"status": "gone"}
        newsletter = session.get(NewsletterList, int(payload["list_id"]))
        if newsletter is None:
            return {"status": "gone"}
        # The people are the list's subscribers: like a campaign of that list, every message
        # names the list and lets its reader leave it with one click (RFC 2369, RFC 8058).
        list_settings = replace(
            nl.MailSettings.from_config(current_app.config), base_url=base_url.rstrip("/")
        )

        def list_headers(person: Person) -> dict[str, str]:
            return {
                **nl.list_headers(list_settings, newsletter),
                **nl.unsubscribe_headers(list_settings, person, newsletter),
            }

        def unsubscribe(person: Person) -> str:
            return nl.unsubscribe_url(list_settings, person, newsletter.id)

        audience_id = payload.get("audience_id")
        audience = session.get(Audience, int(audience_id)) if audience_id else None
        recipients = ft.invitation_recipients(
            int(payload["list_id"]),
            audience=audience,
            contact_list_id=payload.get("contact_list_id") or None,
        )
        queued = ft.invite(
            session,
            event,
            recipients,
            now=utcnow(),
            mail=mail,
            render=render_invitation(event, unsubscribe),
            after_chunk=chunk_done,
            headers=list_headers,
        )
        session.commit()
    return {"status": "done", "invited": queued}


def register() -> None:
    """Register the invitation job kind with the queue (from `connect_signals`)."""
    queue.register(KIND, run)
