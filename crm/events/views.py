"""Event pages under /termine, the .ics downloads, the calendar feed and its account page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from crm.accounts.models import User
from crm.accounts.service import assignable_user, assignable_users
from crm.contacts.models import ContactList, Organisation, Person
from crm.contacts.service import find_records, resolve_organisation
from crm.database import db_int, utcnow
from crm.events import calendar as cal
from crm.events import followthrough, ical, minutes, service
from crm.events import series as rules
from crm.events.forms import (
    CATEGORY_LABELS,
    CONTACT_STATUS_LABELS,
    EVENT_STATUS_LABELS,
    KIND_LABELS,
    PATTERN_LABELS,
    ChecklistForm,
    ContactForm,
    EventForm,
    InviteListForm,
    LeadForm,
    MinutesActionForm,
    MinutesForm,
    SlotForm,
)
from crm.events.models import FAIR_KINDS, ChecklistItem, Event, StaffSlot
from crm.events.series import BERLIN, to_utc
from crm.extensions import db
from crm.followups.forms import STATUS_LABELS as FU_STATUS_LABELS
from crm.followups.service import can_see as can_see_followup
from crm.forms import choices
from crm.mail.queue import mail_domain
from crm.offices.service import active_offices
from crm.security import authenticated, has_permission, public, require

bp = Blueprint("events", __name__)
PER_PAGE = 50


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "KIND_LABELS": KIND_LABELS,
        "CATEGORY_LABELS": CATEGORY_LABELS,
        "CONTACT_STATUS_LABELS": CONTACT_STATUS_LABELS,
        "EVENT_STATUS_LABELS": EVENT_STATUS_LABELS,
        "FU_STATUS_LABELS": FU_STATUS_LABELS,
    }


def _today():
    return utcnow().astimezone(BERLIN).date()


def _horizon() -> int:
    return current_app.config.get("CRM_SERIES_HORIZON_DAYS", service.DEFAULT_HORIZON_DAYS)


def _event_or_404(event_id: int) -> Event:
    return service.get_event(db.session, event_id) or abort(404)


def _fair_or_404(event_id: int) -> Event:
    """Booth duty and leads exist for fairs only: other events have no such page."""
    event = _event_or_404(event_id)
    if not event.has_fair_sections:
        abort(404)
    return event


def _domain() -> str:
    return mail_domain(current_app.config["CRM_MAIL_FROM"])


def _staff_choices() -> list:
    return choices([(0, "—")] + [(u.id, u.display_name) for u in assignable_users(db.session)])


def _assignee_choices() -> list:
    return choices([(u.id, u.display_name) for u in assignable_users(db.session)])


# --- list and form -------------------------------------------------------------------------------


@bp.route("/termine/")
@require("events.view")
def index():
    page = min(max(request.args.get("seite", 1, type=int) or 1, 1), 100_000)
    kind = request.args.get("art", "")
    if kind not in KIND_LABELS:
        kind = ""
    past = request.args.get("zeitraum") == "vergangen"
    query = (request.args.get("q") or "").replace("\x00", "").strip()[:200]
    since = datetime.combine(_today(), datetime.min.time(), tzinfo=BERLIN)
    events, total = service.list_events(
        db.session,
        since,
        past=past,
        query=query,
        kind=kind,
        limit=PER_PAGE,
        offset=(page - 1) * PER_PAGE,
    )
    args = {
        key: value
        for key, value in (("art", kind), ("q", query), ("zeitraum", "vergangen" if past else ""))
        if value
    }
    return render_template(
        "events/index.html",
        events=events,
        total=total,
        page=page,
        per_page=PER_PAGE,
        kind=kind,
        past=past,
        query=query,
        args=args,
        can_edit=has_permission(current_user, "events.edit"),
    )


def _data_from(form: EventForm) -> service.EventData | None:
    start, end, all_day = service.local_span(
        form.start_date.data, form.start_time.data, form.end_date.data, form.end_time.data
    )
    organiser_id = None
    picked = db_int(form.organiser_id.data) if form.organiser_id.data else None
    picked_org = db.session.get(Organisation, picked) if picked else None
    # The picked id counts while the text still shows its name (no-JS users can only edit
    # the text, and then the text is what they mean).
    if picked_org is not None and picked_org.name == (form.organiser.data or "").strip():
        organiser_id = picked_org.id
    elif (form.organiser.data or "").strip():
        org, count = resolve_organisation(db.session, form.organiser.data)
        if org is None:
            # Say what to do next: on a new install no organisation exists yet at all.
            form.organiser.errors.append(
                _(
                    "No organisation has this name or number. Create it under Contacts first, "
                    "or leave the field empty."
                )
                if count == 0
                else _(
                    "%(n)d organisations match. Please type more of the name, or the number.",
                    n=count,
                )
            )
            return None
        organiser_id = org.id
    # Compared as moments: on the night the clocks go forward 02:45 is read as 03:45.
    if to_utc(end) < to_utc(start):
        form.end_date.errors.append(_("The end lies before the start."))
        return None
    return service.EventData(
        kind=form.kind.data,
        title=form.title.data or "",
        start_local=start,
        end_local=end,
        all_day=all_day,
        place=form.place.data or "",
        description=form.description.data or "",
        organiser_id=organiser_id,
        responsible_id=form.responsible_id.data or None,
    )


def _confirmed() -> bool:
    """The user saw the duplicate warning and chose "save anyway"."""
    return request.form.get("trotzdem") == "1"


def _duplicates_of(data: service.EventData, exclude_id: int | None = None) -> list[Event]:
    return service.same_title_and_day(
        db.session, data.title, data.start_local.date(), exclude_id=exclude_id
    )


def _rule_from(form: EventForm, start: datetime) -> tuple[str | None, bool]:
    try:
        return rules.rule_for(form.pattern.data, start, form.custom_rule.data or ""), True
    except rules.RuleError:
        form.custom_rule.errors.append(_("This is not a valid recurrence rule."))
        return None, False


@bp.route("/termine/neu", methods=["GET", "POST"])
@require("events.edit")
def new():
    form = EventForm()
    form.responsible_id.choices = _staff_choices()
    if request.method == "GET":
        form.responsible_id.data = current_user.id
    duplicates: list[Event] = []
    if form.validate_on_submit() and (data := _data_from(form)) is not None:
        rule, ok = _rule_from(form, data.start_local)
        duplicates = [] if _confirmed() else _duplicates_of(data)
        if ok and not duplicates:
            if rule:
                s = service.create_series(
                    db.session, data, rule, today=_today(), horizon_days=_horizon()
                )
                event = db.session.scalar(
                    sa.select(Event).where(Event.series_id == s.id).order_by(Event.starts_at)
                )
            else:
                event = service.create_event(db.session, data)
            if event is not None and event.has_fair_sections and form.default_checklist.data:
                service.add_default_checklist(db.session, event)
            db.session.commit()
            flash(_("The event has been saved."), "success")
            if event is None:
                return redirect(url_for("events.index"))
            return redirect(url_for("events.detail", event_id=event.id))
    return render_template(
        "events/form.html",
        form=form,
        event=None,
        duplicates=duplicates,
        fair_kinds=sorted(FAIR_KINDS),
    )


@bp.route("/termine/<int:event_id>/bearbeiten", methods=["GET", "POST"])
@require("events.edit")
def edit(event_id: int):
    event = _event_or_404(event_id)
    form = EventForm(obj=event)
    form.responsible_id.choices = _staff_choices()
    if request.method == "GET":
        start = event.starts_at.astimezone(BERLIN)
        end = event.ends_at.astimezone(BERLIN)
        form.start_date.data = start.date()
        form.start_time.data = None if event.all_day else start.time()
        form.end_date.data = end.date() if not event.all_day else (end - _one_day()).date()
        form.end_time.data = None if event.all_day else end.time()
        form.organiser.data = event.organiser.name if event.organiser else ""
        form.organiser_id.data = str(event.organiser_id) if event.organiser_id else ""
        form.responsible_id.data = event.responsible_id or 0
        form.pattern.data, form.custom_rule.data = _pattern_fields(event)
    duplicates: list[Event] = []
    if form.validate_on_submit() and (data := _data_from(form)) is not None:
        moved = (
            " ".join(data.title.split()).casefold() != " ".join(event.title.split()).casefold()
            or data.start_local.date() != event.starts_at.astimezone(BERLIN).date()
        )
        # Only a changed title or day can make a new twin; saving other fields never asks.
        if moved and not _confirmed():
            duplicates = _duplicates_of(data, exclude_id=event.id)
        if not duplicates and _rhythm_changed_for_one_date(form, event):
            # Saving would silently drop the new rhythm: one date has none of its own.
            form.pattern.errors = [
                _(
                    "A changed rhythm applies to this and all following dates: "
                    "choose that above, or keep the rhythm."
                )
            ]
        elif not duplicates:
            if event.series_id is not None and form.scope.data == "following":
                rule, ok = _rule_from(form, data.start_local)
                if ok:
                    new_series = service.split_series(
                        db.session, event, data, rule, today=_today(), horizon_days=_horizon()
                    )
                    first = db.session.scalar(
                        sa.select(Event)
                        .where(Event.series_id == new_series.id)
                        .order_by(Event.starts_at)
                    )
                    db.session.commit()
                    flash(_("The event has been saved."), "success")
                    target = first.id if first is not None else None
                    if target is None:
                        return redirect(url_for("events.index"))
                    return redirect(url_for("events.detail", event_id=target))
            else:
                service.update_event(db.session, event, data)
                db.session.commit()
                flash(_("The event has been saved."), "success")
                return redirect(url_for("events.detail", event_id=event.id))
    return render_template("events/form.html", form=form, event=event, duplicates=duplicates)


def _pattern_fields(event: Event) -> tuple[str, str]:
    """The recurrence choice and custom rule the edit form starts with.

    A rule made from one of the offered patterns shows as that pattern, as on the event page.
    An ended series (UNTIL) stays a custom rule: the pattern alone would drop its end.
    """
    if event.series is None:
        return "none", ""
    pattern, last_day = rules.pattern_of(event.series.rrule)
    if pattern != "custom" and last_day is None:
        return pattern, ""
    return "custom", event.series.rrule


def _rhythm_changed_for_one_date(form: EventForm, event: Event) -> bool:
    """True if the form changes a series' rhythm while saving only this one date."""
    if event.series_id is None or form.scope.data == "following":
        return False
    pattern, rule = _pattern_fields(event)
    if form.pattern.data != pattern:
        return True
    return pattern == "custom" and (form.custom_rule.data or "").strip().upper() != rule.upper()


