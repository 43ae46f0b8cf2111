"""The admin page listing the audit log with filters."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from crm.accounts.models import User
from crm.audit.labels import ACTION_LABELS, RECORD_LABELS
from crm.audit.models import AuditEntry
from crm.audit.service import query_entries
from crm.extensions import db
from crm.inputs import date_range_message, parse_date
from crm.security import require

bp = Blueprint("audit", __name__, url_prefix="/verwaltung/protokoll")
BERLIN = ZoneInfo("Europe/Berlin")


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    """Parse a yyyy-mm-dd filter as the start (or the end) of that day in Berlin.

    ValueError if the value is no date or lies outside the range the app accepts.
    """
    day = parse_date(value)
    if day is None:
        return None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=BERLIN)


@bp.route("/")
@require("admin.audit")
def index():
    args = request.args
    page = max(args.get("seite", 1, type=int), 1)
    filters: dict[str, Any] = {
        "action": args.get("aktion") or None,
        "entity_type": args.get("typ") or None,
        "actor_id": args.get("benutzer", type=int),
        "entity_id": args.get("datensatz", type=int),
    }
    date_errors = {}
    for name, key, end in (("von", "since", False), ("bis", "until", True)):
        try:
            filters[key] = _day(args.get(name), end=end)
        except ValueError:
            filters[key] = None
            date_errors[name] = date_range_message()
    entries, total = query_entries(db.session, page=page, per_page=50, **filters)
    actions = db.session.scalars(
        sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)
    )
    types = db.session.scalars(
        sa.select(AuditEntry.entity_type).distinct().order_by(AuditEntry.entity_type)
    )
    users = db.session.scalars(sa.select(User).order_by(User.display_name)).all()
    return render_template(
        "audit/index.html",
        entries=entries,
        total=total,
        page=page,
        per_page=50,
        actions=[a for a in actions if a],
        types=[t for t in types if t],
        users=users,
        args=args,
        date_errors=date_errors,
        ACTION_LABELS=ACTION_LABELS,
        RECORD_LABELS=RECORD_LABELS,
    )
