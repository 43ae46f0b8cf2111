"""The retention page /datenschutz/aufbewahrung (admins): every rule, its period, what is due."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from crm.dashboard.weeks import local_date
from crm.database import utcnow
from crm.extensions import db
from crm.privacy import erasure, retention
from crm.security import require

bp = Blueprint("privacy_retention", __name__, url_prefix="/datenschutz/aufbewahrung")
PER_PAGE = 50


def _parse(form: dict[str, str]) -> tuple[dict[str, int], dict[str, str]]:
    values: dict[str, int] = {}
    errors: dict[str, str] = {}
    for rule in retention.ALL_RULES:
        raw = (form.get(rule.key) or "").strip()
        try:
            value = int(raw)
        except ValueError:
            errors[rule.key] = _("Please enter a whole number.")
            continue
        if not 1 <= value <= retention.MAX_SETTING:
            errors[rule.key] = _(
                "Please enter a number from 1 to %(max)d.", max=retention.MAX_SETTING
            )
            continue
        values[rule.key] = value
    return values, errors


@bp.route("/", methods=["GET", "POST"])
@require("admin.privacy")
def index():
    config = current_app.config
    form = FlaskForm()
    errors: dict[str, str] = {}
    entered: dict[str, str] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("The form has expired. Please try again."), "danger")
            return redirect(url_for(".index"))
        if "run" in request.form:
            done = retention.run(db.session, config, utcnow())
            db.session.commit()
            if any(done[key] for key in retention.ERASING_RULES):
                erasure.finish_erasure(db.engine)
            flash(
                _("Retention rules applied: %(n)d entries removed.", n=sum(done.values())),
                "success",
            )
            return redirect(url_for(".index"))
        values, errors = _parse(request.form)
        entered = {rule.key: request.form.get(rule.key, "") for rule in retention.ALL_RULES}
        if not errors:
            changed = retention.save_settings(db.session, values, config)
            db.session.commit()
            flash(_("Retention settings saved (%(n)d changed).", n=changed), "success")
            return redirect(url_for(".index"))
    states = retention.preview(db.session, config, utcnow())
    reviews = retention.review_preview(db.session, config, utcnow())
    status = 400 if errors else 200
    return (
        render_template(
            "privacy/retention.html",
            states=states,
            reviews=reviews,
            units=retention.UNITS,
            errors=errors,
            entered=entered,
            form=form,
            exit_years=config["CRM_RETENTION_YEARS_AFTER_EXIT"],
            session_hours=config["CRM_SESSION_MAX_HOURS"],
            confirm_hours=config["CRM_NEWSLETTER_CONFIRM_HOURS"],
        ),
        status,
    )


@bp.route("/pruefen/<key>")
@require("admin.privacy")
def review(key: str):
    rule = retention.REVIEWS_BY_KEY.get(key) or abort(404)
    page = max(request.args.get("seite", 1, type=int) or 1, 1)
    items, total = retention.review_list(
        db.session, rule, current_app.config, utcnow(), page=page, per_page=PER_PAGE
    )
    return render_template(
        "privacy/retention_review.html",
        rule=rule,
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        value=retention.settings(db.session, current_app.config)[rule.key],
        units=retention.UNITS,
        form=FlaskForm(),
    )


@bp.route("/pruefen/<key>/behalten/<int:subject_id>", methods=["POST"])
@require("admin.privacy")
def keep(key: str, subject_id: int):
    rule = retention.REVIEWS_BY_KEY.get(key) or abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    retention.keep(
        db.session,
        rule.subject_type,
        subject_id,
        user_id=current_user.id,
        today=local_date(utcnow()),
    )
    db.session.commit()
    flash(_("The record is kept for one more year."), "success")
    return redirect(url_for(".review", key=key))
