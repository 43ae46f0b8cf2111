"""Participant pages under /teilnehmende: list, create/edit, detail with sessions, exit,
releases, referrals and the support checklist, and "my open support items".

Every participant is looked up through `service.get_participant` / `service.participant_query`,
which apply the one access scope: a participant outside it answers 404, like a missing one.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

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
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm.accounts.models import Office, User
from crm.audit.service import record
from crm.contacts.export import iter_csv, write_xlsx
from crm.contacts.models import Organisation
from crm.contacts.service import picked_organisation
from crm.database import db_int, int_in_range, utcnow
from crm.esf import service as esf
from crm.esf import views as esf_views
from crm.esf.forms import LongResultForm
from crm.esf.models import EXIT_RESULTS as ESF_EXIT_RESULTS
from crm.extensions import db
from crm.followups import service as followups
from crm.forms import choices
from crm.i18n import fmt_date
from crm.inputs import parse_date
from crm.intake.conversion import inquiries_of
from crm.participants import forms as f
from crm.participants import service
from crm.participants.models import (
    ACQUISITION_CHANNELS,
    EXIT_OUTCOMES,
    GENDERS,
    RECOGNITION_STATUSES,
    ConsentRelease,
    CounsellingSession,
    Participant,
    ParticipantContact,
    Referral,
    SupportItem,
    SupportItemType,
)
from crm.placements import service as placements
from crm.placements.forms import KIND_LABELS as PLACEMENT_KIND_LABELS
from crm.security import has_permission, is_safe_next, require, writes_on_get

bp = Blueprint("participants", __name__, url_prefix="/teilnehmende")
PER_PAGE = 50
BERLIN = ZoneInfo("Europe/Berlin")


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "RECOGNITION_LABELS": f.RECOGNITION_LABELS,
        "CHANNEL_LABELS": f.CHANNEL_LABELS,
        "OUTCOME_LABELS": f.OUTCOME_LABELS,
        "GENDER_LABELS": f.GENDER_LABELS,
        "DIRECTION_LABELS": f.DIRECTION_LABELS,
        "REFERRAL_STATUS_LABELS": f.REFERRAL_STATUS_LABELS,
        "SUPPORT_STATUS_LABELS": f.SUPPORT_STATUS_LABELS,
        "STATE_LABELS": f.STATE_LABELS,
        "WARNING_LABELS": f.WARNING_LABELS,
        "FIELD_LABELS": f.FIELD_LABELS,
        "CONTACT_KIND_LABELS": f.CONTACT_KIND_LABELS,
        "hours": service.format_minutes,
        "type_label": _type_label,
    }


def _type_label(item_type: Any) -> Any:
    return f.SUPPORT_TYPE_LABELS.get(item_type.key) or item_type.name


def today() -> date:
    """Today in Europe/Berlin."""
    return utcnow().astimezone(BERLIN).date()


def _me() -> User:
    return current_user._get_current_object()


# --- lookups ------------------------------------------------------------------------------------


def _participant_or_404(participant_id: int) -> Participant:
    participant = service.get_participant(db.session, _me(), participant_id)
    if participant is None:
        # Another office's participant looks exactly like a missing one.
        abort(404)
    return participant


def _child_or_404(model: Any, child_id: int, participant: Participant) -> Any:
    child = db.session.get(model, child_id)
    if child is None or child.participant_id != participant.id:
        abort(404)
    return child


def _offices(*, active_or: int | None = -1) -> list[Office]:
    """The offices the user may see; with `active_or`, only active ones plus that office.

    A participant keeps a deactivated office, so its edit form still offers it.
    """
    ids = service.office_ids_for(_me())
    stmt = sa.select(Office).order_by(Office.is_head_office.desc(), Office.name)
    if ids is not None:
        stmt = stmt.where(Office.id.in_(ids))
    if active_or != -1:
        stmt = stmt.where(sa.or_(Office.is_active.is_(True), Office.id == active_or))
    return list(db.session.scalars(stmt))


def _counsellors() -> list[User]:
    return service.counsellors_for(db.session, _me())


def _resolve_org(text_field: Any, id_field: Any) -> Organisation | None:
    """The organisation an organisation picker means, or None with an error on its text field.

    The chosen id counts while the text shows its name; otherwise the typed name or number
    must find exactly one organisation (the no-JavaScript way). A found organisation is
    written back into both fields, so a form shown again keeps the choice.
    """
    org, matches = picked_organisation(db.session, id_field.data, text_field.data)
    if org is None:
        text_field.errors.append(
            _("Several organisations match; please be more precise.")
            if matches > 1
            else _("No organisation of that name was found.")
        )
        return None
    text_field.data = org.name
    id_field.data = str(org.id)
    return org


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value and value > 0 else None


def _page_arg() -> int:
    return max(request.args.get("seite", 1, type=int) or 1, 1)


# --- list ---------------------------------------------------------------------------------------


def filters_from(args: Any) -> service.ParticipantFilters:
    """The list's filters from its query parameters (a MultiDict; also the bulk actions')."""

    def positive(name: str) -> int | None:
        value = args.get(name, type=int)
        return value if value and value > 0 and int_in_range(value) else None

    def day(name: str) -> date | None:
        try:
            return parse_date((args.get(name) or "").strip()[:20])
        except ValueError:
            return None

    def one_of(name: str, allowed: tuple[str, ...]) -> str | None:
        value = args.get(name)
        return value if value in allowed else None

    status = args.get("status", "")
    kind = REPORT_KINDS.get(args.get("kennzahl", ""), "")
    period_from = day("von") if kind else None
    period_to = day("bis") if kind else None
    outcomes = args.getlist("verbleib") if kind == "exited" else []
    country = args.get("herkunft")
    # Free text as stored (at most 80 characters, never a NUL, which PostgreSQL refuses).
    if country is not None and (len(country) > 80 or "\x00" in country):
        country = None
    # The age group is the age in the year of entry, or the period's first year without one.
    dated = bool(period_from and period_to)
    not_stated = [PARAM_GROUPS.get(n) for n in args.getlist(NOT_STATED_PARAM)]
    return service.ParticipantFilters(
        q=(args.get("q") or "").strip()[:100],
        office_id=positive("geschaeftsstelle"),
        counsellor_id=positive("beratung"),
        state=status if status in f.STATE_LABELS else "",
        period_kind=kind,
        period_from=period_from,
        period_to=period_to,
        outcomes=tuple(dict.fromkeys(o for o in outcomes if o in (*EXIT_OUTCOMES, ""))),
        channel=one_of("kanal", ACQUISITION_CHANNELS),
        referrer_id=positive("zuweiser"),
        gender=one_of("geschlecht", GENDERS),
        age_group=one_of("altersgruppe", service.AGE_GROUPS) if dated else None,
        country=country or None,
        recognition=one_of("anerkennung", RECOGNITION_STATUSES),
        not_stated=tuple(
            g for g in service.GROUPS if g in not_stated and (g != "age_group" or dated)
        ),
    )


# The funder report's links: kennzahl=beraten|eintritt|austritt with von, bis (and verbleib,
# repeated for several outcomes), and a breakdown's value or ohne_angabe=<its parameter>.
REPORT_KINDS = {"beraten": "counselled", "eintritt": "entered", "austritt": "exited"}
GROUP_PARAMS = {
    "channel": "kanal",
    "referrer": "zuweiser",
    "gender": "geschlecht",
    "age_group": "altersgruppe",
    "country": "herkunft",
    "recognition": "anerkennung",
}
PARAM_GROUPS = {param: group for group, param in GROUP_PARAMS.items()}
NOT_STATED_PARAM = "ohne_angabe"
GROUP_LABELS = {
    "channel": _l("Acquisition channel"),
    "referrer": _l("Referring organisation"),
    "gender": _l("Gender"),
    "age_group": _l("Age group at entry"),
    "country": _l("Country of origin"),
    "recognition": _l("Recognition status"),
    "outcome": _l("Exit outcome"),
}


def _group_values(filters: service.ParticipantFilters) -> dict[str, Any]:
    return {
        "channel": filters.channel,
        "referrer": filters.referrer_id,
        "gender": filters.gender,
        "age_group": filters.age_group,
        "country": filters.country,
        "recognition": filters.recognition,
    }


def report_args(filters: service.ParticipantFilters) -> dict[str, Any]:
    """The report filters as query parameters, kept by the pagination and the filter form.

    A list value stands for the parameter repeated (url_for writes it so).
    """
    out: dict[str, Any] = {}
    if filters.period_kind and filters.period_from and filters.period_to:
        out["kennzahl"] = {v: k for k, v in REPORT_KINDS.items()}[filters.period_kind]
        out["von"] = filters.period_from.isoformat()
        out["bis"] = filters.period_to.isoformat()
        if filters.outcomes:
            out["verbleib"] = list(filters.outcomes)
    for group, value in _group_values(filters).items():
        if value is not None and group not in filters.not_stated:
            out[GROUP_PARAMS[group]] = str(value)
    if filters.not_stated:
        out[NOT_STATED_PARAM] = [GROUP_PARAMS[g] for g in filters.not_stated]
    return out


def list_args(filters: service.ParticipantFilters) -> dict[str, Any]:
    """All the list's filters as query parameters: `filters_from` reads them back unchanged."""
    args = {
        k: v
        for k, v in {
            "q": filters.q,
            "geschaeftsstelle": filters.office_id,
            "beratung": filters.counsellor_id,
            "status": filters.state,
        }.items()
        if v
    }
    args.update(report_args(filters))
    return args


