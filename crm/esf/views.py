"""ESF Plus pages: a participant's data (/teilnehmende/<id>/esf-plus) and the indicator table
for a period (/auswertung/esf-plus, counts only, with the completeness check)."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from crm import public_forms
from crm.accounts.models import Office
from crm.audit.service import Actor, acting_as, record
from crm.contacts.export import write_xlsx
from crm.dashboard import service as dashboard
from crm.dashboard.term import Term, current_term
from crm.dashboard.weeks import local_date
from crm.database import db_int, utcnow
from crm.esf import followup_link, mails, service
from crm.esf.forms import EsfEntryForm, LongResultForm
from crm.esf.labels import (
    FIELD_LABELS,
    GENDER_COLUMN_LABELS,
    GROUP_LABELS,
    INDICATOR_LABELS,
    NOT_STATED,
    YES_NO_LABELS,
    value_label,
)
from crm.esf.models import ENTRY_FLAGS, LINK_ANSWERS, EsfFollowupAttempt, EsfRecord
from crm.extensions import db
from crm.participants import service as participants
from crm.participants.forms import ActionForm
from crm.participants.models import Participant
from crm.security import has_permission, public, require, writes_on_get

bp = Blueprint("esf", __name__)

ENTRY_KEYS = ("labour_status", "isced", *ENTRY_FLAGS, "disability")


# App-wide: the participant page (another blueprint) shows the ESF card too.
@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "ESF_FIELD_LABELS": FIELD_LABELS,
        "ESF_INDICATOR_LABELS": INDICATOR_LABELS,
        "ESF_GROUP_LABELS": GROUP_LABELS,
        "ESF_GENDER_LABELS": GENDER_COLUMN_LABELS,
        "esf_value": value_label,
        "esf_six_months": service.six_month_date,
        "esf_link_of": _link_of,
        "esf_followup_participant": _followup_participant,
        "ESF_LINK_ANSWER_LABELS": {**YES_NO_LABELS, "unknown": NOT_STATED, "": "–"},
    }


def _followup_participant(followup_id: int) -> int | None:
    # The participant whose six-month follow-up this is (None for any other follow-up).
    return db.session.scalar(
        sa.select(EsfRecord.participant_id).where(EsfRecord.followup_id == followup_id)
    )


def _link_of(participant_id: int | None) -> followup_link.EsfFollowupLink | None:
    # For the participant's ESF card and the counsellor's follow-up: whether the short
    # survey went out and was answered.
    if participant_id is None:
        return None
    return followup_link.open_links(db.session, [participant_id]).get(participant_id)


def _participant_or_404(participant_id: int) -> Participant:
    participant = participants.get_participant(
        db.session, current_user._get_current_object(), participant_id
    )
    if participant is None:
        abort(404)
    return participant


def _today() -> date:
    return local_date(utcnow())


# --- a participant's data -----------------------------------------------------------------------


def _render_form(
    participant: Participant,
    form: EsfEntryForm,
    long_form: LongResultForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_template(
        "esf/form.html",
        p=participant,
        form=form,
        long_form=long_form or LongResultForm(formdata=None, long_result_on=_today()),
        esf=service.record_of(db.session, participant),
    ), status


def build_entry_form(rec: EsfRecord | None, *, embedded: bool = False) -> EsfEntryForm:
    """The entry form for `rec`; `embedded` inside the participant form (its CSRF token)."""
    if embedded:
        form = EsfEntryForm(obj=rec, prefix="esf", meta={"csrf": False})
    else:
        form = EsfEntryForm(obj=rec)
    form.consent_on_record = rec is not None and rec.disability_consent_on is not None
    if request.method == "GET":
        form.disability_consent.data = form.consent_on_record
    return form


def save_entry_form(participant: Participant, form: EsfEntryForm) -> bool:
    """Save a validated entry form; False (with the error on the form) if refused."""
    consent_on = form.disability_consent_on.data if form.disability_consent.data else None
    try:
        service.save_entry(
            db.session,
            participant,
            {key: getattr(form, key).data or "" for key in ENTRY_KEYS},
            disability_consent_on=consent_on,
        )
    except service.EsfError:
        form.disability.errors = [_("This value cannot be stored.")]
        return False
    return True


@bp.route("/teilnehmende/<int:participant_id>/esf-plus", methods=["GET", "POST"])
@require("participants.edit")
def entry_form(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = build_entry_form(service.record_of(db.session, participant))
    if form.validate_on_submit() and save_entry_form(participant, form):
        db.session.commit()
        flash(_("The ESF Plus data have been saved."), "success")
        return redirect(
            url_for("participants.detail", participant_id=participant.id, _anchor="esf")
        )
    return _render_form(participant, form, status=400 if form.errors else 200)


@bp.route("/teilnehmende/<int:participant_id>/esf-plus/einwilligung-widerrufen", methods=["POST"])
@require("participants.edit")
def withdraw_consent(participant_id: int):
    participant = _participant_or_404(participant_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    service.withdraw_disability_consent(db.session, participant)
    db.session.commit()
    flash(_("The consent has been withdrawn and the disability datum deleted."), "success")
    return redirect(url_for("participants.detail", participant_id=participant.id, _anchor="esf"))


@bp.route("/teilnehmende/<int:participant_id>/esf-plus/verbleib", methods=["POST"])
@require("participants.edit")
def long_result(participant_id: int):
    participant = _participant_or_404(participant_id)
    form = LongResultForm()
    if form.validate_on_submit():
        try:
            service.record_long_result(
                db.session,
                participant,
                form.long_result.data,
                form.long_result_on.data,
                by=current_user._get_current_object(),
                now=utcnow(),
            )
        except service.EsfError:
            form.long_result_on.errors = [
                _("The date must lie on or after the exit; record the exit first.")
            ]
        else:
            db.session.commit()
            flash(_("The result six months after the exit has been recorded."), "success")
            return redirect(
                url_for("participants.detail", participant_id=participant.id, _anchor="esf")
            )
    rec = service.record_of(db.session, participant)
    entry = EsfEntryForm(formdata=None, obj=rec)
    return _render_form(participant, entry, form, 400)


# --- the indicator table ------------------------------------------------------------------------


def _parse_day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def presets(today: date, term: Term | None = None) -> list[tuple[str, date, date]]:
    """The period presets: this and last calendar year, the half-years, the last 100 days,
    and the project term when one is set (the funder report offers the same)."""
    y = today.year
    found = [
        (_("Calendar year %(year)d", year=y), date(y, 1, 1), date(y, 12, 31)),
        (_("Calendar year %(year)d", year=y - 1), date(y - 1, 1, 1), date(y - 1, 12, 31)),
        (_("1st half-year %(year)d", year=y), date(y, 1, 1), date(y, 6, 30)),
        (_("2nd half-year %(year)d", year=y), date(y, 7, 1), date(y, 12, 31)),
        (_("Last 100 days"), today - timedelta(days=99), today),
    ]
    if term is not None and term.start is not None and term.end is not None:
        found.append((_("Project term"), term.start, term.end))
    return found


def _period() -> tuple[date, date, list[str]]:
    today = _today()
    start_raw, end_raw = request.args.get("von"), request.args.get("bis")
    start, end = _parse_day(start_raw), _parse_day(end_raw)
    errors = []
    if (start_raw and start is None) or (end_raw and end is None):
        errors.append(_("Please enter the period as dates (DD.MM.YYYY)."))
    if start and end and end < start:
        errors.append(_("The end of the period lies before its start."))
        start = end = None
    default_start, default_end = date(today.year, 1, 1), date(today.year, 12, 31)
    return start or default_start, end or default_end, errors


def _scope() -> tuple[int | None, list[int] | None, list[Office]]:
    office_id = request.args.get("geschaeftsstelle", type=int)
    allowed = dashboard.board_offices(current_user)
    offices_q = sa.select(Office).order_by(Office.name)
    if allowed is not None:
        offices_q = offices_q.where(Office.id.in_(allowed or [-1]))
    offices = list(db.session.scalars(offices_q))
    return office_id, dashboard.effective_offices(allowed, office_id), offices


@bp.route("/auswertung/esf-plus")
@require("reports.view")
def indicators():
    start, end, errors = _period()
    office_id, scope, offices = _scope()
    rows = service.indicator_table(db.session, start=start, end=end, offices=scope)
    incomplete: list[service.Incomplete] = []
    may_see_participants = has_permission(current_user, "participants.view")
    if may_see_participants:
        # Names only for those who may see participants, and only in their own offices.
        allowed = participants.office_ids_for(current_user)
        incomplete = service.incomplete_entries(
            db.session,
            start=start,
            end=end,
            offices=dashboard.effective_offices(allowed, office_id),
        )
    return render_template(
        "esf/indicators.html",
        rows=rows,
        start=start,
        end=end,
        errors=errors,
        presets=presets(_today(), current_term(db.session, current_app.config)),
        office_id=office_id,
        offices=offices,
        incomplete=incomplete,
        incomplete_limit=service.INCOMPLETE_LIMIT,
        may_see_participants=may_see_participants,
        genders=service.GENDER_COLUMNS,
        min_cell=int(current_app.config.get("CRM_REPORT_MIN_CELL", 3)),
    )


@bp.route("/auswertung/esf-plus.xlsx")
@require("reports.view")
@writes_on_get
def indicators_xlsx():
    start, end, _errors = _period()
    office_id, scope, _offices = _scope()
    rows = service.indicator_table(db.session, start=start, end=end, offices=scope)
    threshold = int(current_app.config.get("CRM_REPORT_MIN_CELL", 3))
    record(
        db.session,
        "export",
        entity_type="esf_indicators",
        summary=f"ESF-Plus-Indikatoren {start:%d.%m.%Y}–{end:%d.%m.%Y} "
        f"(xlsx, Geschäftsstelle {office_id or 'alle'})",
    )
    db.session.commit()
    headers = [
        _("Indicator"),
        *(str(GENDER_COLUMN_LABELS[g]) for g in service.GENDER_COLUMNS),
        _("total"),
    ]
    out_rows: list[list[Any]] = []
    group = ""
    for row in rows:
        if row.group != group:
            group = row.group
            out_rows.append([str(GROUP_LABELS[group])])
        out_rows.append([str(INDICATOR_LABELS[row.key]), *service.protected_row(row, threshold)])
    out_rows.append([])
    out_rows.append(
        [
            _(
                'Period %(start)s to %(end)s. Counts from 1 to %(n)d shown as "< %(m)d".',
                start=f"{start:%d.%m.%Y}",
                end=f"{end:%d.%m.%Y}",
                n=threshold - 1,
                m=threshold,
            )
        ]
    )
    out = io.BytesIO()
    write_xlsx(headers, out_rows, out, sheet_title=_("ESF Plus indicators"))
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"esf-plus-indikatoren-{start:%Y-%m-%d}-{end:%Y-%m-%d}.xlsx",
    )


# --- the short survey six months after the exit -------------------------------------------------

LINK_REFUSALS = {
    "erased": lambda: _("This participant has been erased."),
    "no_exit": lambda: _("Record the exit first."),
    "no_email": lambda: _("The participant has no e-mail address; please phone instead."),
    "has_result": lambda: _("The result six months after the exit is already recorded."),
    "answered": lambda: _("The participant has already answered the short survey."),
    "bad_address": lambda: _("The e-mail address cannot be used; please check it."),
}


def _base_url() -> str:
    if current_app.config.get("CRM_ENV") == "development":
        return request.host_url.rstrip("/")
    return str(current_app.config["CRM_BASE_URL"]).rstrip("/")


def _secret() -> str:
    return str(current_app.secret_key or "")


@bp.route("/teilnehmende/<int:participant_id>/esf-plus/kurzumfrage", methods=["POST"])
@require("participants.edit")
def send_followup_link(participant_id: int):
    """Mail the short survey's personal link to the former participant (again)."""
    participant = _participant_or_404(participant_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    mail = mails.link_mail(current_app.config, _secret(), _base_url())
    try:
        followup_link.send_link(db.session, participant, mail, now=utcnow())
    except followup_link.LinkError as exc:
        db.session.rollback()
        flash(LINK_REFUSALS.get(exc.reason, LINK_REFUSALS["bad_address"])(), "danger")
    else:
        db.session.commit()
        flash(_("The short survey has been sent to %(email)s.", email=participant.email), "success")
    return redirect(url_for("participants.detail", participant_id=participant.id, _anchor="esf"))


def _public_message(lang: str, status: int, title: str, text: str) -> tuple[str, int]:
    return render_template("_public_message.html", lang=lang, title=title, message=text), status


def _answer_limit() -> public_forms.Limit:
    max_per_ip = db_int(current_app.config.get("CRM_INTAKE_MAX_PER_IP", 5)) or 5
    return public_forms.Limit(window=timedelta(hours=1), max_per_ip=max_per_ip * 2)


@bp.route("/esf-plus/kurzumfrage/<token>", methods=["GET", "POST"])
@public
def followup_answer(token: str):
    """The former participant's two questions behind her personal link (no login): answered
    once, within the link's validity; a forged, replaced or expired link gets a clear page."""
    link = followup_link.link_for_token(db.session, _secret(), token[:500])
    wanted = request.args.get("sprache", "")
    lang = wanted if wanted in ("de", "en") else (link.language if link is not None else "de")
    with force_locale(lang):
        if link is None:
            return _public_message(
                lang,
                404,
                _("Link not valid"),
                _(
                    "This link is not valid. Please use the complete link from your most "
                    "recent e-mail."
                ),
            )
        now = utcnow()
        valid_days = mails.valid_days(current_app.config)
        if link.answered_at is not None:
            return _public_message(
                lang,
                409 if request.method == "POST" else 200,
                _("Already answered"),
                _("You have already answered these questions. Thank you!"),
            )
        if followup_link.is_expired(link, now, valid_days):
            return _public_message(
                lang,
                410,
                _("Link expired"),
                _(
                    "This link was valid until %(date)s and no longer takes answers. Your "
                    "counsellor may contact you.",
                    date=local_date(followup_link.valid_until(link, valid_days)).strftime(
                        "%d.%m.%Y"
                    ),
                ),
            )
        answers = {"employed": "", "improved": ""}
        errors: dict[str, str] = {}
        status = 200
        if request.method == "POST":
            ip_hash = public_forms.hash_ip(_secret(), request.remote_addr or "")
            if public_forms.throttled(
                db.session, EsfFollowupAttempt, ip_hash, _answer_limit(), now
            ):
                db.session.rollback()
                return _public_message(
                    lang, 429, _("Too many attempts"), _("Please try again in an hour.")
                )
            public_forms.record_attempt(db.session, EsfFollowupAttempt, ip_hash, now)
            if request.form.get("website"):
                # A bot filled the honeypot: nothing stored.
                db.session.commit()
                return _public_message(
                    lang, 200, _("Thank you"), _("Your answers have been received.")
                )
            for key in answers:
                value = str(request.form.get(key, "") or "")
                answers[key] = value if value in LINK_ANSWERS else ""
                if not answers[key]:
                    errors[key] = _('Please choose an answer (or "prefer not to say").')
            if errors:
                db.session.commit()  # keep the counted attempt
                status = 422
            else:
                try:
                    with acting_as(Actor(None, "public-esf-survey", "")):
                        followup_link.answer(
                            db.session,
                            link,
                            employed=answers["employed"],
                            improved=answers["improved"],
                            now=now,
                            today=_today(),
                            valid_days=valid_days,
                        )
                except followup_link.LinkError:
                    db.session.rollback()
                    return _public_message(
                        lang,
                        409,
                        _("Already answered"),
                        _("These questions can no longer be answered through this link."),
                    )
                db.session.commit()
                return _public_message(
                    lang, 200, _("Thank you"), _("Thank you! Your answers have been recorded.")
                )
        return render_template(
            "esf/followup_answer.html",
            lang=lang,
            token=token,
            answers=answers,
            errors=errors,
            until=local_date(followup_link.valid_until(link, valid_days)),
        ), status