def _one_day():
    return timedelta(days=1)


@bp.route("/termine/<int:event_id>/absagen", methods=["POST"])
@require("events.edit")
def cancel(event_id: int):
    event = _event_or_404(event_id)
    service.cancel_event(db.session, event)
    db.session.commit()
    flash(_("The event has been cancelled."), "success")
    return redirect(url_for("events.detail", event_id=event.id))


# --- detail and planning ---------------------------------------------------------------


def _checklist_form(event: Event, **kwargs: Any) -> ChecklistForm:
    form = ChecklistForm(**kwargs)
    form.category.choices = choices((c, CATEGORY_LABELS[c]) for c in event.checklist_categories)
    return form


def _action_form(**kwargs: Any) -> MinutesActionForm:
    form = MinutesActionForm(**kwargs)
    form.action_assignee_id.choices = _assignee_choices()
    return form


def _render_detail(event: Event, status: int = 200, **forms: Any) -> Any:
    slot_form = forms.get("slot_form") or SlotForm(formdata=None)
    slot_form.user_id.choices = _assignee_choices()
    if slot_form.day.data is None:
        slot_form.day.data = event.starts_at.astimezone(BERLIN).date()
    stored_minutes = minutes.minutes_of(db.session, event)
    minutes_form = forms.get("minutes_form")
    if minutes_form is None:
        minutes_form = MinutesForm(formdata=None)
        minutes_form.minutes_text.data = stored_minutes.text if stored_minutes else ""
        minutes_form.minutes_version.data = str(stored_minutes.version if stored_minutes else 0)
    action_form = forms.get("action_form")
    if action_form is None:
        action_form = _action_form(formdata=None)
        action_form.action_assignee_id.data = current_user.id
    leads = service.leads_of(db.session, event)
    return (
        render_template(
            "events/detail.html",
            event=event,
            conflicts=service.conflicts_of(db.session, event),
            contacts=service.contacts_of(db.session, event),
            leads=leads,
            # A lead's follow-up in detail only for whoever may see it on the follow-up pages.
            visible_lead_followups={
                lead.followup.id
                for lead in leads
                if lead.followup is not None and can_see_followup(current_user, lead.followup)
            },
            slot_form=slot_form,
            checklist_form=forms.get("checklist_form") or _checklist_form(event, formdata=None),
            minutes=stored_minutes,
            minutes_form=minutes_form,
            action_form=action_form,
            # Kept minutes stay visible (and editable) even if the event's kind changed since.
            show_minutes=event.has_minutes or stored_minutes is not None,
            actions=minutes.agreed_actions(db.session, event, current_user),
            contact_form=forms.get("contact_form") or ContactForm(formdata=None),
            invite_list_form=forms.get("invite_list_form") or _invite_list_form(formdata=None),
            can_edit=has_permission(current_user, "events.edit"),
            can_followup=has_permission(current_user, "followups.edit"),
            # "(open)" only while visitors can still register: not once the event has begun.
            registration_taking=event.registration_open
            and not event.is_cancelled
            and event.starts_at > utcnow(),
            figures=followthrough.figures(db.session, event.id),
            series_pattern=rules.pattern_of(event.series.rrule) if event.series else None,
            series_neighbours=service.series_neighbours(db.session, event),
            PATTERN_LABELS=PATTERN_LABELS,
        ),
        status,
    )


