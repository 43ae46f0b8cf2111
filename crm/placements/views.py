"""Placement pages under /teilnehmende/vermittlungen: the list with filters, add/edit for a
participant, and the suggestions for a firm's qualification need with the one-click proposal.

Placements are participants' data: every page needs the participant permissions, and every
lookup goes through the participants' scope (another office's placement answers 404).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.accounts.models import Office, User
from crm.contacts import service as contacts_service
from crm.contacts.models import Organisation, Person, QualificationNeed
from crm.contacts.service import picked_organisation
from crm.database import db_int, int_in_range, utcnow
from crm.extensions import db
from crm.participants import service as participants
from crm.participants.models import Participant
from crm.placements import forms as f
from crm.placements import service
from crm.placements.models import Placement
from crm.security import fragment, require

bp = Blueprint("placements", __name__, url_prefix="/teilnehmende/vermittlungen")
PER_PAGE = 50
BERLIN = ZoneInfo("Europe/Berlin")


def today() -> date:
    """Today in Europe/Berlin."""
    return utcnow().astimezone(BERLIN).date()


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    # App-wide: the participant and organisation pages show placements too.
    return {
        "PLACEMENT_KIND_LABELS": f.KIND_LABELS,
        "PLACEMENT_STATUS_LABELS": f.STATUS_LABELS,
        "TRAINING_LABELS": f.TRAINING_LABELS,
        "need_label": f.need_label,
    }


def _me() -> User:
    return current_user._get_current_object()


def _lead_days() -> int:
    return int(current_app.config.get("CRM_INTERNSHIP_LEAD_DAYS", service.INTERNSHIP_LEAD_DAYS))


def _participant_or_404(participant_id: int) -> Participant:
    participant = participants.get_participant(db.session, _me(), participant_id)
    if participant is None:
        abort(404)
    return participant


def _need_or_404(need_id: int) -> QualificationNeed:
    need = db.session.get(QualificationNeed, need_id)
    if need is None:
        abort(404)
    return need


def _positive(args: Any, name: str) -> int | None:
    value = args.get(name, type=int)
    return value if value and value > 0 and int_in_range(value) else None


def _date_arg(args: Any, name: str) -> date | None:
    try:
        return date.fromisoformat(args.get(name, ""))
    except ValueError:
        return None


# --- list ---------------------------------------------------------------------------------------

# The funder report's link: kennzahl=begonnen with von and bis (placements started, not cancelled).
STARTED = "begonnen"


def filters_from(args: Any) -> service.PlacementFilters:
    """The list's filters from its query parameters (a MultiDict)."""
    kind = args.get("art", "")
    status = args.get("status", "")
    return service.PlacementFilters(
        kind=kind if kind in f.KIND_LABELS else "",
        status=status if status in f.STATUS_LABELS else "",
        office_id=_positive(args, "geschaeftsstelle"),
        start=_date_arg(args, "von"),
        end=_date_arg(args, "bis"),
        started=args.get("kennzahl") == STARTED,
    )


def list_args(filters: service.PlacementFilters) -> dict[str, Any]:
    """The filters as query parameters: `filters_from` reads them back unchanged."""
    return {
        k: v
        for k, v in {
            "kennzahl": STARTED if filters.started else "",
            "art": filters.kind,
            "status": filters.status,
            "geschaeftsstelle": filters.office_id,
            "von": filters.start.isoformat() if filters.start else "",
            "bis": filters.end.isoformat() if filters.end else "",
        }.items()
        if v
    }


@bp.route("/")
@require("participants.view")
def index():
    filters = filters_from(request.args)
    page = max(request.args.get("seite", 1, type=int) or 1, 1)
    items, total = service.list_placements(db.session, _me(), filters, page=page, per_page=PER_PAGE)
    # From the report: its numbers include erased participants' placements, not listed here.
    erased = service.count_erased_placements(db.session, _me(), filters) if filters.started else 0
    bad_dates = [
        n for n in ("von", "bis") if request.args.get(n) and _date_arg(request.args, n) is None
    ]
    return render_template(
        "placements/index.html",
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        filters=filters,
        args=list_args(filters),
        without_started=list_args(replace(filters, started=False)),
        erased=erased,
        bad_dates=bad_dates,
        offices=_offices(),
    )


