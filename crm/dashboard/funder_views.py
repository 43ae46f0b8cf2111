"""The funder report under /auswertung/foerderbericht: page, print, XLSX, saved definitions."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.audit.service import record
from crm.contacts.export import neutralize_cell, write_xlsx
from crm.dashboard import funder, service
from crm.dashboard.labels import CHANNEL_LABELS, OUTCOME_LABELS
from crm.dashboard.models import ReportDefinition
from crm.dashboard.term import current_term
from crm.dashboard.views import PSEUDONYM_HEADERS, bp
from crm.dashboard.weeks import local_date
from crm.database import utcnow
from crm.events import figures as event_figures
from crm.extensions import db
from crm.forms import Form, choices
from crm.participants import views as participant_views
from crm.participants.forms import GENDER_LABELS, RECOGNITION_LABELS
from crm.participants.service import ParticipantFilters, office_ids_for
from crm.placements import views as placement_views
from crm.placements.forms import KIND_LABELS as PLACEMENT_KIND_LABELS
from crm.placements.service import PlacementFilters
from crm.security import has_permission, require, writes_on_get

PRESET_LABELS = {
    "year": _l("Calendar year"),
    "half": _l("Half-year"),
    "100d": _l("Last 100 days"),
    "term": _l("Project term"),
    "custom": _l("Custom period"),
}
DIMENSION_LABELS = {
    "office": _l("Branch office"),
    "counsellor": _l("Counsellor"),
    "channel": _l("Acquisition channel"),
    "referrer": _l("Referring organisation"),
    "gender": _l("Gender"),
    "age_group": _l("Age group at entry"),
    "country": _l("Country of origin"),
    "recognition": _l("Recognition status"),
}

# Whole headings, not "By %(what)s": German inflects the label after „Nach“
# („Nach zuweisender Organisation“, not „Nach Zuweisende Organisation“).
DIMENSION_HEADINGS = {
    "office": _l("By branch office"),
    "counsellor": _l("By counsellor"),
    "channel": _l("By acquisition channel"),
    "referrer": _l("By referring organisation"),
    "gender": _l("By gender"),
    "age_group": _l("By age group at entry"),
    "country": _l("By country of origin"),
    "recognition": _l("By recognition status"),
}


class DefinitionForm(Form):
    """Save the period on the page under a name (CSRF through crm.forms.Form)."""

    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(message=_l("Please enter a name.")),
            Length(max=120, message=_l("At most 120 characters.")),
        ],
    )
    preset = SelectField(_l("Period"), choices=choices(PRESET_LABELS.items()))
    start_on = DateField(_l("From"), validators=[Optional()])
    end_on = DateField(_l("Until"), validators=[Optional()])

    def validate(self, extra_validators: Any = None) -> bool:
        # Checked here, not in a field validator: Optional() stops those on an empty field.
        ok = super().validate(extra_validators)
        if self.preset.data != "custom" or self.start_on.errors or self.end_on.errors:
            return ok
        if not self.start_on.data or not self.end_on.data:
            self.end_on.errors = [_("A custom period needs a first and a last day.")]
            return False
        try:
            funder.checked(self.start_on.data, self.end_on.data)
        except funder.PeriodError as exc:
            self.end_on.errors = [_period_message(str(exc))]
            return False
        return ok


def _period_message(code: str) -> str:
    return {
        "reversed": _("The end of the period lies before its start."),
        "too long": _("Please choose a period of at most ten years."),
        "no term": _(
            "No project term is set; an administrator sets it under Administration → "
            "Project term. Please choose another period."
        ),
    }.get(code, _("Please enter valid dates (e.g. 2026-12-01)."))


def _request_period() -> tuple[funder.Period, dict[str, str], str | None]:
    """The period from the query string; bad input falls back to this calendar year with a
    German message, keeping what was typed."""
    today = local_date(utcnow())
    term = current_term(db.session, current_app.config)
    preset = request.args.get("zeitraum", "") or "year"
    typed = {
        "zeitraum": preset if preset in funder.PRESETS else "year",
        "von": (request.args.get("von") or "").replace("\x00", "").strip()[:20],
        "bis": (request.args.get("bis") or "").replace("\x00", "").strip()[:20],
    }
    error = None
    try:
        period = funder.period_for(
            typed["zeitraum"],
            today,
            start=typed["von"],
            end=typed["bis"],
            project_start=term.start.isoformat() if term.start else "",
            project_end=term.end.isoformat() if term.end else "",
        )
    except funder.PeriodError as exc:
        error = _period_message(str(exc))
        period = funder.period_for("year", today)
    if not error and typed["zeitraum"] != "custom":
        typed["von"], typed["bis"] = period.start.isoformat(), period.end.isoformat()
    return period, typed, error


def _labels() -> dict[str, dict[Any, str]]:
    return {
        "channel": {k: str(v) for k, v in CHANNEL_LABELS.items()},
        "gender": {k: str(v) for k, v in GENDER_LABELS.items()},
        "recognition": {k: str(v) for k, v in RECOGNITION_LABELS.items()},
    }


def _report(period: funder.Period) -> funder.FunderReport:
    return funder.funder_report(
        db.session,
        period,
        user=current_user,
        now=utcnow(),
        labels=_labels(),
        unknown_label=_("not recorded"),
    )


# The breakdowns by office and counsellor filter the list by these fields; the others by the
# field of the same name (crm.participants.service.GROUPS).
_BREAKDOWN_FIELDS = {
    "office": "office_id",
    "counsellor": "counsellor_id",
    "referrer": "referrer_id",
}
_COLUMN_KINDS = {"counselled": "counselled", "entries": "entered", "exits": "exited"}


def report_links(
    report: funder.FunderReport, *, may_list: bool, may_events: bool
) -> dict[tuple[Any, ...], str]:
    """The address of the list behind each number of the report, for a user who may open it.

    Keys: ("total", name), ("outcome", outcome), ("placement", kind) and
    ("by", dimension, row key, column). Numbers without a list that shows them (firms, needs,
    newsletters) have no key. Each participant link holds filters that the list reads with
    `crm.participants.views.filters_from`; tests/test_funder_links.py checks that every one
    lists exactly as many as the number says.
    """
    links: dict[tuple[Any, ...], str] = {}
    period = report.period
    if may_list:

        def participants(kind: str, **fields: Any) -> str:
            filters = ParticipantFilters(
                period_kind=kind, period_from=period.start, period_to=period.end, **fields
            )
            return url_for("participants.index", **participant_views.list_args(filters))

        def placements(kind: str = "") -> str:
            filters = PlacementFilters(kind=kind, start=period.start, end=period.end, started=True)
            return url_for("placements.index", **placement_views.list_args(filters))

        for name, kind in _COLUMN_KINDS.items():
            links[("total", name)] = participants(kind)
        links[("total", "qualifications")] = participants(
            "exited", outcomes=funder.QUALIFICATION_OUTCOMES
        )
        for outcome in report.exits_by_outcome:
            links[("outcome", outcome)] = participants("exited", outcomes=(outcome,))
        links[("total", "placements")] = placements()
        for kind in report.placements_by_kind:
            links[("placement", kind)] = placements(kind)
        for dim, rows in report.breakdowns.items():
            field_name = _BREAKDOWN_FIELDS.get(dim, dim)
            for row in rows:
                if row.key in (None, ""):
                    fields: dict[str, Any] = {"not_stated": (dim,)}
                else:
                    fields = {field_name: row.key}
                for col, kind in _COLUMN_KINDS.items():
                    links[("by", dim, row.key, col)] = participants(kind, **fields)
    # The events' figures page shows periods of up to three years.
    if may_events and period.days <= event_figures.MAX_DAYS:
        events = url_for(
            "events.figures_page", von=period.start.isoformat(), bis=period.end.isoformat()
        )
        links[("total", "events")] = links[("total", "attended")] = events
    return links


def _definitions() -> list[ReportDefinition]:
    return list(db.session.scalars(sa.select(ReportDefinition).order_by(ReportDefinition.name)))


def _page(form: DefinitionForm | None = None, status: int = 200) -> Any:
    period, typed, error = _request_period()
    if form is None:
        form = DefinitionForm(
            formdata=None,
            preset=typed["zeitraum"],
            start_on=period.start,
            end_on=period.end,
        )
    report = _report(period)
    return render_template(
        "dashboard/funder_report.html",
        report=report,
        typed=typed,
        error=error,
        # The way back to the board shows the year of a period within one year.
        board_year=period.start.year if period.start.year == period.end.year else None,
        # Admins get a link to where the missing term is set.
        term_link=bool(error)
        and typed["zeitraum"] == "term"
        and has_permission(current_user, "admin.users")
        and not current_term(db.session, current_app.config).is_set,
        form=form,
        definitions=_definitions(),
        PRESET_LABELS=PRESET_LABELS,
        DIMENSION_LABELS=DIMENSION_LABELS,
        DIMENSION_HEADINGS=DIMENSION_HEADINGS,
        PLACEMENT_KIND_LABELS=PLACEMENT_KIND_LABELS,
        OUTCOME_LABELS=OUTCOME_LABELS,
        min_cell=current_app.config.get("CRM_REPORT_MIN_CELL", 3),
        may_list=has_permission(current_user, "participants.view"),
        # Numbers link to the lists behind them, filtered the same way, for those who may
        # open those lists.
        links=report_links(
            report,
            may_list=has_permission(current_user, "participants.view"),
            may_events=has_permission(current_user, "events.view"),
        ),
        query=_shown_query(period, typed, error),
    ), status


def _shown_query(period: funder.Period, typed: dict[str, str], error: str | None) -> dict[str, str]:
    """Query for the downloads: the period the page shows.

    After a bad period (or "project term" without one configured) the page shows this
    calendar year; the downloads must fetch that too, not the typed period that they would
    refuse with 400.
    """
    if error:
        return {
            "zeitraum": "custom",
            "von": period.start.isoformat(),
            "bis": period.end.isoformat(),
        }
    return {k: v for k, v in typed.items() if v}


@bp.route("/foerderbericht")
@require("reports.funder")
def funder_report():
    return _page()


@bp.route("/foerderbericht/definitionen", methods=["POST"])
@require("reports.funder")
def funder_definition_save():
    form = DefinitionForm()
    if form.validate_on_submit():
        name = (form.name.data or "").strip()
        taken = db.session.scalar(
            sa.select(ReportDefinition.id).where(ReportDefinition.name == name)
        )
        if taken:
            form.name.errors = [_("A report definition with this name already exists.")]
        else:
            custom = form.preset.data == "custom"
            definition = ReportDefinition(
                name=name,
                preset=form.preset.data,
                start_on=form.start_on.data if custom else None,
                end_on=form.end_on.data if custom else None,
                created_by_id=current_user.id,
            )
            # ReportDefinition is Audited: the creation is logged with its name and period.
            db.session.add(definition)
            db.session.commit()
            flash(_("Report definition saved."), "success")
            query: dict[str, Any] = _definition_query(definition)
            return redirect(url_for(".funder_report", **query))
    return _page(form, 400)


def _definition_query(d: ReportDefinition) -> dict[str, str]:
    if d.preset == "custom" and d.start_on and d.end_on:
        return {"zeitraum": "custom", "von": d.start_on.isoformat(), "bis": d.end_on.isoformat()}
    return {"zeitraum": d.preset}


@bp.app_template_global()
def funder_definition_query(d: ReportDefinition) -> dict[str, str]:
    """The report's query string for a saved definition (used by the template)."""
    return _definition_query(d)