@bp.route("/termine/<int:event_id>")
@require("events.view")
def detail(event_id: int):
    return _render_detail(_event_or_404(event_id))


@bp.route("/termine/<int:event_id>/standdienst", methods=["POST"])
@require("events.edit")
def add_slot(event_id: int):
    event = _fair_or_404(event_id)
    form = SlotForm()
    form.user_id.choices = _assignee_choices()
    if not form.validate_on_submit():
        return _render_detail(event, 400, slot_form=form)
    user = assignable_user(db.session, form.user_id.data)
    start = to_utc(datetime.combine(form.day.data, form.start_time.data))
    end = to_utc(datetime.combine(form.day.data, form.end_time.data))
    if user is None or end <= start:
        form.end_time.errors.append(_("The slot must end after it starts."))
        return _render_detail(event, 400, slot_form=form)
    _slot, clashes = service.add_slot(db.session, event, user, start, end, form.note.data or "")
    db.session.commit()
    if clashes:
        flash(
            _(
                "%(name)s is already on duty at that time: %(events)s",
                name=user.display_name,
                events=", ".join(c.event.title for c in clashes),
            ),
            "warning",
        )
    else:
        flash(_("The slot has been added."), "success")
    return redirect(url_for("events.detail", event_id=event.id))


@bp.route("/termine/<int:event_id>/standdienst/<int:slot_id>/loeschen", methods=["POST"])
@require("events.edit")
def remove_slot(event_id: int, slot_id: int):
    slot = db.session.get(StaffSlot, slot_id)
    if slot is None or slot.event_id != event_id:
        abort(404)
    service.remove_slot(db.session, slot)
    db.session.commit()
    return redirect(url_for("events.detail", event_id=event_id))