def query_pairs(args: dict[str, Any]) -> list[tuple[str, str]]:
    """Query parameters as name/value pairs, a list value as the name repeated."""
    return [
        (k, str(item))
        for k, v in args.items()
        for item in (v if isinstance(v, list | tuple) else [v])
    ]


def _filter_chips(filters: service.ParticipantFilters) -> list[tuple[Any, str, dict[str, Any]]]:
    """The report's breakdown filters shown on the list: what, which value, and the list's
    arguments without it (the chip's link that removes it)."""
    referrer = db.session.get(Organisation, filters.referrer_id) if filters.referrer_id else None
    shown = {
        "channel": lambda v: f.CHANNEL_LABELS.get(v, v),
        "referrer": lambda v: referrer.name if referrer else f"#{v}",
        "gender": lambda v: f.GENDER_LABELS.get(v, v),
        "recognition": lambda v: f.RECOGNITION_LABELS.get(v, v),
    }
    chips: list[tuple[Any, str, dict[str, Any]]] = []
    for outcome in filters.outcomes:
        rest = tuple(o for o in filters.outcomes if o != outcome)
        label = f.OUTCOME_LABELS.get(outcome) or _("not recorded")
        chips.append(
            (GROUP_LABELS["outcome"], str(label), list_args(replace(filters, outcomes=rest)))
        )
    field_of = {"referrer": "referrer_id"}
    for group, value in _group_values(filters).items():
        cleared: dict[str, Any] = {
            field_of.get(group, group): None,
            "not_stated": tuple(g for g in filters.not_stated if g != group),
        }
        without = replace(filters, **cleared)
        if group in filters.not_stated:
            chips.append((GROUP_LABELS[group], _("not recorded"), list_args(without)))
        elif value is not None:
            text = str(shown[group](value)) if group in shown else str(value)
            chips.append((GROUP_LABELS[group], text, list_args(without)))
    return chips


