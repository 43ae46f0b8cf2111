"""Follow-up pages under /wiedervorlagen: my list, create, detail with its actions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.accounts.models import User
from crm.accounts.service import assignable_user, assignable_users
from crm.dashboard.weeks import local_date, week_of
from crm.database import db_int, utcnow
from crm.extensions import db
from crm.followups import service
from crm.followups.forms import (
    GROUP_LABELS,
    LINKS,
    PRIORITY_LABELS,
    REPEAT_LABELS,
    STATUS_LABELS,
    ActionForm,
    DoneForm,
    EditForm,
    FollowUpForm,
    ReassignForm,
    SnoozeForm,
)
from crm.followups.models import FollowUp
from crm.forms import choices
from crm.participants import service as participants_service
from crm.participants.models import Participant
from crm.search import service as search
from crm.security import has_permission, require, writes_on_get

bp = Blueprint("followups", __name__, url_prefix="/wiedervorlagen")
PER_GROUP = 50
# The overview ("All") shows the first few of each group; a group's own tab pages through all.
# Up to 4 × PER_GROUP items made the overview the slowest page of a busy user.
OVERVIEW_PER_GROUP = 10
# Roles that see everybody's follow-ups and may filter the list by assignee.
SUPERVISING = service.SUPERVISING


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "GROUP_LABELS": GROUP_LABELS,
        "PRIORITY_LABELS": PRIORITY_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "REPEAT_LABELS": REPEAT_LABELS,
    }


# --- helpers ------------------------------------------------------------------------------------


def _supervises(user: Any) -> bool:
    return user.role in SUPERVISING


def _can_see(user: Any, fu: FollowUp) -> bool:
    return service.can_see(user, fu)


def _can_change(user: Any, fu: FollowUp) -> bool:
    return has_permission(user, "followups.edit") and _can_see(user, fu)


def _assignee_choices() -> list:
    return choices([(u.id, u.display_name) for u in assignable_users(db.session)])


def _followup_or_404(fu_id: int) -> FollowUp:
    fu = db.session.get(FollowUp, fu_id)
    if fu is None or not _can_see(current_user, fu):
        # Someone else's follow-up looks the same as a missing one.
        abort(404)
    return fu


def _changeable_or_404(fu_id: int) -> FollowUp:
    fu = _followup_or_404(fu_id)
    if not _can_change(current_user, fu):
        abort(403)
    return fu


def _back() -> str:
    """Where an action returns to: the start page ("Mein Tag") when it was sent from there."""
    if request.form.get("zurueck") == "start":
        return url_for("core.index")
    return url_for("followups.index")


def _int_arg(value: Any) -> int | None:
    number = db_int(value)
    return number if number is not None and number > 0 else None


# --- pages --------------------------------------------------------------------------------------


@bp.route("/")
@require("followups.view")
def index():
    me = current_user._get_current_object()
    assignee = me
    users: list[User] = []
    if _supervises(me):
        users = assignable_users(db.session)
        wanted = request.args.get("bearbeitung", type=int)
        if wanted and wanted != me.id:
            assignee = db.session.get(User, wanted) or abort(404)
    only = request.args.get("gruppe")
    if only not in service.GROUPS:
        only = None
    page = max(request.args.get("seite", 1, type=int) or 1, 1)
    now = utcnow()
    groups = service.grouped_followups(
        db.session,
        assignee.id,
        now,
        limit=PER_GROUP if only else OVERVIEW_PER_GROUP,
        offset=(page - 1) * PER_GROUP,
        only=only,
    )
    return render_template(
        "followups/index.html",
        groups=groups,
        visible_participants=_visible_participants(me, groups),
        assignee=assignee,
        users=users,
        selected_group=only,
        this_week=week_of(now),
        page=page,
        per_group=PER_GROUP,
        can_edit=has_permission(me, "followups.edit"),
    )


@bp.route("/team")
@require("followups.view")
def team():
    """For leads and admins: each colleague's overdue, today's and this week's follow-ups."""
    me = current_user._get_current_object()
    if not _supervises(me):
        abort(403)
    now = utcnow()
    rows = service.team_counts(db.session, assignable_users(db.session), now)
    return render_template(
        "followups/team.html",
        rows=rows,
        totals={g: sum(getattr(r, g) for r in rows) for g in ("overdue", "today", "week")},
        this_week=week_of(now),
    )