def _offices() -> list[Office]:
    ids = participants.office_ids_for(_me())
    stmt = sa.select(Office).order_by(Office.name)
    if ids is not None:
        stmt = stmt.where(Office.id.in_(ids))
    return list(db.session.scalars(stmt))


# --- create and edit ----------------------------------------------------------------------------


def _need_choices(form: f.PlacementForm, org: Organisation | None) -> None:
    # One labelling for the htmx fragment and the full page: the same need reads the same.
    form.need_id.choices = f.need_choices(list(org.needs) if org is not None else [])


def _resolve(form: f.PlacementForm) -> tuple[Organisation | None, QualificationNeed | None, bool]:
    """The firm and need the form names; False when a field got an error."""
    org, matches = picked_organisation(
        db.session, form.organisation_id.data, form.organisation.data
    )
    if org is None:
        form.organisation.errors.append(
            _("Several organisations match; please be more precise.")
            if matches > 1
            else _("No organisation of that name was found.")
        )
        return None, None, False
    form.organisation.data = org.name
    form.organisation_id.data = str(org.id)
    _need_choices(form, org)
    need = None
    raw = form.need_id.data or ""
    if raw:
        need = next((n for n in org.needs if str(n.id) == raw), None)
        if need is None:
            form.need_id.errors.append(_("This need belongs to another organisation."))
            return org, None, False
    return org, need, True


def _save(form: f.PlacementForm, participant: Participant, placement: Placement | None) -> Any:
    org, need, ok = _resolve(form)
    if not ok or org is None:
        return None
    try:
        service.save_placement(
            db.session,
            participant,
            organisation=org,
            kind=form.kind.data,
            status=form.status.data,
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            note=form.note.data or "",
            need=need,
            placement=placement,
            today=today(),
            lead_days=_lead_days(),
            by=_me(),
        )
    except service.PlacementError:
        form.kind.errors.append(_("The placement could not be saved with these values."))
        return None
    db.session.commit()
    flash(_("The placement has been saved."), "success")
    return redirect(
        url_for("participants.detail", participant_id=participant.id, _anchor="vermittlungen")
    )


@bp.get("/bedarfsauswahl")
@fragment
@require("participants.edit")
def need_options() -> str:
    """The need select for the firm just picked on the placement form (htmx fragment), so the
    user need not save first to choose the need it fills."""
    org_id = db_int(request.args.get("organisation_id"))
    org = db.session.get(Organisation, org_id) if org_id else None
    form = f.PlacementForm(formdata=None)
    _need_choices(form, org)
    return render_template("placements/_need_options.html", field=form.need_id)