@bp.route("/")
@require("participants.view")
def index():
    filters = filters_from(request.args)
    page = _page_arg()
    day = today()
    items, total = service.list_participants(
        db.session, _me(), filters, day, page=page, per_page=PER_PAGE
    )
    args = list_args(filters)
    # From the report: its numbers include erased records, which the list cannot show.
    erased = (
        service.count_erased(db.session, _me(), filters, day)
        if filters.period_kind and filters.period_from and filters.period_to
        else 0
    )
    # The age group needs the period: removing the period removes it too.
    without_period = replace(
        filters,
        period_kind="",
        period_from=None,
        period_to=None,
        outcomes=(),
        age_group=None,
        not_stated=tuple(g for g in filters.not_stated if g != "age_group"),
    )
    return render_template(
        "participants/index.html",
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        filters=filters,
        args=args,
        filter_query=urlencode(query_pairs(args)),
        report_pairs=query_pairs(report_args(filters)),
        chips=_filter_chips(filters),
        erased=erased,
        without_period=list_args(without_period),
        offices=_offices(),
        counsellors=_counsellors(),
        warnings={p.id: service.deadline_warnings(p, day) for p in items},
        releases_to_review=service.count_releases_to_review(db.session, _me())
        if has_permission(current_user, service.RELEASE_REVIEW_PERMISSION)
        else 0,
    )


# --- create and edit ----------------------------------------------------------------------------


def prepare_form(form: f.ParticipantForm, current_office: int | None = None) -> None:
    """Fill the office and counsellor choices the user may pick (also the inquiry conversion)."""
    form.office_id.choices = choices((o.id, o.name) for o in _offices(active_or=current_office))
    form.counsellor_id.choices = choices((u.id, u.display_name) for u in _counsellors())


def form_data(form: f.ParticipantForm) -> dict[str, Any] | None:
    """Plain values from a validated form, or None if the referring organisation is unknown."""
    data = {key: getattr(form, key).data for key in service.PARTICIPANT_FIELDS if key in form}
    data["referring_organisation_id"] = None
    if (form.referring_organisation.data or "").strip():
        org = _resolve_org(form.referring_organisation, form.referring_organisation_id)
        if org is None:
            return None
        data["referring_organisation_id"] = org.id
    return data


@bp.route("/neu", methods=["GET", "POST"])
@require("participants.edit")
def new():
    form = f.ParticipantForm()
    esf_form = esf_views.build_entry_form(None, embedded=True)
    prepare_form(form, None)
    if request.method == "GET":
        me = _me()
        form.office_id.data = me.office_id
        form.counsellor_id.data = me.id
        form.first_contact_on.data = today()
    # Both validated, so every error shows at once.
    if all([form.validate_on_submit(), esf_form.validate() if form.is_submitted() else False]):
        data = form_data(form)
        if data is not None:
            participant = service.save_participant(db.session, data)
            if esf_views.save_entry_form(participant, esf_form):
                db.session.commit()
                flash(_("The participant has been created."), "success")
                return redirect(url_for("participants.detail", participant_id=participant.id))
            db.session.rollback()
    return render_template(
        "participants/form.html", form=form, participant=None, esf_form=esf_form, esf=None
    ), (400 if form.errors or esf_form.errors else 200)


