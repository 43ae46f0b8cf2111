"""Start page, health endpoint, administration overview and the development file outbox."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from flask_login import current_user

from crm.core.links import RecordLinks
from crm.core.today import build_my_day
from crm.dashboard.service import Targets
from crm.database import utcnow
from crm.extensions import db
from crm.offices.service import any_office
from crm.security import authenticated, has_permission, public, require

bp = Blueprint("core", __name__)


@bp.route("/")
@authenticated
def index():
    # A fresh install: lead the admin to the setup until an office exists (no redirect, so
    # the start page stays the start page and the rest of the app remains reachable).
    needs_setup = has_permission(current_user, "admin.users") and not any_office(db.session)
    cfg = current_app.config
    day = build_my_day(
        db.session,
        current_user._get_current_object(),
        utcnow(),
        target_defaults=Targets(
            float(cfg.get("CRM_TARGET_ENTRIES_PER_WEEK", 1)),
            float(cfg.get("CRM_TARGET_EXITS_PER_WEEK", 1)),
        ),
        config=cfg,
    )
    links = {
        "followup": RecordLinks("followups.detail", "fu_id"),
        "followup_done": RecordLinks("followups.done", "fu_id"),
        "followup_snooze": RecordLinks("followups.snooze", "fu_id"),
        "person": RecordLinks("contacts.person_detail", "person_id"),
        "organisation": RecordLinks("contacts.organisation_detail", "org_id"),
        "participant": RecordLinks("participants.detail", "participant_id"),
        "event": RecordLinks("events.detail", "event_id"),
    }
    return render_template("core/index.html", needs_setup=needs_setup, day=day, links=links)


@bp.route("/healthz")
@public
def healthz():
    """For load balancers: 200 if the database answers, 503 otherwise; reveals nothing else."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        current_app.logger.exception("health check: database unreachable")
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@bp.route("/favicon.ico")
@public
def favicon():
    """The icon browsers ask for at the root whatever the page links (old ones, feed readers)."""
    assert current_app.static_folder is not None  # the app always has crm/static
    return send_from_directory(
        current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400
    )


@bp.route("/verwaltung")
@require("admin.audit")
def admin_index():
    return render_template("core/admin_index.html")


@bp.route("/verwaltung/postausgang/dateien")
@require("admin.system")
def outbox():
    from crm.mail.outbox import list_outbox

    page = max(request.args.get("seite", 1, type=int), 1)
    per_page = 50
    items, total = list_outbox(
        current_app.config["CRM_MAIL_OUTBOX_DIR"], limit=per_page, offset=(page - 1) * per_page
    )
    return render_template(
        "core/outbox.html", items=items, total=total, page=page, per_page=per_page
    )


@bp.route("/verwaltung/postausgang/dateien/<name>")
@require("admin.system")
def outbox_message(name: str):
    from crm.mail.outbox import read_outbox_message

    try:
        msg = read_outbox_message(current_app.config["CRM_MAIL_OUTBOX_DIR"], name)
    except (FileNotFoundError, ValueError):
        abort(404)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return render_template(
        "core/outbox_message.html",
        name=name,
        msg=msg,
        text=text.get_content() if text else "",
        has_html=html is not None,
    )
