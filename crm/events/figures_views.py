"""Past events with their figures (Vergangene Termine / Kennzahlen), on the events blueprint:
the page with its filters and the XLSX for the funder report."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import render_template, request, send_file
from flask_babel import gettext as _

from crm.accounts.models import User
from crm.audit.service import record
from crm.contacts.export import write_xlsx
from crm.database import db_int, utcnow
from crm.events import figures
from crm.events.forms import KIND_LABELS
from crm.events.models import Event
from crm.events.series import BERLIN
from crm.events.views import bp
from crm.extensions import db
from crm.inputs import parse_date
from crm.security import require, writes_on_get


def _responsibles() -> list[User]:
    """Users responsible for at least one event: the choices of the filter."""
    has_events = sa.select(Event.responsible_id).where(Event.responsible_id.is_not(None))
    return list(
        db.session.scalars(
            sa.select(User).where(User.id.in_(has_events)).order_by(User.display_name)
        )
    )


def _figures_request() -> tuple[figures.Period, dict[str, str], str | None, str, int | None]:
    """Period, filters as typed, an error message, kind and responsible from the query string.

    A preset wins over typed dates; bad dates fall back to the default period with a message,
    keeping what was typed in the fields.
    """
    today = utcnow().astimezone(BERLIN).date()
    preset = request.args.get("zeitraum", "")
    kind = request.args.get("art", "")
    responsible_id = db_int(request.args.get("verantwortlich", ""))
    typed = {
        "von": (request.args.get("von") or "").replace("\x00", "").strip()[:20],
        "bis": (request.args.get("bis") or "").replace("\x00", "").strip()[:20],
        "zeitraum": preset if preset in figures.PRESETS else "",
        "art": kind if kind in KIND_LABELS else "",
        "verantwortlich": str(responsible_id) if responsible_id else "",
    }
    error = None
    period = figures.preset_period(typed["zeitraum"] or "12m", today)
    if not typed["zeitraum"] and (typed["von"] or typed["bis"]):
        try:
            start = parse_date(typed["von"]) or period.start
            end = parse_date(typed["bis"]) or today
        except ValueError:
            error = _("Please enter valid dates (e.g. 2026-12-01).")
        else:
            try:
                period = figures.checked_period(start, end)
            except figures.PeriodError as exc:
                error = (
                    _("The end of the period lies before its start.")
                    if str(exc) == "reversed"
                    else _("Please choose a period of at most three years.")
                )
    if not error:
        typed["von"], typed["bis"] = period.start.isoformat(), period.end.isoformat()
    return period, typed, error, typed["art"], responsible_id or None


@bp.route("/termine/kennzahlen")
@require("events.view")
def figures_page():
    period, typed, error, kind, responsible_id = _figures_request()
    report = figures.past_event_figures(
        db.session, period, now=utcnow(), kind=kind, responsible_id=responsible_id
    )
    return render_template(
        "events/figures.html",
        report=report,
        typed=typed,
        error=error,
        responsibles=_responsibles(),
        new_contact_days=figures.NEW_CONTACT_DAYS,
        query={k: v for k, v in typed.items() if v},
    )


def _percent(share: float | None) -> float | str:
    return round(100 * share, 1) if share is not None else "–"


@bp.route("/termine/kennzahlen.xlsx")
@require("events.view")
@writes_on_get
def figures_xlsx():
    period, _typed, _error, kind, responsible_id = _figures_request()
    report = figures.past_event_figures(
        db.session, period, now=utcnow(), kind=kind, responsible_id=responsible_id
    )
    record(
        db.session,
        "export",
        entity_type="event_figures",
        summary=f"Termin-Kennzahlen {period.start}–{period.end} "
        f"(xlsx, {len(report.events)} Termine, Art {kind or 'alle'})",
    )
    db.session.commit()
    start, end = period.start.strftime("%d.%m.%Y"), period.end.strftime("%d.%m.%Y")
    rows: list[list[Any]] = [
        [_("Period"), f"{start} – {end}"],
        [_("Kind"), str(KIND_LABELS[kind]) if kind else _("All")],
        [],
        [
            _("Date"),
            _("Title"),
            _("Kind"),
            _("Invited"),
            _("Registrations"),
            _("Attended"),
            _("No-shows"),
            _("Attendance rate (%)"),
            _("New contacts"),
            _("Organisations represented"),
        ],
    ]
    for f in report.events:
        rows.append(
            [
                f.starts_at.astimezone(BERLIN).date() if f.starts_at else "",
                f.title,
                str(KIND_LABELS.get(f.kind, f.kind)),
                f.invited,
                f.registrations,
                f.attended,
                f.no_show,
                _percent(f.attendance_rate),
                f.new_contacts,
                f.organisations,
            ]
        )
    t = report.totals
    rows.append(
        [
            _("Total"),
            _("%(n)d events", n=len(report.events)),
            "",
            t.invited,
            t.registrations,
            t.attended,
            t.no_show,
            _percent(t.attendance_rate),
            t.new_contacts,
            t.organisations,
        ]
    )
    out = io.BytesIO()
    write_xlsx([_("Past events: figures"), ""], rows, out, sheet_title=_("Event figures"))
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"termin-kennzahlen-{period.start}-{period.end}.xlsx",
    )