@bp.route("/<int:participant_id>/bearbeiten", methods=["GET", "POST"])
@require("participants.edit")
@writes_on_get
def edit(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.ParticipantForm(obj=participant)
    prepare_form(form, participant.office_id)
    if request.method == "GET":
        service.record_view(db.session, participant)
        db.session.commit()
        org = participant.referring_organisation
        form.referring_organisation.data = org.name if org else ""
        form.referring_organisation_id.data = str(org.id) if org else ""
    rec = esf.record_of(db.session, participant)
    esf_form = esf_views.build_entry_form(rec, embedded=True)
    if all([form.validate_on_submit(), esf_form.validate() if form.is_submitted() else False]):
        data = form_data(form)
        if data is not None:
            service.save_participant(db.session, data, participant)
            if esf_views.save_entry_form(participant, esf_form):
                db.session.commit()
                flash(_("The participant has been saved."), "success")
                return redirect(url_for("participants.detail", participant_id=participant.id))
            db.session.rollback()
    return render_template(
        "participants/form.html", form=form, participant=participant, esf_form=esf_form, esf=rec
    ), (400 if form.errors or esf_form.errors else 200)


# --- detail -------------------------------------------------------------------------------------


def _render_detail(participant: Participant, status: int = 200, **forms: Any) -> Any:
    items = service.checklist(db.session, participant)
    session_form = forms.get("session_form") or f.SessionForm(formdata=None, prefix="session")
    if session_form.held_on.data is None:
        session_form.held_on.data = today()
    release_form = forms.get("release_form") or f.ReleaseForm(formdata=None, prefix="release")
    referral_form = forms.get("referral_form") or f.ReferralForm(formdata=None, prefix="referral")
    if referral_form.referred_on.data is None:
        referral_form.referred_on.data = today()
    item_forms = {
        item.id: f.SupportItemForm(formdata=None, obj=item, prefix=f"item{item.id}")
        for item in items
    }
    if "item_form" in forms:
        bad_id, bad_form = forms["item_form"]
        item_forms[bad_id] = bad_form
    day = today()
    contact_form = forms.get("contact_form") or f.ContactForm(formdata=None, prefix="contact")
    if contact_form.happened_at.data is None:
        contact_form.happened_at.data = (
            utcnow().astimezone(BERLIN).replace(second=0, microsecond=0, tzinfo=None)
        )
    plan_form = forms.get("plan_form") or f.CasePlanForm(
        formdata=None, obj=participant, prefix="plan"
    )
    me = _me()
    return render_template(
        "participants/detail.html",
        p=participant,
        day=day,
        open_followups=service.open_followups(db.session, participant),
        sees_all_followups=me.role in service.ALL_OFFICES_ROLES,
        timeline=service.timeline(
            participant,
            followups.done_followups(db.session, me, participant_id=participant.id),
        ),
        contact_form=contact_form,
        plan_form=plan_form,
        warnings=service.deadline_warnings(participant, day),
        missing=service.missing_entry_fields(participant),
        threshold=service.ENTRY_THRESHOLD_MINUTES,
        items=items,
        item_forms=item_forms,
        progress=service.progress_of(items),
        counsellors=_counsellors(),
        session_form=session_form,
        release_form=release_form,
        referral_form=referral_form,
        status_form=f.ReferralStatusForm(formdata=None),
        revoke_form=f.RevokeForm(formdata=None, revoked_on=day),
        action_form=f.ActionForm(),
        referral_error=forms.get("referral_error"),
        source_inquiries=inquiries_of(db.session, me, participant_id=participant.id),
        placements=placements.placements_of(db.session, participant),
        esf=esf.record_of(db.session, participant),
        esf_long_form=forms.get("esf_long_form")
        or LongResultForm(formdata=None, long_result_on=day),
        fitting_needs=placements.needs_for_participant(db.session, participant, on=day)
        if participant.exit_on is None
        else [],
    ), status


@bp.route("/<int:participant_id>")
@require("participants.view")
@writes_on_get
def detail(participant_id: int):
    participant = _participant_or_404(participant_id)
    service.record_view(db.session, participant)
    service.ensure_checklist(db.session, participant)
    db.session.commit()
    return _render_detail(participant, release_form=_release_form_for(request.args))


def _release_form_for(args: Any) -> f.ReleaseForm | None:
    """The release form with the firm filled in when a link names it (`freigabe_fuer`, from
    a fitting need without a release), so the counsellor need not look the firm up again."""
    org_id = db_int(args.get("freigabe_fuer"))
    org = db.session.get(Organisation, org_id) if org_id and org_id > 0 else None
    if org is None:
        return None
    form = f.ReleaseForm(formdata=None, prefix="release")
    form.organisation.data = org.name
    form.organisation_id.data = str(org.id)
    return form


# --- sessions -----------------------------------------------------------------------------------


def _redirect_detail(participant: Participant, anchor: str = "") -> Any:
    return redirect(
        url_for("participants.detail", participant_id=participant.id, _anchor=anchor or None)
    )


@bp.route("/<int:participant_id>/termine", methods=["POST"])
@require("participants.edit")
def session_add(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.SessionForm(prefix="session")
    if not form.validate_on_submit():
        return _render_detail(participant, 400, session_form=form)
    before = participant.entry_on
    service.add_session(
        db.session,
        participant,
        held_on=form.held_on.data,
        minutes=form.minutes.data,
        counsellor=_me(),
        note=form.note.data or "",
    )
    db.session.commit()
    flash(_("The session has been added."), "success")
    _flash_entry_change(before, participant.entry_on)
    return _redirect_detail(participant, "sitzungen")


def _flash_entry_change(before: date | None, after: date | None) -> None:
    if before == after:
        return
    if after is None:
        flash(_("The participant no longer counts as entered."), "warning")
    else:
        flash(_("Entry on %(date)s.", date=fmt_date(after)), "info")


@bp.route("/<int:participant_id>/termine/<int:session_id>", methods=["GET", "POST"])
@require("participants.edit")
def session_edit(participant_id: int, session_id: int):
    participant = _participant_or_404(participant_id)
    cs = _child_or_404(CounsellingSession, session_id, participant)
    form = f.SessionForm(obj=cs)
    if form.validate_on_submit():
        before = participant.entry_on
        service.update_session(
            db.session,
            cs,
            held_on=form.held_on.data,
            minutes=form.minutes.data,
            note=form.note.data or "",
        )
        db.session.commit()
        flash(_("The session has been saved."), "success")
        _flash_entry_change(before, participant.entry_on)
        return _redirect_detail(participant, "sitzungen")
    return render_template("participants/session_form.html", p=participant, cs=cs, form=form), (
        400 if form.errors else 200
    )


@bp.route("/<int:participant_id>/termine/<int:session_id>/loeschen", methods=["POST"])
@require("participants.edit")
def session_delete(participant_id: int, session_id: int):
    participant = _participant_or_404(participant_id)
    cs = _child_or_404(CounsellingSession, session_id, participant)
    if not f.ActionForm().validate_on_submit():
        abort(400)
    before = participant.entry_on
    service.delete_session(db.session, cs)
    db.session.commit()
    flash(_("The session has been deleted."), "success")
    _flash_entry_change(before, participant.entry_on)
    return _redirect_detail(participant, "sitzungen")


# --- case work: case dates and the contact log ---------------------------------------------------


@bp.route("/<int:participant_id>/planung", methods=["POST"])
@require("participants.edit")
def case_plan(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.CasePlanForm(prefix="plan")
    if form.validate_on_submit():
        day = today()
        try:
            service.plan_case_dates(
                db.session,
                participant,
                next_contact_on=form.next_contact_on.data,
                transfer_on=form.transfer_on.data,
                transfer_note=form.transfer_note.data or "",
                lead_days=current_app.config.get("CRM_TRANSFER_LEAD_DAYS", 14),
                today=day,
                by=_me(),
            )
        except service.ParticipantError:
            # Refused before anything changed: a changed date lies in the past.
            past = _("The date must not be in the past.")
            if form.next_contact_on.data and form.next_contact_on.data < day:
                form.next_contact_on.errors.append(past)
            if form.transfer_on.data and form.transfer_on.data < day:
                form.transfer_on.errors.append(past)
        else:
            db.session.commit()
            flash(_("The case dates have been saved; their follow-ups are planned."), "success")
            return _redirect_detail(participant, "planung")
    return _render_detail(participant, 400, plan_form=form)


@bp.route("/<int:participant_id>/kontakte", methods=["POST"])
@require("participants.edit")
def contact_add(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.ContactForm(prefix="contact")
    if not form.validate_on_submit():
        return _render_detail(participant, 400, contact_form=form)
    happened: datetime = form.happened_at.data
    service.add_contact(
        db.session,
        participant,
        kind=form.kind.data,
        happened_at=happened.replace(tzinfo=BERLIN),
        duration_minutes=form.duration.data,
        note=form.note.data or "",
        user=_me(),
    )
    db.session.commit()
    flash(_("The contact has been logged."), "success")
    return _redirect_detail(participant, "verlauf")


@bp.route("/<int:participant_id>/kontakte/<int:contact_id>/loeschen", methods=["POST"])
@require("participants.edit")
def contact_delete(participant_id: int, contact_id: int):
    participant = _participant_or_404(participant_id)
    contact = _child_or_404(ParticipantContact, contact_id, participant)
    if not f.ActionForm().validate_on_submit():
        abort(400)
    service.delete_contact(db.session, contact)
    db.session.commit()
    flash(_("The contact has been deleted."), "success")
    return _redirect_detail(participant, "verlauf")


# --- exit ---------------------------------------------------------------------------------------


@bp.route("/<int:participant_id>/austritt", methods=["GET", "POST"])
@require("participants.edit")
def exit_form(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.ExitForm(obj=participant)
    choices_ = placements.exit_placement_choices(db.session, participant)
    form.exit_placement_id.choices = choices(
        [("", _("none")), *((str(pl.id), _placement_label(pl)) for pl in choices_)]
    )
    if request.method == "GET":
        form.exit_placement_id.data = str(participant.exit_placement_id or "")
        if form.exit_on.data is None:
            form.exit_on.data = today()
        ticked = esf.exit_results(esf.record_of(db.session, participant))
        if not ticked:
            ticked = esf.default_exit_results(participant.exit_outcome)
        for key in ticked:
            getattr(form, f"esf_{key}").data = True
    if form.validate_on_submit():
        raw = form.exit_placement_id.data or ""
        first_exit = participant.exit_on is None
        placement_id = next((pl.id for pl in choices_ if str(pl.id) == raw), None)
        try:
            service.record_exit(
                db.session,
                participant,
                exit_on=form.exit_on.data,
                outcome=form.exit_outcome.data or "",
                note=form.exit_note.data or "",
            )
        except service.ParticipantError:
            form.exit_on.errors.append(_("The exit cannot be before the first contact."))
        else:
            placements.set_exit_placement(db.session, participant, placement_id)
            results = [r for r in ESF_EXIT_RESULTS if getattr(form, f"esf_{r}").data]
            if first_exit and not results:
                # Without JavaScript the boxes cannot follow the outcome chosen on the same
                # form: a first exit with none ticked takes what its outcome says.
                results = sorted(esf.default_exit_results(form.exit_outcome.data or ""))
            esf.save_exit_results(db.session, participant, results)
            db.session.commit()
            flash(_("The exit has been recorded."), "success")
            return _redirect_detail(participant)
    return render_template(
        "participants/exit.html", p=participant, form=form, has_placements=bool(choices_)
    ), (400 if form.errors else 200)


def _placement_label(pl: Any) -> str:
    return f"{pl.organisation.name} – {PLACEMENT_KIND_LABELS[pl.kind]} ({fmt_date(pl.starts_on)})"


@bp.route("/<int:participant_id>/austritt/zuruecknehmen", methods=["POST"])
@require("participants.edit")
def exit_undo(participant_id: int):
    participant = _participant_or_404(participant_id)
    if not f.ActionForm().validate_on_submit():
        abort(400)
    service.record_exit(db.session, participant, exit_on=None)
    db.session.commit()
    flash(_("The exit has been withdrawn."), "success")
    return _redirect_detail(participant)


# --- releases and referrals ---------------------------------------------------------------------


@bp.route("/<int:participant_id>/freigaben", methods=["POST"])
@require("participants.edit")
def release_add(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.ReleaseForm(prefix="release")
    if form.validate_on_submit():
        org = _resolve_org(form.organisation, form.organisation_id)
        if org is not None:
            if form.expires_on.data and form.expires_on.data < form.granted_on.data:
                form.expires_on.errors.append(_("The expiry must not be before the grant."))
            else:
                service.add_release(
                    db.session,
                    participant,
                    organisation=org,
                    granted_on=form.granted_on.data,
                    scope=form.scope.data or "",
                    expires_on=form.expires_on.data,
                )
                db.session.commit()
                flash(_("The release from confidentiality has been recorded."), "success")
                return _redirect_detail(participant, "freigaben")
    return _render_detail(participant, 400, release_form=form)


@bp.route("/<int:participant_id>/freigaben/<int:release_id>/widerrufen", methods=["POST"])
@require("participants.edit")
def release_revoke(participant_id: int, release_id: int):
    participant = _participant_or_404(participant_id)
    release = _child_or_404(ConsentRelease, release_id, participant)
    form = f.RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    service.revoke_release(db.session, release, form.revoked_on.data)
    db.session.commit()
    flash(_("The release has been revoked."), "success")
    return _redirect_detail(participant, "freigaben")


@bp.route("/freigaben/pruefen")
@require("participants.releases")
def release_review():
    """Releases an organisation merge moved: confirm each for the merged organisation or not."""
    org_id = _int_arg("organisation")
    page = _page_arg()
    items, total = service.releases_to_review(
        db.session, _me(), organisation_id=org_id, page=page, per_page=PER_PAGE
    )
    return render_template(
        "participants/release_review.html",
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        args={"organisation": org_id} if org_id else {},
    )


@bp.route("/freigaben/<int:release_id>/pruefen", methods=["POST"])
@require("participants.releases")
def release_review_decide(release_id: int):
    release = db.session.get(ConsentRelease, release_id) or abort(404)
    _participant_or_404(release.participant_id)
    form = f.ActionForm()
    decision = request.form.get("decision", "")
    if not form.validate_on_submit() or decision not in service.REVIEW_DECISIONS:
        abort(400)
    if release.review != service.REVIEW_PENDING:
        flash(_("This release has already been reviewed."), "info")
    else:
        service.review_release(db.session, release, decision)
        db.session.commit()
        if decision == "confirm":
            flash(_("The release now applies to the merged organisation."), "success")
        else:
            flash(_("The release no longer applies; a new release is needed."), "success")
    back = request.form.get("next", "")
    if back and is_safe_next(back):
        return redirect(back)
    return redirect(url_for("participants.release_review"))


@bp.route("/<int:participant_id>/ueberweisungen", methods=["POST"])
@require("participants.edit")
def referral_add(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = f.ReferralForm(prefix="referral")
    error = None
    if form.validate_on_submit():
        org = _resolve_org(form.organisation, form.organisation_id)
        if org is not None:
            try:
                service.create_referral(
                    db.session,
                    participant,
                    organisation=org,
                    referred_on=form.referred_on.data,
                    direction=form.direction.data,
                    purpose=form.purpose.data or "",
                    status=form.status.data,
                )
            except service.ConsentMissingError:
                error = _consent_missing_message()
            else:
                db.session.commit()
                flash(_("The referral has been recorded."), "success")
                return _redirect_detail(participant, "ueberweisungen")
    return _render_detail(participant, 400, referral_form=form, referral_error=error)


def _consent_missing_message() -> str:
    return _(
        "Without a valid release from confidentiality for this partner on the referral date, "
        "the referral cannot be sent."
    )


@bp.route("/<int:participant_id>/ueberweisungen/<int:referral_id>/status", methods=["POST"])
@require("participants.edit")
def referral_status(participant_id: int, referral_id: int):
    participant = _participant_or_404(participant_id)
    referral = _child_or_404(Referral, referral_id, participant)
    form = f.ReferralStatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.set_referral_status(db.session, referral, form.status.data)
    except service.ConsentMissingError:
        db.session.rollback()
        flash(_consent_missing_message(), "danger")
    else:
        db.session.commit()
        flash(_("The referral status has been changed."), "success")
    return _redirect_detail(participant, "ueberweisungen")


# --- support checklist --------------------------------------------------------------------------


@bp.route("/<int:participant_id>/unterstuetzung/<int:item_id>", methods=["POST"])
@require("participants.edit")
def support_item_update(participant_id: int, item_id: int):
    participant = _participant_or_404(participant_id)
    item = _child_or_404(SupportItem, item_id, participant)
    form = f.SupportItemForm(prefix=f"item{item.id}")
    if not form.validate_on_submit():
        return _render_detail(participant, 400, item_form=(item.id, form))
    service.update_support_item(
        db.session,
        item,
        status=form.status.data,
        due_on=form.due_on.data,
        note=form.note.data or "",
        today=today(),
    )
    if form.responsible_id.name in request.form:
        # Pages without the field (my open items) leave the responsible person as it was.
        raw = (form.responsible_id.data or "").strip()
        chosen = next((u for u in _counsellors() if str(u.id) == raw), None)
        if chosen is None and raw and raw == str(item.responsible_id):
            chosen = item.responsible  # kept, though no longer among the pickable users
        service.set_support_responsible(db.session, item, chosen)
    db.session.commit()
    flash(_("The checklist has been saved."), "success")
    if request.form.get("next") == "offene-punkte":
        return redirect(url_for("participants.open_items"))
    return _redirect_detail(participant, "unterstuetzung")


@bp.route("/offene-punkte")
@require("participants.view")
def open_items():
    me = _me()
    counsellor = me
    counsellors: list[User] = []
    if me.role in service.ALL_OFFICES_ROLES:
        counsellors = _counsellors()
        wanted = _int_arg("beratung")
        if wanted and wanted != me.id:
            counsellor = next((u for u in counsellors if u.id == wanted), None) or abort(404)
    page = _page_arg()
    items, total = service.open_support_items(
        db.session, me, counsellor.id, page=page, per_page=PER_PAGE
    )
    return render_template(
        "participants/open_items.html",
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        counsellor=counsellor,
        counsellors=counsellors,
        day=today(),
    )


# --- export for a partner -------------------------------------------------------------------------

PARTNER_EXPORT_HEADERS = {
    "last_name": _l("Last name"),
    "first_name": _l("First name"),
    "birth_year": _l("Year of birth"),
    "country_of_origin": _l("Country of origin"),
    "profession": _l("Profession learned"),
    "recognition_status": _l("Recognition status"),
    "language_level": _l("Language level"),
    "target_field": _l("Target field"),
    "office": _l("Branch office"),
    "counsellor": _l("Counsellor"),
    "release_expires_on": _l("Release valid until"),
}


@bp.route("/partner-export")
@require("participants.view")
@writes_on_get
def partner_export():
    """Participants with a valid release for the chosen partner today, as CSV; others left out."""
    partners = service.partners_with_releases(db.session)
    org_id = _int_arg("organisation")
    if not org_id:
        return render_template("participants/partner_export.html", partners=partners)
    org = db.session.get(Organisation, org_id) or abort(404)
    today = utcnow().astimezone(BERLIN).date()
    rows = service.partner_export_rows(db.session, org.id, today, _me())
    # The partner reads the file: the status in words, not the stored code ("in_progress").
    status_at = service.PARTNER_EXPORT_FIELDS.index("recognition_status")
    for row in rows:
        code = row[status_at]
        row[status_at] = str(f.RECOGNITION_LABELS[code]) if code in f.RECOGNITION_LABELS else code
    record(
        db.session,
        "export",
        entity_type="participant",
        summary=f"{len(rows)} rows for partner organisation #{org.id}",
    )
    db.session.commit()
    headers = [str(PARTNER_EXPORT_HEADERS[f]) for f in service.PARTNER_EXPORT_FIELDS]
    response = Response(iter_csv(headers, rows), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="teilnehmende-partner-{org.id}-{today:%Y-%m-%d}.csv"'
    )
    return response


# --- export of a selection (bulk action of the list) ----------------------------------------------

SELECTION_EXPORT_HEADERS = {
    "pseudonym": _l("Pseudonym"),
    "last_name": _l("Last name"),
    "first_name": _l("First name"),
    "office": _l("Branch office"),
    "counsellor": _l("Responsible counsellor"),
    "acquisition_channel": _l("Acquisition channel"),
    "referring_organisation": _l("Referring organisation"),
    "hours": _l("Counselling hours"),
    "entry_on": _l("Entry"),
    "exit_on": _l("Exit"),
    "exit_outcome": _l("Outcome"),
    "recognition_status": _l("Recognition status"),
}


def selection_export_response(fmt: str, ids: list[int]) -> Any:
    """The download of the selected participants as csv or xlsx, audited (crm.bulk calls it).

    `ids` are already within what the current user may see; they are checked again anyway.
    """
    service.record_selection_export(db.session, ids, fmt)
    db.session.commit()
    headers = [str(SELECTION_EXPORT_HEADERS[k]) for k in service.SELECTION_EXPORT_FIELDS]
    labels = {
        "acquisition_channel": f.CHANNEL_LABELS,
        "exit_outcome": f.OUTCOME_LABELS,
        "recognition_status": f.RECOGNITION_LABELS,
    }
    rows = service.selection_export_rows(db.session, _me(), ids, labels)
    filename = f"teilnehmende-{datetime.now(BERLIN):%Y-%m-%d}.{fmt}"
    if fmt == "csv":
        response = Response(stream_with_context(iter_csv(headers, rows)), mimetype="text/csv")
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    out = io.BytesIO()
    write_xlsx(headers, rows, out, sheet_title=_("Participants"))
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename,
    )


# --- configuring the checklist --------------------------------------------------------------------


@bp.route("/checkliste", methods=["GET", "POST"])
@require("participants.configure")
def item_types():
    form = f.ItemTypeForm()
    if form.validate_on_submit():
        try:
            service.add_item_type(db.session, form.name.data or "")
        except service.ParticipantError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("The checklist item has been added."), "success")
            return redirect(url_for(".item_types"))
    return render_template(
        "participants/item_types.html",
        types=service.all_item_types(db.session),
        form=form,
        action_form=f.ItemTypeForm(formdata=None),
    )


@bp.route("/checkliste/<int:type_id>/aktiv", methods=["POST"])
@require("participants.configure")
def item_type_toggle(type_id: int):
    if not f.ActionForm().validate_on_submit():
        abort(400)
    item_type = db.session.get(SupportItemType, type_id) or abort(404)
    service.set_item_type_active(db.session, item_type, not item_type.is_active)
    db.session.commit()
    return redirect(url_for(".item_types"))
