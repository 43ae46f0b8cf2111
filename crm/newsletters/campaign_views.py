"""Campaign pages under /newsletter/aussendungen: archive, new, detail with progress and
the per-recipient status list, and the state changes (schedule, start, pause, resume, cancel)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from crm.contacts.models import ContactList
from crm.database import utcnow
from crm.extensions import db
from crm.forms import Form, choices, int_or_none
from crm.newsletters import campaigns as svc
from crm.newsletters.audiences import count_recipients
from crm.newsletters.forms import put_template_problems
from crm.newsletters.models import (
    DELIVERY_STATUSES,
    Audience,
    Campaign,
    NewsletterList,
    NewsletterTemplate,
)
from crm.newsletters.rendering import (
    TemplateProblem,
    render_for_recipient,
    render_subject,
    sample_context,
)
from crm.newsletters.test_send import send_test_to_me, stand_in
from crm.security import fragment, has_permission, require

bp = Blueprint("newsletter_campaigns", __name__, url_prefix="/newsletter/aussendungen")
PER_PAGE = 25
RECIPIENTS_PER_PAGE = 50
BERLIN = ZoneInfo("Europe/Berlin")

STATUS_LABELS = {
    "draft": _l("Draft"),
    "scheduled": _l("Scheduled"),
    "sending": _l("Sending"),
    "paused": _l("Paused"),
    "sent": _l("Sent"),
    "cancelled": _l("Cancelled"),
}
DELIVERY_LABELS = {
    "queued": _l("Queued"),
    "sending": _l("Being sent"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "cancelled": _l("Cancelled"),
}


AUDIENCE_KIND_LABELS = {
    "list": _l("all confirmed subscribers of the newsletter"),
    "audience": _l("a saved audience"),
    "static": _l("a static contact list"),
}


class CampaignForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    list_id = SelectField(_l("Newsletter"), coerce=int_or_none, validators=[DataRequired()])
    audience_kind = RadioField(
        _l("Recipients"), choices=choices(AUDIENCE_KIND_LABELS.items()), default="list"
    )
    audience_id = SelectField(_l("Saved audience"), coerce=int_or_none)
    contact_list_id = SelectField(_l("Static contact list"), coerce=int_or_none)
    template_id = SelectField(_l("Template"), coerce=int_or_none, validators=[DataRequired()])
    subject = StringField(_l("Subject"), validators=[Optional(), Length(max=300)])
    send_at = DateTimeLocalField(
        _l("Send at (optional)"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )


class CampaignEditForm(CampaignForm):
    """The campaign form for a draft: the same fields, with the campaign's own copy of the
    bodies instead of the template (which only gave the first copy) and without the send
    time (the campaign page schedules)."""

    template_id = None
    send_at = None
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300)])
    body_html = TextAreaField(_l("HTML body"), validators=[Optional(), Length(max=200_000)])
    body_text = TextAreaField(
        _l("Plain-text body"), validators=[DataRequired(), Length(max=100_000)]
    )
    # The version the editor started from (optimistic lock, see campaigns.update_campaign).
    version = HiddenField()


class CountForm(Form):
    """The recipients part of the campaign form, as a GET form (no JavaScript needed)."""

    class Meta:
        csrf = False  # a GET form that changes nothing

    list_id = SelectField(_l("Newsletter"), coerce=int_or_none)
    audience_kind = RadioField(
        _l("Recipients"), choices=choices(AUDIENCE_KIND_LABELS.items()), default="list"
    )
    audience_id = SelectField(_l("Saved audience"), coerce=int_or_none)
    contact_list_id = SelectField(_l("Static contact list"), coerce=int_or_none)


class ScheduleForm(Form):
    send_at = DateTimeLocalField(
        _l("Send at"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "STATUS_LABELS": STATUS_LABELS,
        "DELIVERY_LABELS": DELIVERY_LABELS,
        "shown_subject": shown_subject,
    }


def shown_subject(campaign: Campaign) -> str:
    """The campaign's subject rendered as on the recipients' side (placeholders named)."""
    try:
        return render_subject(campaign.subject, list_name=campaign.newsletter_list.name)
    except TemplateProblem:
        return campaign.subject


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _page() -> int:
    return max(request.args.get("seite", 1, type=int) or 1, 1)


@bp.get("/")
@require("newsletters.view")
def index() -> str:
    """All campaigns, newest first, with their figures; sent ones stay here as the archive."""
    page = _page()
    total = db.session.scalar(sa.select(sa.func.count(Campaign.id))) or 0
    items = list(
        db.session.scalars(
            sa.select(Campaign)
            .options(joinedload(Campaign.newsletter_list))
            .order_by(Campaign.created_at.desc(), Campaign.id.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    return render_template(
        "newsletters/campaign_index.html",
        campaigns=items,
        figures=svc.figures(db.session, [c.id for c in items]),
        page=page,
        per_page=PER_PAGE,
        total=total,
        can_edit=has_permission(current_user, "newsletters.edit"),
    )


def _campaign_form() -> CampaignForm:
    form = CampaignForm()
    _recipient_choices(form)
    form.template_id.choices = choices(
        db.session.execute(
            sa.select(NewsletterTemplate.id, NewsletterTemplate.name).order_by(
                NewsletterTemplate.name
            )
        ).all(),
        placeholder=_l("Please choose"),
    )
    return form


def _recipient_choices(form: CampaignForm | CountForm) -> None:
    form.list_id.choices = choices(
        db.session.execute(
            sa.select(NewsletterList.id, NewsletterList.name)
            .where(NewsletterList.active.is_(True))
            .order_by(NewsletterList.name)
        ).all(),
        placeholder=_l("Please choose"),
    )
    form.audience_id.choices = choices(
        (
            (row.id, f"{row.name} ({row.list_name})")
            for row in db.session.execute(
                sa.select(Audience.id, Audience.name, NewsletterList.name.label("list_name"))
                .join(NewsletterList, NewsletterList.id == Audience.list_id)
                .order_by(Audience.name)
                .limit(500)
            )
        ),
        placeholder="–",
    )
    form.contact_list_id.choices = choices(
        db.session.execute(
            sa.select(ContactList.id, ContactList.name).order_by(ContactList.name).limit(500)
        ).all(),
        placeholder="–",
    )


def _audience_problem(
    kind: str, list_id: int | None, audience_id: int | None, contact_list_id: int | None
) -> tuple[str | None, Audience | None]:
    """(German problem or None, the saved audience) for the chosen recipients."""
    if kind == "audience":
        audience = db.session.get(Audience, audience_id) if audience_id else None
        if audience is None:
            return _("Please choose a saved audience."), None
        if audience.list_id != list_id:
            return _("This audience was saved for another newsletter."), None
        return None, audience
    if kind == "static" and (
        not contact_list_id or db.session.get(ContactList, contact_list_id) is None
    ):
        return _("Please choose a static contact list."), None
    return None, None


def _recipient_count(form: CampaignForm) -> int | None:
    kind = form.audience_kind.data
    problem, audience = _audience_problem(
        kind, form.list_id.data, form.audience_id.data, form.contact_list_id.data
    )
    if problem or not form.list_id.data:
        return None
    select = svc.audience_select(
        form.list_id.data,
        audience=audience,
        contact_list_id=form.contact_list_id.data if kind == "static" else None,
    )
    return count_recipients(db.session, select)


@bp.route("/neu", methods=["GET", "POST"])
@require("newsletters.edit")
def new() -> Any:
    """A new campaign: list, audience, template, subject (the template's if empty), send time."""
    form = _campaign_form()
    if request.method == "GET":
        form.list_id.data = request.args.get("list_id", type=int)
        # An office with one newsletter or one template has nothing to choose: preselect it
        # (the placeholder stays first, so the select is still a valid required one).
        for select in (form.list_id, form.template_id):
            real = [c for c in select.choices if c.value != ""]
            if select.data is None and len(real) == 1:
                select.data = real[0].value
    refresh = "refresh" in request.form
    count: int | None = None
    if form.validate_on_submit() and not refresh:
        campaign = _create(form)
        if campaign is not None:
            flash(_("Campaign created as a draft."), "success")
            if campaign.status == "scheduled":
                flash(_("The campaign is scheduled."), "success")
            return redirect(url_for(".detail", campaign_id=campaign.id))
    if request.method == "POST":
        if not form.subject.data and form.template_id.data:
            template = db.session.get(NewsletterTemplate, form.template_id.data)
            form.subject.data = template.subject if template else ""
        count = _recipient_count(form)
    return render_template("newsletters/campaign_form.html", form=form, count=count)


def _recipients(form: CampaignForm) -> tuple[int | None, int | None] | None:
    """(audience id, contact list id) of the form's valid recipient choice, or None with
    the problem put on its field."""
    kind = form.audience_kind.data
    problem, audience = _audience_problem(
        kind, form.list_id.data, form.audience_id.data, form.contact_list_id.data
    )
    if problem:
        field = form.audience_id if kind == "audience" else form.contact_list_id
        field.errors = [problem]
        return None
    return (
        audience.id if audience else None,
        form.contact_list_id.data if kind == "static" else None,
    )


def _create(form: CampaignForm) -> Campaign | None:
    template = db.session.get(NewsletterTemplate, form.template_id.data)
    if template is None:
        form.template_id.errors = [_("Please choose a template.")]
        return None
    recipients = _recipients(form)
    if recipients is None:
        return None
    text = svc.CampaignText(
        name=form.name.data.strip(),
        list_id=form.list_id.data,
        audience_id=recipients[0],
        contact_list_id=recipients[1],
        subject=(form.subject.data or "").strip() or template.subject,
        body_html=template.body_html,
        body_text=template.body_text,
    )
    # The bodies are the template's: a problem in them is the template choice's problem.
    fields = {"subject": form.subject, "html": form.template_id, "text": form.template_id}
    if put_template_problems(text, fields):
        return None
    send_at = None
    if form.send_at.data is not None:
        if not has_permission(current_user, "newsletters.send"):
            form.send_at.errors = [_("You may not schedule campaigns.")]
            return None
        send_at = form.send_at.data.replace(tzinfo=BERLIN)
        if send_at <= utcnow():
            form.send_at.errors = [_("The send time must be in the future.")]
            return None
    campaign = svc.create_campaign(
        db.session, text, template_id=template.id, user_id=current_user.id
    )
    if send_at is not None:
        svc.schedule_campaign(db.session, campaign, send_at)
    db.session.commit()
    return campaign


def _audience_kind(campaign: Campaign) -> str:
    if campaign.audience_id:
        return "audience"
    if campaign.contact_list_id:
        return "static"
    return "list"


@bp.route("/<int:campaign_id>/bearbeiten", methods=["GET", "POST"])
@require("newsletters.edit")
def edit(campaign_id: int) -> Any:
    """Change name, recipients, subject and bodies while the campaign has not started."""
    campaign = _campaign(campaign_id)
    if campaign.status not in svc.EDITABLE_STATUSES:
        flash(_not_editable(), "danger")
        return redirect(url_for(".detail", campaign_id=campaign.id))
    form = CampaignEditForm(obj=campaign if request.method == "GET" else None)
    _recipient_choices(form)
    if request.method == "GET":
        form.audience_kind.data = _audience_kind(campaign)
        form.version.data = str(campaign.version)
    refresh = "refresh" in request.form
    status = 200
    if form.validate_on_submit() and not refresh:
        outcome = _save_edit(form, campaign)
        if outcome == "saved":
            flash(_("The campaign has been saved."), "success")
            return redirect(url_for(".detail", campaign_id=campaign.id))
        if outcome == "refused":
            flash(_not_editable(), "danger")
            return redirect(url_for(".detail", campaign_id=campaign.id))
        status = 409 if outcome == "stale" else 400
    elif request.method == "POST" and not refresh:
        status = 400
    count = _recipient_count(form)
    return render_template(
        "newsletters/campaign_form.html", form=form, count=count, campaign=campaign
    ), status


def _not_editable() -> str:
    return _("This campaign can no longer be edited: sending has started or it was cancelled.")


def _save_edit(form: CampaignEditForm, campaign: Campaign) -> str:
    """ "saved", "invalid" (problems on the form), "stale" or "refused"."""
    recipients = _recipients(form)
    if recipients is None:
        return "invalid"
    text = svc.CampaignText(
        name=form.name.data.strip(),
        list_id=form.list_id.data,
        audience_id=recipients[0],
        contact_list_id=recipients[1],
        subject=form.subject.data.strip(),
        body_html=form.body_html.data or "",
        body_text=form.body_text.data or "",
    )
    fields = {"subject": form.subject, "html": form.body_html, "text": form.body_text}
    if put_template_problems(text, fields):
        return "invalid"
    try:
        base_version = int(form.version.data or "")
    except ValueError:
        base_version = -1  # a tampered form: treated like a stale one
    try:
        svc.update_campaign(db.session, campaign, text, base_version=base_version)
    except svc.CampaignNotEditable:
        db.session.rollback()
        return "refused"
    except svc.StaleCampaign:
        db.session.rollback()
        form.version.errors = [
            _(
                "Someone else has saved this campaign in the meantime. Your changes are still "
                "here: copy them, open the campaign for editing again and make them again."
            )
        ]
        return "stale"
    db.session.commit()
    return "saved"


@bp.get("/anzahl")
@require("newsletters.view")
def recipient_count() -> str:
    """The recipient count for the campaign form's current values: the live count (htmx),
    or without JavaScript a page of its own with the same choices as a GET form."""
    args = request.args
    kind = args.get("audience_kind", "list")
    list_id = args.get("list_id", type=int)
    audience_id = args.get("audience_id", type=int)
    contact_list_id = args.get("contact_list_id", type=int)
    count: int | None = None
    problem: str | None = None
    if kind in AUDIENCE_KIND_LABELS and list_id:
        problem, audience = _audience_problem(kind, list_id, audience_id, contact_list_id)
        if not problem:
            select = svc.audience_select(
                list_id,
                audience=audience,
                contact_list_id=contact_list_id if kind == "static" else None,
            )
            count = count_recipients(db.session, select)
    if request.headers.get("HX-Request") == "true":
        return render_template("newsletters/_count.html", count=count, error=problem)
    form = CountForm(request.args)
    _recipient_choices(form)
    if kind not in AUDIENCE_KIND_LABELS:
        form.audience_kind.data = "list"
    return render_template("newsletters/campaign_count.html", form=form, count=count, error=problem)


@bp.post("/<int:campaign_id>/testversand")
@require("newsletters.edit")
def test_send(campaign_id: int) -> Any:
    """Queue the campaign's own subject and text as a test to the staff member."""
    campaign = _campaign(campaign_id)
    # The campaign keeps its own copy of the template: test that copy, not the template.
    send_test_to_me(campaign, stand_in(), campaign.newsletter_list)
    return redirect(url_for(".detail", campaign_id=campaign.id))


@bp.post("/<int:campaign_id>/duplizieren")
@require("newsletters.edit")
def duplicate(campaign_id: int) -> Any:
    """A new draft with the campaign's list, audience, subject and bodies."""
    copy = svc.duplicate_campaign(
        db.session, _campaign(campaign_id), name_prefix=_("Copy of"), user_id=current_user.id
    )
    db.session.commit()
    flash(_("Campaign copied as a draft."), "success")
    return redirect(url_for(".detail", campaign_id=copy.id))


@bp.get("/<int:campaign_id>")
@require("newsletters.view")
def detail(campaign_id: int) -> str:
    """The campaign with its progress and one page of its recipients."""
    campaign = _campaign(campaign_id)
    status = request.args.get("status") or None
    if status not in (None, *DELIVERY_STATUSES):
        status = None
    page = _page()
    rows, total = svc.deliveries_page(
        db.session, campaign.id, status=status, page=page, per_page=RECIPIENTS_PER_PAGE
    )
    try:
        # The issue as it goes out (with sample data), so staff can read what they send.
        preview, problem = render_for_recipient(campaign, sample_context()), ""
    except TemplateProblem as exc:
        preview, problem = None, exc.message
    schedule_form = ScheduleForm()
    if campaign.send_at:
        schedule_form.send_at.data = campaign.send_at.astimezone(BERLIN).replace(tzinfo=None)
    return render_template(
        "newsletters/campaign_detail.html",
        campaign=campaign,
        progress=svc.progress(db.session, campaign.id),
        rows=rows,
        rows_total=total,
        page=page,
        per_page=RECIPIENTS_PER_PAGE,
        status=status,
        statuses=DELIVERY_STATUSES,
        schedule_form=schedule_form,
        preview=preview,
        preview_problem=problem,
        can_send=has_permission(current_user, "newsletters.send"),
        can_edit=has_permission(current_user, "newsletters.edit"),
        editable_statuses=svc.EDITABLE_STATUSES,
    )


@bp.get("/<int:campaign_id>/fortschritt")
@fragment
@require("newsletters.view")
def progress(campaign_id: int) -> str:
    """The progress bar partial that htmx polls while the campaign is sending."""
    campaign = _campaign(campaign_id)
    return render_template(
        "newsletters/campaign_progress.html",
        campaign=campaign,
        progress=svc.progress(db.session, campaign.id),
    )


def _change(campaign_id: int, action: str) -> Any:
    campaign = _campaign(campaign_id)
    try:
        if action == "start":
            svc.start_campaign(db.session, campaign)
            message = _("The campaign is being sent.")
        elif action == "pause":
            svc.pause(
                db.session, campaign, reason=_("Paused by %(name)s", name=current_user.display_name)
            )
            message = _("The campaign is paused.")
        elif action == "resume":
            svc.resume(db.session, campaign)
            message = _("The campaign continues.")
        elif action == "cancel":
            svc.cancel_campaign(db.session, campaign)
            message = _("The campaign was cancelled.")
        elif action == "unschedule":
            svc.unschedule_campaign(db.session, campaign)
            message = _("The campaign is a draft again.")
        else:  # pragma: no cover - routes below pass known actions
            abort(404)
    except svc.CampaignError:
        db.session.rollback()
        flash(_("This is not possible in the campaign's current state."), "danger")
        return redirect(url_for(".detail", campaign_id=campaign_id))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".detail", campaign_id=campaign_id))