@bp.route("/termine/<int:event_id>/checkliste", methods=["POST"])
@require("events.edit")
def add_checklist_item(event_id: int):
    event = _event_or_404(event_id)
    form = _checklist_form(event)
    if not form.validate_on_submit():
        return _render_detail(event, 400, checklist_form=form)
    service.add_checklist_item(db.session, event, form.category.data, form.label.data or "")
    db.session.commit()
    return redirect(url_for("events.detail", event_id=event.id) + "#checkliste")


@bp.route("/termine/<int:event_id>/checkliste/<int:item_id>", methods=["POST"])
@require("events.edit")
def toggle_checklist_item(event_id: int, item_id: int):
    item = db.session.get(ChecklistItem, item_id)
    if item is None or item.event_id != event_id:
        abort(404)
    item.done = not item.done
    db.session.commit()
    return redirect(url_for("events.detail", event_id=event_id) + "#checkliste")


@bp.route("/termine/<int:event_id>/kontakte", methods=["POST"])
@require("events.edit")
def set_contact(event_id: int):
    event = _event_or_404(event_id)
    form = ContactForm()
    if not form.validate_on_submit():
        return _render_detail(event, 400, contact_form=form)
    picked = db_int(form.person_id.data) if form.person_id.data else None
    chosen = db.session.get(Person, picked) if picked else None
    if chosen is not None and chosen.full_name != (form.person.data or "").strip():
        chosen = None
    found = (
        [chosen] if chosen else find_records(db.session, Person, form.person.data or "", limit=2)
    )
    if len(found) != 1:
        form.person.errors.append(_("No unique person found (%(n)d matches).", n=len(found)))
        return _render_detail(event, 400, contact_form=form)
    service.set_contact(db.session, event, found[0], form.status.data)
    db.session.commit()
    flash(
        _(
            "%(name)s is entered as “%(status)s”.",
            name=found[0].full_name,
            status=CONTACT_STATUS_LABELS[form.status.data],
        ),
        "success",
    )
    return redirect(url_for("events.detail", event_id=event.id) + "#kontakte")


