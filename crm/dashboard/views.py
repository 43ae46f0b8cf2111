"""The targets board and reports under /auswertung (aggregate numbers, never names)."""

from __future__ import annotations

import io
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
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from crm.accounts.models import Office
from crm.audit.service import record
from crm.contacts.export import iter_csv, write_xlsx
from crm.dashboard import service
from crm.dashboard.labels import CHANNEL_LABELS, OUTCOME_LABELS, channel_labels
from crm.dashboard.term import current_term
from crm.dashboard.weeks import BERLIN, local_date, week_of, year_span
from crm.database import utcnow
from crm.extensions import db
from crm.intake import reports as intake_reports
from crm.offices import service as office_service
from crm.offices.forms import TargetsForm, targets_form
from crm.participants.service import office_ids_for
from crm.security import has_permission, require, writes_on_get

bp = Blueprint("dashboard", __name__, url_prefix="/auswertung")


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"CHANNEL_LABELS": CHANNEL_LABELS, "OUTCOME_LABELS": OUTCOME_LABELS}


def _defaults() -> service.Targets:
    cfg = current_app.config
    return service.Targets(
        float(cfg.get("CRM_TARGET_ENTRIES_PER_WEEK", 1)),
        float(cfg.get("CRM_TARGET_EXITS_PER_WEEK", 1)),
    )


def _filters(year: int | None = None) -> tuple[int, int | None, list[int] | None, list[Office]]:
    """Year (ISO week-year) and office from the query string, narrowed to the user's scope."""
    today = local_date(utcnow())
    year = year or request.args.get("jahr", type=int) or week_of(today).year
    if not 2000 <= year <= 2100:
        abort(404)
    office_id = request.args.get("geschaeftsstelle", type=int)
    allowed = service.board_offices(current_user)
    offices_q = sa.select(Office).order_by(Office.name)
    if allowed is not None:
        offices_q = offices_q.where(Office.id.in_(allowed or [-1]))
    offices = list(db.session.scalars(offices_q))
    return year, office_id, service.effective_offices(allowed, office_id), offices


@bp.route("/")
@require("reports.view")
def index():
    return _board_page()


def _board_page(form: TargetsForm | None = None, year: int | None = None) -> str:
    """The board of a year; `form` is the targets form as submitted, with its errors."""
    today = local_date(utcnow())
    year, office_id, scope, offices = _filters(year)
    term = current_term(db.session, current_app.config)
    board = service.build_board(
        db.session,
        year=year,
        today=today,
        offices=scope,
        defaults=_defaults(),
        channel_labels=channel_labels(),
        unknown_label=_("not recorded"),
        project_start=term.start,
        project_end=term.end,
    )
    office_targets = service.office_targets(db.session, scope)
    # Each office's target to date next to its counts: which office (and so which team) is
    # behind, not only the project as a whole.
    office_ytd = {
        o.id: (
            round(board.weeks_elapsed * o.weekly_entries, 2),
            round(board.weeks_elapsed * o.weekly_exits, 2),
        )
        for o in office_targets
    }
    may_set_targets = has_permission(current_user, "reports.targets")
    if form is None and may_set_targets:
        form = targets_form(office_service.active_offices(db.session))
    return render_template(
        "dashboard/index.html",
        board=board,
        year=year,
        office_id=office_id,
        offices=offices,
        years=service.available_years(db.session, today),
        may_set_targets=may_set_targets,
        office_targets=office_targets,
        office_ytd=office_ytd,
        may_export_participants=has_permission(current_user, "participants.view"),
        # Counts link to the participant list behind them, for those who may open it.
        list_args=({"geschaeftsstelle": office_id} if office_id else {})
        if has_permission(current_user, "participants.view")
        else None,
        year_first=year_span(year)[0],
        year_last=year_span(year)[1] - timedelta(days=1),
        form=form,
        # Inquiries only for those who may open the queue, counted within their scope.
        intake=intake_reports.board_tile(db.session, current_user, utcnow())
        if has_permission(current_user, "intake.view")
        else None,
    )


@bp.route("/ziele", methods=["POST"])
@require("reports.targets")
def set_targets():
    """Weekly targets of every active office; the board sums them."""
    year = request.form.get("jahr", type=int)
    if year is None or not 2000 <= year <= 2100:
        abort(404)
    active = office_service.active_offices(db.session)
    form = targets_form(active)
    if not form.validate_on_submit():
        return _board_page(form, year)
    values = form.values()
    for office in active:
        entries, exits = values[office.id]
        # The office is Audited: each changed target is logged with its old and new value.
        office_service.update_office(
            db.session, office, {"weekly_entries": entries, "weekly_exits": exits}
        )
    db.session.commit()
    flash(_("Targets saved."), "success")
    return redirect(url_for(".index", jahr=year))