@bp.route("/foerderbericht/definitionen/<int:definition_id>/loeschen", methods=["POST"])
@require("reports.funder")
def funder_definition_delete(definition_id: int):
    form = Form()
    definition = db.session.get(ReportDefinition, definition_id)
    if definition is None:
        flash(_("This report definition no longer exists."), "warning")
        return redirect(url_for(".funder_report"))
    if not form.validate_on_submit():
        flash(_("The form has expired; please try again."), "danger")
        return redirect(url_for(".funder_report"))
    db.session.delete(definition)
    db.session.commit()
    flash(_("Report definition deleted."), "success")
    return redirect(url_for(".funder_report"))


# --- XLSX ---------------------------------------------------------------------------------------


def xlsx_sheets(report: funder.FunderReport, min_cell: int) -> list[tuple[str, list[list[Any]]]]:
    """The workbook: the totals, then one sheet per breakdown; every count of people below
    `min_cell` shown as "< min_cell"."""

    def p(n: int) -> int | str:
        return funder.protect(n, min_cell)

    r = report
    totals: list[list[Any]] = [
        [_("Period"), f"{r.period.start:%d.%m.%Y} – {r.period.end:%d.%m.%Y}"],
        [_("Counselled"), p(r.counselled)],
        [_("Entries"), p(r.entries)],
        [_("Exits"), p(r.exits)],
    ]
    totals += [
        [_("Exits: %(outcome)s", outcome=OUTCOME_LABELS[o]), p(n)]
        for o, n in r.exits_by_outcome.items()
    ]
    totals += [
        [_("Qualifications reached"), p(r.qualifications)],
        [_("Placements"), p(r.placements)],
    ]
    totals += [
        [_("Placements: %(kind)s", kind=PLACEMENT_KIND_LABELS[k]), p(n)]
        for k, n in r.placements_by_kind.items()
    ]
    # Firms, needs, events and mailings count organisations and contacts, not participants.
    totals += [
        [_("Firms counselled"), r.firms_counselled],
        [_("Needs collected (people needed)"), r.needs_people],
        [_("Events held"), r.events_held],
        [_("Event attendance"), r.event_attended],
        [_("Newsletter campaigns sent"), r.campaigns_sent],
        [_("Newsletter recipients"), r.newsletter_recipients],
    ]
    sheets: list[tuple[str, list[list[Any]]]] = [(_("Totals"), totals)]
    for dim, rows in r.breakdowns.items():
        label = str(DIMENSION_LABELS[dim])
        table: list[list[Any]] = [[label, _("Counselled"), _("Entries"), _("Exits")]]
        table += [[row.label, p(row.counselled), p(row.entries), p(row.exits)] for row in rows]
        sheets.append((label, table))
    return sheets