def _invite_list_form(**kwargs: Any) -> InviteListForm | None:
    """The form that invites a whole contact list, for users who may see the lists."""
    if not has_permission(current_user, "contacts.view"):
        return None
    form = InviteListForm(**kwargs)
    form.contact_list_id.choices = choices(
        db.session.execute(
            sa.select(ContactList.id, ContactList.name).order_by(ContactList.name).limit(500)
        ).all(),
        placeholder=_l("Please choose"),
    )
    return form


@bp.route("/termine/<int:event_id>/kontakte/liste", methods=["POST"])
@require("events.edit")
def invite_contact_list(event_id: int):
    event = _event_or_404(event_id)
    form = _invite_list_form()
    if form is None:
        abort(403)
    contact_list = (
        db.session.get(ContactList, form.contact_list_id.data)
        if form.validate_on_submit() and form.contact_list_id.data
        else None
    )
    if contact_list is None:
        form.contact_list_id.errors = [_("Please choose a contact list.")]
        return _render_detail(event, 400, invite_list_form=form)
    entered, present = service.invite_contact_list(db.session, event, contact_list.id)
    db.session.commit()
    message = ngettext(
        "%(num)d person from “%(list)s” entered as invited.",
        "%(num)d people from “%(list)s” entered as invited.",
        entered,
        list=contact_list.name,
    )
    if present:
        message += " " + ngettext(
            "%(num)d was on the event already and keeps their status.",
            "%(num)d were on the event already and keep their status.",
            present,
        )
    flash(message, "success")
    return redirect(url_for("events.detail", event_id=event.id) + "#kontakte")


@bp.route("/termine/<int:event_id>/protokoll", methods=["POST"])
@require("events.edit")
def save_minutes(event_id: int):
    event = _event_or_404(event_id)
    form = MinutesForm()
    stored = minutes.minutes_of(db.session, event)
    if not event.has_minutes and stored is None:
        abort(404)
    if not form.validate_on_submit():
        return _render_detail(event, 400, minutes_form=form)
    base = db_int(form.minutes_version.data) if form.minutes_version.data else 0
    try:
        minutes.save_minutes(
            db.session,
            event,
            form.minutes_text.data or "",
            user=current_user._get_current_object(),
            now=utcnow(),
            base_version=base or 0,
        )
    except minutes.StaleMinutes:
        db.session.rollback()
        form.minutes_text.errors.append(
            _(
                "Someone else has saved the minutes in the meantime. Your text is still here: "
                "copy it, reload the page and add your changes again."
            )
        )
        return _render_detail(event, 409, minutes_form=form)
    db.session.commit()
    flash(_("The minutes have been saved."), "success")
    return redirect(url_for("events.detail", event_id=event.id) + "#protokoll")


