"""Bulk actions on the people and organisation lists: POST /sammelaktionen/<kind>.

Step one (from the list page) names the selection and the action; exports answer at once,
the other actions show a page asking for what they need. Step two (`confirmed`) runs the
action and returns to the list with a German result message. Works without JavaScript.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from crm.accounts.models import User
from crm.bulk import forms as f
from crm.bulk import service
from crm.contacts import lists
from crm.contacts.models import ContactList, Organisation, Person
from crm.contacts.views import export_response, list_args_from
from crm.database import ids_in, utcnow
from crm.extensions import db
from crm.forms import choices
from crm.newsletters import service as newsletters
from crm.newsletters.models import NewsletterList
from crm.participants import service as participant_service
from crm.participants.views import filters_from as participant_filters_from
from crm.participants.views import selection_export_response as participant_export_response
from crm.security import has_permission, require

bp = Blueprint("bulk", __name__, url_prefix="/sammelaktionen")
BERLIN = ZoneInfo("Europe/Berlin")
_ID = re.compile(r"[0-9]{1,18}")
# Actions on people: on an organisation selection they take the people working there.
PEOPLE_ACTIONS = ("list", "newsletter")
SLUGS = {"personen": "people", "organisationen": "organisations", "teilnehmende": "participants"}
LIST_ENDPOINTS = {
    "people": "contacts.people",
    "organisations": "contacts.organisations",
    "participants": "participants.index",
}


def berlin_today() -> date:
    """Today in Europe/Berlin (the default date of consent)."""
    return utcnow().astimezone(BERLIN).date()


def allowed_actions(kind: str) -> list[tuple[str, Any]]:
    """(action, label) the current user may run on the `kind` list."""
    return [
        (action, f.ACTION_LABELS[action])
        for action in f.KIND_ACTIONS[kind]
        if all(has_permission(current_user, p) for p in f.action_permissions(kind, action))
    ]


@bp.app_context_processor
def _bulk_actions() -> dict[str, Any]:
    # The list pages (contacts) ask which actions to offer without importing this package.
    return {"bulk_actions": allowed_actions}


def _filter_params() -> list[tuple[str, str]]:
    # The list page's parameters, re-encoded: only name=value pairs reach the redirect. A NUL
    # (sent as %00) is dropped: PostgreSQL refuses it in any string parameter. Blank values
    # are kept: `verbleib=` (exits without an outcome) narrows the list, and dropping it would
    # let "all matches" reach every exit.
    return [
        (key, value)
        for key, value in parse_qsl(request.form.get("filter", "")[:2000], keep_blank_values=True)
        if "\x00" not in key and "\x00" not in value
    ]


def _list_url(kind: str) -> str:
    return url_for(LIST_ENDPOINTS[kind]) + "?" + urlencode(_filter_params())


def _back(kind: str) -> Any:
    return redirect(_list_url(kind))


def _ticked() -> list[int]:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    values = request.form.getlist("ids")[: service.MAX_BULK + 1]
    return [int(v) for v in values if _ID.fullmatch(v)]


def _selection(kind: str, form: f.SelectionForm) -> list[int]:
    filters = None
    if form.all_matching.data:
        filters, _page, _per_page = list_args_from(MultiDict(_filter_params()))
    return service.selected_ids(db.session, kind, ids=_ticked(), filters=filters)


def _fill_choices(form: f.SelectionForm) -> None:
    if isinstance(form, f.OwnerForm):
        users = db.session.execute(
            sa.select(User.id, User.display_name)
            .where(User.is_active_flag.is_(True))
            .order_by(User.display_name)
        ).all()
        form.owner_id.choices = choices(
            [(0, _("— none —"))] + [(u.id, u.display_name) for u in users]
        )
    elif isinstance(form, f.ListForm):
        rows = db.session.execute(
            sa.select(ContactList.id, ContactList.name).order_by(ContactList.name).limit(500)
        ).all()
        form.list_id.choices = choices(
            [(0, _("— a new list (name below) —"))] + [(r.id, r.name) for r in rows]
        )
    elif isinstance(form, f.NewsletterForm):
        rows = db.session.execute(
            sa.select(NewsletterList.id, NewsletterList.name)
            .where(NewsletterList.active)
            .order_by(NewsletterList.name)
        ).all()
        form.list_id.choices = choices((r.id, r.name) for r in rows)


@bp.post("/<any(personen, organisationen):slug>")
@require("contacts.view")
def run(slug: str) -> Any:
    """Choose (step one) or run (step two) a bulk action on a selection of the list."""
    kind = SLUGS[slug]
    action = request.form.get("action", "")
    if action in f.ACTION_LABELS and action not in f.KIND_ACTIONS[kind]:
        abort(404)
    if action in f.ACTION_LABELS and action not in dict(allowed_actions(kind)):
        abort(403)
    if not f.SelectionForm().validate_on_submit():
        abort(400)
    form = f.ACTION_FORMS.get(action, f.SelectionForm)()
    _fill_choices(form)
    if action not in f.ACTION_LABELS:
        flash(_("Please choose an action."), "danger")
        return _back(kind)
    try:
        ids = _selection(kind, form)
    except service.TooMany:
        flash(
            _(
                "More than %(num)d records are selected; please narrow the filter.",
                num=service.MAX_BULK,
            ),
            "danger",
        )
        return _back(kind)
    if not ids:
        flash(_("Please select at least one record."), "danger")
        return _back(kind)
    if action.startswith("export_"):
        return _export(kind, action.removeprefix("export_"), ids)
    people: list[int] | None = None
    if kind == "organisations" and action in PEOPLE_ACTIONS:
        people = service.people_of_organisations(db.session, ids, berlin_today())
        if not people:
            flash(_("Nobody works at the selected organisations."), "danger")
            return _back(kind)
    if not form.confirmed.data:
        if isinstance(form, f.NewsletterForm):
            form.consented_on.data = berlin_today()
        return _confirm_page(kind, action, form, ids, status=200, people=people)
    if form.validate():
        return _apply(kind, action, form, ids, people)
    return _confirm_page(kind, action, form, ids, people=people)


def _export(kind: str, fmt: str, ids: list[int]) -> Any:
    model = service.KINDS[kind]
    order = (
        (Person.sort_name, Person.id)
        if kind == "people"
        else (Organisation.sort_name, Organisation.id)
    )
    stmt = (
        sa.select(model)
        .where(ids_in(model.id, ids, db.session.get_bind().dialect.name))
        .order_by(*order)
    )
    return export_response(kind, fmt, stmt, note=" selection")


def _confirm_page(
    kind: str,
    action: str,
    form: Any,
    ids: list[int],
    status: int = 400,
    people: list[int] | None = None,
) -> Any:
    """The second step's page; with the form's errors (400) when it was sent incomplete.

    `people`: for an organisation selection, the people working there whom the action adds.
    """
    return render_template(
        "bulk/confirm.html",
        kind=kind,
        post_url=(
            url_for(".participants")
            if kind == "participants"
            else url_for(".run", slug={v: k for k, v in SLUGS.items()}[kind])
        ),
        action=action,
        action_label=f.ACTION_LABELS[action],
        form=form,
        count=len(ids),
        people_count=None if people is None else len(people),
        ticked=[] if form.all_matching.data else ids,
        back_url=_list_url(kind),
    ), status


def _apply(kind: str, action: str, form: Any, ids: list[int], people: list[int] | None) -> Any:
    if action in ("tag_add", "tag_remove"):
        tag = form.tag.data.strip()
        if action == "tag_add":
            n = service.add_tag(db.session, kind, ids, tag)
            message = ngettext(
                "Tag “%(tag)s” given to %(num)d record.",
                "Tag “%(tag)s” given to %(num)d records.",
                n,
                tag=tag,
            )
        else:
            n = service.remove_tag(db.session, kind, ids, tag)
            message = ngettext(
                "Tag “%(tag)s” removed from %(num)d record.",
                "Tag “%(tag)s” removed from %(num)d records.",
                n,
                tag=tag,
            )
    elif action == "owner":
        owner = db.session.get(User, form.owner_id.data) if form.owner_id.data else None
        n = service.assign_owner(db.session, kind, ids, owner)
        message = ngettext(
            "%(num)d record has a new responsible person.",
            "%(num)d records have a new responsible person.",
            n,
        )
    elif action == "list":
        return _apply_list(kind, form, ids, people)
    else:
        return _apply_newsletter(kind, form, ids, people)
    db.session.commit()
    flash(message, "success")
    return _back(kind)


def _apply_list(kind: str, form: f.ListForm, ids: list[int], people: list[int] | None) -> Any:
    new_name = (form.new_name.data or "").strip()
    if form.list_id.data:
        contact_list = db.session.get(ContactList, form.list_id.data)
    elif not new_name:
        form.new_name.errors = [_("Please enter a name for the new list or choose a list.")]
        return _confirm_page(kind, "list", form, ids, people=people)
    else:
        try:
            contact_list = lists.create_list(db.session, new_name)
        except lists.ListNameTaken:
            db.session.rollback()
            form.new_name.errors = [_("A contact list with this name exists already.")]
            return _confirm_page(kind, "list", form, ids, people=people)
    if contact_list is None:
        abort(400)
    targets = people if people is not None else ids
    added = service.add_to_list(db.session, contact_list.id, targets)
    db.session.commit()
    message = ngettext(
        "%(num)d person added to “%(name)s”.",
        "%(num)d people added to “%(name)s”.",
        added,
        name=contact_list.name,
    )
    if added < len(targets):
        message += " " + _("%(num)d were on the list already.", num=len(targets) - added)
    flash(message, "success")
    return redirect(url_for("contacts.lists.detail", list_id=contact_list.id))


def _apply_newsletter(
    kind: str, form: f.NewsletterForm, ids: list[int], people: list[int] | None
) -> Any:
    newsletter = db.session.get(NewsletterList, form.list_id.data)
    if newsletter is None:
        abort(400)
    try:
        result = service.add_to_newsletter(
            db.session,
            newsletter,
            people if people is not None else ids,
            method=form.method.data,
            source=form.source.data,
            consented_on=form.consented_on.data,
            actor_id=current_user.id,
        )
    except newsletters.NewsletterError as exc:
        db.session.rollback()
        form.source.errors = [str(exc)]
        return _confirm_page(kind, "newsletter", form, ids, people=people)
    db.session.commit()
    parts = [
        ngettext(
            "%(num)d person added to “%(name)s”",
            "%(num)d people added to “%(name)s”",
            result.added,
            name=newsletter.name,
        )
    ]
    if result.unsubscribed:
        parts.append(_("%(num)d skipped (unsubscribed)", num=result.unsubscribed))
    if result.bounced:
        parts.append(_("%(num)d skipped (address bounced)", num=result.bounced))
    if result.already:
        parts.append(_("%(num)d skipped (already subscribed)", num=result.already))
    if result.no_email:
        parts.append(_("%(num)d skipped (no e-mail address)", num=result.no_email))
    flash(", ".join(parts) + ".", "success" if result.added else "warning")
    return _back(kind)


# --- participants ---------------------------------------------------------------------------


@bp.post("/teilnehmende")
@require("participants.view")
def participants() -> Any:
    """Assign a counsellor to, or export, ticked participants or all the list's filter matches."""
    kind = "participants"
    action = request.form.get("action", "")
    # Each action declares its own permission (assigning: participants.edit, exporting:
    # participants.export); the list itself is open to whoever sees participants.
    if action in f.KIND_ACTIONS[kind] and action not in dict(allowed_actions(kind)):
        abort(403)
    if not f.SelectionForm().validate_on_submit():
        abort(400)
    if action not in f.KIND_ACTIONS[kind]:
        flash(_("Please choose an action."), "danger")
        return _back(kind)
    me = current_user._get_current_object()
    filters = (
        participant_filters_from(MultiDict(_filter_params()))
        if f.SelectionForm().all_matching.data
        else None
    )
    try:
        ids = service.selected_participant_ids(
            db.session, me, ids=_ticked(), filters=filters, today=berlin_today()
        )
    except service.TooMany:
        flash(
            _(
                "More than %(num)d records are selected; please narrow the filter.",
                num=service.MAX_BULK,
            ),
            "danger",
        )
        return _back(kind)
    if not ids:
        flash(_("Please select at least one record."), "danger")
        return _back(kind)
    if action.startswith("export_"):
        return participant_export_response(action.removeprefix("export_"), ids)
    form = f.CounsellorForm()
    counsellors = {u.id: u for u in participant_service.counsellors_for(db.session, me)}
    form.counsellor_id.choices = choices((u.id, u.display_name) for u in counsellors.values())
    if not form.confirmed.data:
        return _confirm_page(kind, action, form, ids, status=200)
    if not form.validate():
        return _confirm_page(kind, action, form, ids)
    counsellor = counsellors[form.counsellor_id.data]
    changed, skipped = service.assign_counsellor(db.session, ids, counsellor)
    db.session.commit()
    message = ngettext(
        "%(num)d participant now counselled by %(name)s.",
        "%(num)d participants now counselled by %(name)s.",
        changed,
        name=counsellor.display_name,
    )
    if skipped:
        message += " " + _(
            "%(num)d skipped (%(name)s does not work in their office).",
            num=skipped,
            name=counsellor.display_name,
        )
    flash(message, "success" if changed else "warning")
    return _back(kind)