@bp.post("/<int:campaign_id>/starten")
@require("newsletters.send")
def start(campaign_id: int) -> Any:
    """Freeze the recipients and start sending now."""
    return _change(campaign_id, "start")


@bp.post("/<int:campaign_id>/pausieren")
@require("newsletters.send")
def pause(campaign_id: int) -> Any:
    """Pause sending."""
    return _change(campaign_id, "pause")


@bp.post("/<int:campaign_id>/fortsetzen")
@require("newsletters.send")
def resume(campaign_id: int) -> Any:
    """Resume a paused campaign."""
    return _change(campaign_id, "resume")


@bp.post("/<int:campaign_id>/abbrechen")
@require("newsletters.send")
def cancel(campaign_id: int) -> Any:
    """Cancel; queued rows are not sent."""
    return _change(campaign_id, "cancel")


@bp.post("/<int:campaign_id>/entplanen")
@require("newsletters.send")
def unschedule(campaign_id: int) -> Any:
    """Turn a scheduled campaign back into a draft."""
    return _change(campaign_id, "unschedule")


@bp.post("/<int:campaign_id>/planen")
@require("newsletters.send")
def schedule(campaign_id: int) -> Any:
    """Plan the campaign for a time (entered in Berlin time)."""
    campaign = _campaign(campaign_id)
    form = ScheduleForm()
    if not form.validate_on_submit() or form.send_at.data is None:
        flash(_("Please enter a valid date and time."), "danger")
        return redirect(url_for(".detail", campaign_id=campaign_id))
    send_at: datetime = form.send_at.data.replace(tzinfo=BERLIN)
    if send_at <= utcnow():
        flash(_("The send time must be in the future."), "danger")
        return redirect(url_for(".detail", campaign_id=campaign_id))
    try:
        svc.schedule_campaign(db.session, campaign, send_at)
    except svc.CampaignError:
        db.session.rollback()
        flash(_("This is not possible in the campaign's current state."), "danger")
        return redirect(url_for(".detail", campaign_id=campaign_id))
    db.session.commit()
    flash(_("The campaign is scheduled."), "success")
    return redirect(url_for(".detail", campaign_id=campaign_id))