@bp.route("/termine/<int:event_id>/protokoll/aufgaben", methods=["POST"])
@require("events.edit")
def add_minutes_action(event_id: int):
    event = _event_or_404(event_id)
    if not has_permission(current_user, "followups.edit"):
        abort(403)
    if not event.has_minutes and minutes.minutes_of(db.session, event) is None:
        abort(404)
    form = _action_form()
    if not form.validate_on_submit():
        return _render_detail(event, 400, action_form=form)
    assignee = assignable_user(db.session, form.action_assignee_id.data)
    if assignee is None:
        form.action_assignee_id.errors.append(_("Please choose a valid user."))
        return _render_detail(event, 400, action_form=form)
    minutes.add_action(
        db.session,
        event,
        subject=form.action_subject.data or "",
        assignee=assignee,
        due=form.action_due.data,
        created_by=current_user._get_current_object(),
    )
    db.session.commit()
    flash(
        _("Follow-up created for %(name)s.", name=assignee.display_name),
        "success",
    )
    return redirect(url_for("events.detail", event_id=event.id) + "#protokoll")


def _picked_lead_organisation(form: LeadForm) -> int | None:
    """The organisation chosen in the lead form's picker, while its name is still shown."""
    picked = db_int(form.organisation_id.data) if form.organisation_id.data else None
    org = db.session.get(Organisation, picked) if picked else None
    # Without JavaScript only the text can change: then the text is what the user means.
    if org is not None and org.name == (form.organisation.data or "").strip():
        return org.id
    return None


@bp.route("/termine/<int:event_id>/leads/neu", methods=["GET", "POST"])
@require("events.edit")
def new_lead(event_id: int):
    event = _fair_or_404(event_id)
    form = LeadForm()
    form.assignee_id.choices = _assignee_choices()
    if request.method == "GET":
        form.assignee_id.data = event.responsible_id or current_user.id
    if form.validate_on_submit():
        assignee = assignable_user(db.session, form.assignee_id.data)
        if assignee is None:
            form.assignee_id.errors.append(_("Please choose a valid user."))
        else:
            lead = service.capture_lead(
                db.session,
                event,
                service.LeadData(
                    first_name=form.first_name.data or "",
                    last_name=form.last_name.data or "",
                    email=form.email.data or "",
                    phone=form.phone.data or "",
                    organisation_name=form.organisation.data or "",
                    organisation_id=_picked_lead_organisation(form),
                    postcode=form.postcode.data or "",
                    note=form.note.data or "",
                    followup_subject=form.followup_subject.data or "",
                    followup_due=form.followup_due.data,
                ),
                captured_by=current_user._get_current_object(),
                assignee=assignee,
                now=utcnow(),
            )
            db.session.commit()
            flash(
                _("Lead saved: %(name)s.", name=lead.person.full_name),
                "success",
            )
            if request.form.get("next") == "again":
                return redirect(url_for("events.new_lead", event_id=event.id))
            return redirect(url_for("events.detail", event_id=event.id) + "#leads")
    return render_template("events/lead_form.html", form=form, event=event)


# --- calendar ------------------------------------------------------------------------------

WEEKDAY_NAMES = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)
WEEKDAY_SHORT = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
MONTH_NAMES = (
    _l("January"),
    _l("February"),
    _l("March"),
    _l("April"),
    _l("May"),
    _l("June"),
    _l("July"),
    _l("August"),
    _l("September"),
    _l("October"),
    _l("November"),
    _l("December"),
)