def _write_workbook(sheets: list[tuple[str, list[list[Any]]]], out: io.BytesIO) -> None:
    # Imported here: openpyxl takes a noticeable moment to import and most requests need none.
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title=title[:31])
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                cell = sheet.cell(row=r, column=c)
                if isinstance(value, int | float):
                    cell.value = value
                else:
                    # Forced text: no cell can become a formula (see crm.contacts.export).
                    cell.value = ILLEGAL_CHARACTERS_RE.sub("", neutralize_cell(str(value)))
                    cell.data_type = "s"
        sheet.column_dimensions["A"].width = 40
    workbook.save(out)


@bp.route("/foerderbericht.xlsx")
@require("reports.funder")
@writes_on_get
def funder_report_xlsx():
    period, _typed, error = _request_period()
    if error:
        return _page(status=400)
    report = _report(period)
    record(
        db.session,
        "export",
        entity_type="funder_report",
        summary=f"Förderbericht {period.start.isoformat()} bis {period.end.isoformat()} (xlsx)",
    )
    db.session.commit()
    out = io.BytesIO()
    _write_workbook(xlsx_sheets(report, int(current_app.config.get("CRM_REPORT_MIN_CELL", 3))), out)
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"foerderbericht-{period.start.isoformat()}-{period.end.isoformat()}.xlsx",
    )