@bp.route("/neu/<int:participant_id>", methods=["GET", "POST"])
@require("participants.edit")
def new(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.PlacementForm()
    _need_choices(form, None)
    if request.method == "GET":
        form.starts_on.data = today()
        form.status.data = "planned"
    if form.validate_on_submit():
        done = _save(form, participant, None)
        if done is not None:
            return done
    elif request.method == "POST" and (form.organisation.data or "").strip():
        _resolve(form)
    return render_template("placements/form.html", form=form, p=participant, placement=None), (
        400 if form.errors else 200
    )


@bp.route("/<int:placement_id>/bearbeiten", methods=["GET", "POST"])
@require("participants.edit")
def edit(placement_id: int):
    placement = service.get_placement(db.session, _me(), placement_id)
    if placement is None:
        abort(404)
    participant = _participant_or_404(placement.participant_id)
    form = f.PlacementForm(obj=placement)
    _need_choices(form, placement.organisation)
    if request.method == "GET":
        form.organisation.data = placement.organisation.name
        form.organisation_id.data = str(placement.organisation_id)
        form.need_id.data = str(placement.need_id or "")
    if form.validate_on_submit():
        done = _save(form, participant, placement)
        if done is not None:
            return done
    return render_template("placements/form.html", form=form, p=participant, placement=placement), (
        400 if form.errors else 200
    )


# --- matching -----------------------------------------------------------------------------------


@bp.route("/bedarf/<int:need_id>")
@require("participants.view")
def need_matches(need_id: int):
    need = _need_or_404(need_id)
    result = service.suggest_for_need(db.session, _me(), need, on=today())
    return render_template(
        "placements/need_matches.html", need=need, result=result, form=f.ProposeForm()
    )


@bp.route("/bedarf/<int:need_id>/vermitteln", methods=["POST"])
@require("participants.edit")
def propose(need_id: int):
    need = _need_or_404(need_id)
    form = f.ProposeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        pid = int(form.participant_id.data)
    except ValueError:
        abort(400)
    if not int_in_range(pid):
        abort(404)
    try:
        placement = service.place_from_suggestion(
            db.session, _me(), need, pid, today=today(), by=_me()
        )
    except service.PlacementError:
        flash(
            _(
                "This participant can no longer be proposed to this firm (no valid release "
                "from confidentiality, or the counselling has ended)."
            ),
            "danger",
        )
        return redirect(url_for("placements.need_matches", need_id=need.id))
    db.session.commit()
    flash(_("A planned placement has been created."), "success")
    return redirect(url_for("placements.edit", placement_id=placement.id))


# --- the firm's support checklist ---------------------------------------------------------------


def _onboarding_person(form: f.FirmSupportForm, org: Organisation) -> tuple[Person | None, bool]:
    """The person the checklist's picker means, if one of the firm's; False with an error.

    The chosen id counts while the text still shows that person's name (with JavaScript);
    otherwise the typed name or number must find exactly one person of the firm.
    """
    field, id_field = form.onboarding_person, form.onboarding_person_id
    text = " ".join((field.data or "").split())
    if not text:
        id_field.data = ""
        return None, True
    picked_id = db_int(id_field.data) if id_field.data else None
    picked = db.session.get(Person, picked_id) if picked_id else None
    if picked is not None and " ".join(picked.full_name.split()) == text:
        if not contacts_service.works_at(db.session, picked.id, org.id):
            field.errors.append(
                _(
                    "%(name)s does not work at this firm; please choose one of its people "
                    "or create the person.",
                    name=picked.full_name,
                )
            )
            return None, False
        return picked, True
    found = contacts_service.people_at_organisation(db.session, org.id, text, limit=2)
    if len(found) != 1:
        field.errors.append(
            _("Several people of this firm match; please be more precise.")
            if found
            else _(
                "No person of this firm matches; please choose one of its people or "
                "create the person."
            )
        )
        return None, False
    field.data = found[0].full_name
    id_field.data = str(found[0].id)
    return found[0], True


@bp.route("/unternehmen/<int:org_id>/begleitung", methods=["POST"])
@require("contacts.edit")
def firm_support(org_id: int):
    org = db.session.get(Organisation, org_id)
    if org is None:
        abort(404)
    form = f.FirmSupportForm(prefix="firm")
    if form.validate_on_submit():
        person, ok = _onboarding_person(form, org)
        if ok:
            try:
                service.save_firm_support(
                    db.session,
                    org,
                    training_status=form.training_status.data or "",
                    training_on=form.training_on.data,
                    onboarding_person=person,
                    note=form.note.data or "",
                )
            except service.PlacementError:
                # Checked above; a person unlinked from the firm in the meantime lands here.
                form.onboarding_person.errors.append(
                    _("The checklist could not be saved with these values.")
                )
            else:
                db.session.commit()
                flash(_("The firm's support checklist has been saved."), "success")
                return redirect(
                    url_for("contacts.organisation_detail", org_id=org.id, _anchor="begleitung")
                )
    fs = service.firm_support(db.session, org.id)
    return render_template("placements/firm_support.html", org=org, form=form, fs=fs), 400