def _visible_participants(me: Any, groups: list[service.Group]) -> frozenset[int]:
    """Ids of the participants linked to the listed follow-ups whom `me` may see.

    A case follow-up's subject carries only the participant's number (TN-…); the list names
    her where the follow-up's own page would, as the start page does (one query).
    """
    linked = {fu.participant_id for g in groups for fu in g.items if fu.participant_id}
    if not linked or not has_permission(me, "participants.view"):
        return frozenset()
    return frozenset(
        db.session.scalars(
            participants_service.scope_participants(sa.select(Participant.id), me).where(
                Participant.id.in_(linked)
            )
        )
    )


def _linked_records(form: FollowUpForm, me: Any) -> tuple[dict[str, Any], bool]:
    """The records the form's pickers mean ({kind: record or None}) and whether all resolved.

    A picker's chosen id must name a record the user may see; without one, its typed text
    must find exactly one (the no-JavaScript way). Problems become the field's errors.
    """
    today = local_date(utcnow())
    linked: dict[str, Any] = {}
    ok = True
    for kind, text_name, id_name in LINKS:
        text_field, id_field = form[text_name], form[id_name]
        if kind == "participant" and not has_permission(me, "participants.view"):
            linked[kind] = None
            continue
        obj, problem = search.resolve(
            db.session, me, kind, id_field.data, text_field.data, today=today
        )
        linked[kind] = obj
        if problem:
            ok = False
            text_field.errors = [
                *text_field.errors,
                _("Several records match; please choose one from the list or be more precise.")
                if problem == "ambiguous"
                else _("No matching record was found."),
            ]
        elif obj is not None:
            id_field.data = str(obj.id)
            text_field.data = search.label_of(kind, obj)
    return linked, ok


@bp.route("/neu", methods=["GET", "POST"])
@require("followups.edit")
@writes_on_get  # a linked participant shown in the form is audited
def new():
    me = current_user._get_current_object()
    form = FollowUpForm()
    form.assignee_id.choices = _assignee_choices()
    if request.method == "GET":
        form.assignee_id.data = me.id
        for _kind, _text, id_name in LINKS:
            form[id_name].data = request.args.get(id_name, "")
    # Validation first: it resets every field's errors, the pickers' included.
    valid = form.validate_on_submit()
    linked, links_ok = _linked_records(form, me)
    if request.method == "GET" and not links_ok:
        # A link to a record that does not exist (or is not the user's to see).
        abort(404)
    if request.method == "GET" and linked.get("participant") is not None:
        participants_service.record_view(db.session, linked["participant"])
        db.session.commit()
    if valid and links_ok:
        assignee = assignable_user(db.session, form.assignee_id.data)
        if assignee is None:
            form.assignee_id.errors.append(_("Please choose a valid user."))
        else:
            fu = service.create_followup(
                db.session,
                subject=form.subject.data or "",
                due_date=form.due_date.data,
                due_time=form.due_time.data,
                assignee=assignee,
                created_by=me,
                note=form.note.data or "",
                priority=form.priority.data,
                person=linked["person"],
                organisation=linked["organisation"],
                participant=linked["participant"],
                event_id=linked["event"].id if linked["event"] is not None else None,
                repeat_every=form.repeat_every.data if form.repeat_unit.data else None,
                repeat_unit=form.repeat_unit.data or None,
            )
            db.session.commit()
            flash(_("The follow-up has been created."), "success")
            return redirect(url_for("followups.detail", fu_id=fu.id))
    return render_template(
        "followups/form.html",
        form=form,
        can_pick_participants=has_permission(me, "participants.view"),
        back_url=_opened_from(),
    )


# The page of each kind of record a follow-up links to: (endpoint, its id argument).
RECORD_PAGES = {
    "person": ("contacts.person_detail", "person_id"),
    "organisation": ("contacts.organisation_detail", "org_id"),
    "participant": ("participants.detail", "participant_id"),
    "event": ("events.detail", "event_id"),
}


def _opened_from() -> str:
    """Where "Cancel" leads: the record whose page opened the form, else the list.

    "Create follow-up" on a participant's, person's or firm's page passes that record in the
    URL (the form posts back to the same URL, so it is still there after an error).
    """
    for kind, _text, id_name in LINKS:
        record_id = db_int(request.args.get(id_name, ""))
        if record_id is not None and record_id > 0:
            endpoint, argument = RECORD_PAGES[kind]
            values: dict[str, Any] = {argument: record_id}
            return url_for(endpoint, **values)
    return url_for("followups.index")