@bp.route("/foerderbericht/pseudonymisiert.xlsx")
@require("reports.funder")
@writes_on_get
def funder_pseudonymised_xlsx():
    """One row per participant active in the period, rare values hidden (see protect_rows)."""
    if not has_permission(current_user, "participants.view"):
        abort(403)
    period, _typed, error = _request_period()
    if error:
        return _page(status=400)
    min_cell = int(current_app.config.get("CRM_REPORT_MIN_CELL", 3))
    rows = service.pseudonymised_rows_between(
        db.session, period.start, period.after_end, office_ids_for(current_user)
    )
    rows = funder.protect_rows(service.PSEUDONYM_FIELDS, rows, min_cell)
    record(
        db.session,
        "export",
        entity_type="participant",
        summary=(
            f"pseudonymisiert {period.start.isoformat()} bis {period.end.isoformat()}: "
            f"{len(rows)} Zeilen (xlsx, seltene Werte verborgen)"
        ),
    )
    db.session.commit()
    headers = [PSEUDONYM_HEADERS[f] for f in service.PSEUDONYM_FIELDS]
    out = io.BytesIO()
    write_xlsx(headers, rows, out, sheet_title="Teilnehmende")
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=(
            f"foerderbericht-pseudonymisiert-{period.start.isoformat()}-{period.end.isoformat()}.xlsx"
        ),
    )