def _report() -> tuple[service.AnnualReport, int | None, list[Office]]:
    year, office_id, scope, offices = _filters()
    report = service.annual_report(
        db.session,
        year=year,
        offices=scope,
        channel_labels=channel_labels(),
        unknown_label=_("not recorded"),
    )
    return report, office_id, offices


@bp.route("/jahresbericht")
@require("reports.view")
def annual_report():
    report, office_id, offices = _report()
    office = next((o for o in offices if o.id == office_id), None)
    return render_template(
        "dashboard/annual_report.html",
        report=report,
        office=office,
        office_id=office_id,
        offices=offices,
        # As on the board: counts link to the participant list, for those who may open it.
        list_args=(
            dict(
                {"geschaeftsstelle": office_id} if office_id else {},
                von=report.start.isoformat(),
                bis=report.last_day.isoformat(),
            )
            if has_permission(current_user, "participants.view")
            else None
        ),
    )


@bp.route("/jahresbericht.xlsx")
@require("reports.view")
@writes_on_get
def annual_report_xlsx():
    report, office_id, _offices = _report()
    record(
        db.session,
        "export",
        entity_type="annual_report",
        summary=f"Jahresbericht {report.year} (xlsx, Geschäftsstelle {office_id or 'alle'})",
    )
    db.session.commit()
    rows: list[list[Any]] = [
        [_("Counselled"), report.counselled],
        [_("Counselling sessions"), report.sessions],
        [_("Counselling hours"), round(report.minutes / 60, 1)],
        [_("New contacts"), report.new_contacts],
        [_("Entries"), report.entries],
        [_("Exits"), report.exits],
    ]
    for outcome, n in report.exits_by_outcome.items():
        rows.append([_("Exits: %(outcome)s", outcome=OUTCOME_LABELS[outcome]), n])
    rows.append([])
    rows.append(
        [
            _("Branch office"),
            _("New contacts"),
            _("Counselled"),
            _("Entries"),
            _("Exits"),
            _("Exits into work"),
        ]
    )
    for b in report.by_office:
        rows.append(
            [
                b.label,
                b.first_contacts,
                report.counselled_by_office.get(b.key, 0),
                b.entries,
                b.exits,
                b.exits_employment,
            ]
        )
    rows.append([])
    rows.append(
        [
            _("Acquisition channel"),
            _("New contacts"),
            "",
            _("Entries"),
            _("Exits"),
            _("Exits into work"),
        ]
    )
    for b in report.by_channel:
        rows.append([b.label, b.first_contacts, "", b.entries, b.exits, b.exits_employment])
    out = io.BytesIO()
    write_xlsx(
        [_("Annual report %(year)d", year=report.year), ""],
        rows,
        out,
        sheet_title=_("Annual report"),
    )
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"jahresbericht-{report.year}.xlsx",
    )


PSEUDONYM_HEADERS = {
    "pseudonym": "Pseudonym",
    "office": "Geschäftsstelle",
    "birth_year": "Geburtsjahr",
    "gender": "Geschlecht",
    "country_of_origin": "Herkunftsland",
    "recognition_status": "Anerkennungsstatus",
    "language_level": "Sprachniveau",
    "target_field": "Zielbereich",
    "acquisition_channel": "Zugangsweg",
    "first_contact_on": "Erstkontakt",
    "first_session_on": "Erste Beratung",
    "hours": "Beratungsstunden",
    "entry_on": "Eintritt",
    "exit_on": "Austritt",
    "exit_outcome": "Verbleib",
}


@bp.route("/pseudonymisiert.<any(csv, xlsx):fmt>")
@require("participants.view")
@writes_on_get
def pseudonymised_export(fmt: str):
    year, office_id, _scope, _offices = _filters()
    # Per-participant rows (even without names) only for those who may see participants.
    allowed = office_ids_for(current_user)
    scope = service.effective_offices(allowed, office_id)
    rows = service.pseudonymised_rows(db.session, year=year, offices=scope)
    record(
        db.session,
        "export",
        entity_type="participant",
        summary=f"pseudonymisiert {year}: {len(rows)} Zeilen ({fmt})",
    )
    db.session.commit()
    headers = [PSEUDONYM_HEADERS[f] for f in service.PSEUDONYM_FIELDS]
    filename = f"teilnehmende-pseudonymisiert-{year}-{datetime.now(BERLIN):%Y-%m-%d}.{fmt}"
    if fmt == "csv":
        response = Response(iter_csv(headers, rows), mimetype="text/csv")
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    out = io.BytesIO()
    write_xlsx(headers, rows, out, sheet_title="Teilnehmende")
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename,
    )