def _calendar_filters(problems: list[str]) -> tuple[cal.CalendarFilter, dict[str, Any]]:
    """The filter from the query string; unknown values are dropped with a message."""
    offices = {o.id: o for o in active_offices(db.session)}
    people = {u.id: u for u in assignable_users(db.session, "events.view")}
    raw_office = request.args.get("geschaeftsstelle", "")
    office_id = db_int(raw_office) if raw_office else None
    if raw_office and office_id not in offices:
        problems.append(_("This office is not known; events of all offices are shown."))
        office_id = None
    raw_person = request.args.get("person", "")
    person_id = db_int(raw_person) if raw_person else None
    if raw_person and person_id not in people:
        problems.append(_("This person is not known; events of everyone are shown."))
        person_id = None
    kind = request.args.get("art", "")
    if kind and kind not in KIND_LABELS:
        problems.append(_("This kind of event is not known; all kinds are shown."))
        kind = ""
    filters = cal.CalendarFilter(office_id=office_id, kind=kind, person_id=person_id)
    args = {
        key: value
        for key, value in (("geschaeftsstelle", office_id), ("art", kind), ("person", person_id))
        if value
    }
    return filters, {"args": args, "offices": offices.values(), "people": people.values()}


@bp.route("/termine/kalender")
@require("events.view")
def calendar():
    """Month grid, week or 30-day agenda of events, series dates and duties, filtered."""
    problems: list[str] = []
    filters, context = _calendar_filters(problems)
    shown = cal.period(
        request.args.get("ansicht", "monat"),
        request.args.get("monat"),
        request.args.get("datum"),
        _today(),
    )
    if not shown.valid:
        problems.append(
            _("This is not a month the calendar can show; here is this month.")
            if shown.view == "monat"
            else _("This is not a date the calendar can show; here is today.")
        )
    items = cal.entries(db.session, shown.first, shown.last, filters)
    return render_template(
        "events/calendar.html",
        view=shown.view,
        period=shown,
        today=_today(),
        entries_by_day=cal.by_day(items),
        filters=filters,
        problems=problems,
        me_id=current_user.id,
        WEEKDAY_NAMES=WEEKDAY_NAMES,
        WEEKDAY_SHORT=WEEKDAY_SHORT,
        MONTH_NAMES=MONTH_NAMES,
        **context,
    )


# --- iCal ----------------------------------------------------------------------------------


def _base_url() -> str:
    """Where links in feeds point: the address the app runs on in development, else CRM_BASE_URL.

    In development CRM_BASE_URL keeps its default (127.0.0.1:5000), which is wrong whenever
    the app is reached on another host or port; production must not trust the Host header.
    """
    if current_app.config.get("CRM_ENV") == "development":
        return request.host_url.rstrip("/")
    return str(current_app.config["CRM_BASE_URL"]).rstrip("/")


def _ics(body: bytes, filename: str) -> Response:
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.route("/termine/<int:event_id>.ics")
@require("events.view")
def event_ics(event_id: int):
    event = _event_or_404(event_id)
    body = ical.event_ics(db.session, event, _domain(), utcnow())
    return _ics(body, f"termin-{event.id}.ics")


@bp.route("/kalender/<token>.ics")
@public
def feed(token: str):
    user = ical.user_for_token(db.session, token)
    if user is None:
        abort(404)
    body = ical.feed_ics(db.session, user, utcnow(), _domain(), _base_url())
    response = Response(body, mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/konto/kalender", methods=["GET", "POST"])
@authenticated
def calendar_account():
    me: User = current_user._get_current_object()
    token = None
    if request.method == "POST":
        from crm.followups.forms import ActionForm

        if not ActionForm().validate_on_submit():
            abort(400)
        if request.form.get("action") == "revoke":
            ical.revoke_tokens(db.session, me.id, utcnow())
            flash(_("Your calendar link has been revoked."), "success")
        else:
            token = ical.new_token(db.session, me.id, utcnow())
            flash(
                _("A new calendar link has been created; the old one no longer works."), "success"
            )
        db.session.commit()
    active = ical.active_token(db.session, me.id)
    url = _base_url() + url_for("events.feed", token=token) if token else None
    return render_template("events/calendar_account.html", active=active, url=url)