def _render_detail(fu: FollowUp, status: int = 200, **forms: Any) -> Any:
    me = current_user._get_current_object()
    done_form = forms.get("done_form") or DoneForm(formdata=None)
    snooze_form = forms.get("snooze_form") or SnoozeForm(formdata=None)
    reassign_form = forms.get("reassign_form") or ReassignForm(formdata=None)
    reassign_form.assignee_id.choices = _assignee_choices()
    if reassign_form.assignee_id.data is None:
        reassign_form.assignee_id.data = fu.assignee_id
    participant = None
    if fu.participant_id is not None:
        participant = participants_service.get_participant(db.session, me, fu.participant_id)
        if participant is not None:
            participants_service.record_view(db.session, participant)
            db.session.commit()
    return (
        render_template(
            "followups/detail.html",
            fu=fu,
            participant=participant,
            can_change=_can_change(me, fu),
            done_form=done_form,
            snooze_form=snooze_form,
            reassign_form=reassign_form,
            action_form=ActionForm(),
        ),
        status,
    )


@bp.route("/<int:fu_id>")
@require("followups.view")
@writes_on_get  # a linked participant is shown, and that view is audited
def detail(fu_id: int):
    return _render_detail(_followup_or_404(fu_id))


def _closed_refusal(fu: FollowUp) -> Any:
    flash(_("This follow-up is no longer open."), "warning")
    return redirect(url_for("followups.detail", fu_id=fu.id))


@bp.route("/<int:fu_id>/erledigt", methods=["POST"])
@require("followups.edit")
def done(fu_id: int):
    fu = _changeable_or_404(fu_id)
    form = DoneForm()
    if not form.validate_on_submit():
        return _render_detail(fu, 400, done_form=form)
    if not fu.is_open:
        return _closed_refusal(fu)
    service.mark_done(
        db.session,
        fu,
        outcome=form.outcome.data or "",
        by=current_user._get_current_object(),
        now=utcnow(),
    )
    db.session.commit()
    flash(_("The follow-up has been marked as done."), "success")
    return redirect(_back())


@bp.route("/<int:fu_id>/zurueckstellen", methods=["POST"])
@require("followups.edit")
def snooze(fu_id: int):
    fu = _changeable_or_404(fu_id)
    form = SnoozeForm()
    if not form.validate_on_submit():
        return _render_detail(fu, 400, snooze_form=form)
    if not fu.is_open:
        return _closed_refusal(fu)
    if form.period.data == "custom":
        service.snooze(db.session, fu, form.until_date.data, form.until_time.data)
    else:
        days = 7 if form.period.data == "1w" else 1
        service.snooze_by(db.session, fu, days, utcnow())
    db.session.commit()
    flash(_("The follow-up has been snoozed."), "success")
    return redirect(_back())


@bp.route("/<int:fu_id>/weitergeben", methods=["POST"])
@require("followups.edit")
def reassign(fu_id: int):
    fu = _changeable_or_404(fu_id)
    form = ReassignForm()
    form.assignee_id.choices = _assignee_choices()
    if not form.validate_on_submit():
        return _render_detail(fu, 400, reassign_form=form)
    if not fu.is_open:
        return _closed_refusal(fu)
    assignee = assignable_user(db.session, form.assignee_id.data)
    if assignee is None:
        abort(400)
    service.reassign(db.session, fu, assignee)
    db.session.commit()
    flash(_("The follow-up has been assigned to %(name)s.", name=assignee.display_name), "success")
    return redirect(url_for("followups.index"))


@bp.route("/<int:fu_id>/abbrechen", methods=["POST"])
@require("followups.edit")
def cancel(fu_id: int):
    fu = _changeable_or_404(fu_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not fu.is_open:
        return _closed_refusal(fu)
    service.cancel(db.session, fu)
    db.session.commit()
    flash(_("The follow-up has been cancelled."), "success")
    return redirect(url_for("followups.index"))


@bp.route("/<int:fu_id>/bearbeiten", methods=["GET", "POST"])
@require("followups.edit")
def edit(fu_id: int):
    fu = _changeable_or_404(fu_id)
    if not fu.is_open:
        return _closed_refusal(fu)
    form = EditForm(obj=fu)
    if request.method == "GET":
        local = service.local_due(fu)
        form.due_date.data = local.date()
        form.due_time.data = local.time() if fu.has_time else None
        form.repeat_unit.data = fu.repeat_unit or ""
    if form.validate_on_submit():
        service.update_followup(
            db.session,
            fu,
            subject=form.subject.data or "",
            note=form.note.data or "",
            due_date=form.due_date.data,
            due_time=form.due_time.data,
            priority=form.priority.data,
            repeat_every=form.repeat_every.data if form.repeat_unit.data else None,
            repeat_unit=form.repeat_unit.data or None,
        )
        db.session.commit()
        flash(_("The follow-up has been saved."), "success")
        return redirect(url_for("followups.detail", fu_id=fu.id))
    return render_template("followups/edit.html", form=form, fu=fu)
