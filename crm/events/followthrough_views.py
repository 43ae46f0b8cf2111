"""Staff pages around an event, on the events blueprint: the thank-you mail to attendees, a
follow-up for every lead, and personal invitations. Each sends only after a preview and a
confirming POST (with CSRF)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.audit.service import current_actor
from crm.contacts.models import ContactList
from crm.database import utcnow
from crm.events import followthrough as ft
from crm.events import invitation_jobs
from crm.events.forms import InvitationForm, LeadFollowupsForm, ThankYouForm
from crm.events.models import Event
from crm.events.registration_views import _mail
from crm.events.views import _base_url, bp
from crm.extensions import db
from crm.newsletters.audiences import count_recipients
from crm.newsletters.models import Audience, NewsletterList
from crm.newsletters.rendering import TemplateProblem
from crm.security import has_permission, require


def _event_or_404(event_id: int) -> Event:
    return db.session.get(Event, event_id) or abort(404)


# --- thank-you -----------------------------------------------------------------------------------


def _default_thank_you() -> tuple[str, str]:
    return (
        _("Thank you for attending"),
        _(
            "{{ anrede }},\n\nthank you for attending our event. We were glad to have you with "
            "us. If you have any questions or would like to stay in touch, simply reply to this "
            "e-mail.\n\nKind regards"
        ),
    )


@bp.route("/termine/<int:event_id>/danke", methods=["GET", "POST"])
@require("events.edit")
def thank_you(event_id: int):
    """Write (or take the default), preview, then send the thank-you to the attendees."""
    event = _event_or_404(event_id)
    form = ThankYouForm()
    if request.method == "GET":
        form.subject.data, form.body.data = _default_thank_you()
    started = event.starts_at <= utcnow()
    pending = ft.attendees_to_thank(db.session, event.id)
    preview = None
    if started and form.validate_on_submit():
        text = ft.ThankYou(subject=form.subject.data or "", body_text=form.body.data or "")
        try:
            if request.form.get("action") == "send":
                n = ft.send_thank_you(db.session, event, text, now=utcnow(), mail=_mail())
                db.session.commit()
                flash(_("%(n)d thank-you mails are queued.", n=n), "success")
                return redirect(url_for("events.registrations", event_id=event.id))
            if pending:
                preview = ft.render_thank_you(text, pending[0])
        except TemplateProblem as problem:
            db.session.rollback()
            form.body.errors = [*form.body.errors, str(problem)]
    return render_template(
        "events/thank_you.html",
        event=event,
        form=form,
        started=started,
        pending=pending,
        preview=preview,
    )


# --- a follow-up for every lead ------------------------------------------------------------------


@bp.post("/termine/<int:event_id>/leads/wiedervorlagen")
@require("events.edit")
def lead_followups(event_id: int):
    # One permission is declared per view; creating follow-ups needs theirs as well.
    if not has_permission(current_user, "followups.edit"):
        abort(403)
    event = _event_or_404(event_id)
    form = LeadFollowupsForm()
    if not form.validate_on_submit():
        flash(_("Please give a number of working days between 0 and 60."), "danger")
        return redirect(url_for("events.detail", event_id=event.id) + "#leads")
    days = form.working_days.data if form.working_days.data is not None else 3
    n = ft.followups_for_leads(
        db.session, event, created_by=current_user, now=utcnow(), working_days=days
    )
    db.session.commit()
    if n:
        flash(_("%(n)d follow-ups created for the leads.", n=n), "success")
    else:
        flash(_("Every lead already has an open follow-up."), "info")
    return redirect(url_for("events.detail", event_id=event.id) + "#leads")


# --- invitations ---------------------------------------------------------------------------------


def _invitation_choices(form: InvitationForm) -> None:
    form.list_id.choices = [
        (row.id, row.name)
        for row in db.session.scalars(sa.select(NewsletterList).order_by(NewsletterList.name))
    ]
    form.audience_id.choices = [(0, _("Everybody on the list"))] + [
        (row.id, row.name)
        for row in db.session.scalars(sa.select(Audience).order_by(Audience.name))
    ]
    form.contact_list_id.choices = [(0, _("No contact list"))] + [
        (row.id, row.name)
        for row in db.session.scalars(sa.select(ContactList).order_by(ContactList.name))
    ]


@bp.route("/termine/<int:event_id>/einladen", methods=["GET", "POST"])
@require("events.edit")
def invite(event_id: int):
    """Choose a newsletter list (and an audience or contact list), see how many are reached,
    then queue one invitation with a personal registration link per person."""
    event = _event_or_404(event_id)
    form = InvitationForm()
    _invitation_choices(form)
    reached = None
    if not event.registration_open or event.starts_at <= utcnow():
        flash(_("Invitations can be sent while the registration is open and before the event."))
        return redirect(url_for("events.registrations", event_id=event.id))
    if form.validate_on_submit():
        audience = (
            db.session.get(Audience, form.audience_id.data) if form.audience_id.data else None
        )
        recipients = ft.invitation_recipients(
            int(form.list_id.data or 0),
            audience=audience,
            contact_list_id=form.contact_list_id.data or None,
        )
        if request.form.get("action") == "send":
            if invitation_jobs.running_for(db.session, event.id):
                flash(_("Invitations for this event are already being sent."), "info")
            else:
                invitation_jobs.enqueue(
                    db.session,
                    event,
                    list_id=int(form.list_id.data or 0),
                    audience_id=form.audience_id.data or None,
                    contact_list_id=form.contact_list_id.data or None,
                    base_url=_base_url(),
                    actor=current_actor(),
                )
                db.session.commit()
                flash(
                    _("The invitations are being queued in the background; see the outbox."),
                    "success",
                )
            return redirect(url_for("events.registrations", event_id=event.id))
        reached = count_recipients(db.session, recipients)
    return render_template("events/invite.html", event=event, form=form, reached=reached)
