"""The admin page of scheduled jobs (last run, result, errors, next run) and background jobs."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l

from crm.database import utcnow
from crm.extensions import db
from crm.jobs.models import BackgroundJob
from crm.jobs.service import job_statuses
from crm.security import require

bp = Blueprint("jobs", __name__)

BACKGROUND_LABELS = {
    "queued": _l("waiting"),
    "running": _l("running"),
    "done": _l("done"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}
BACKGROUND_SHOWN = 20


@bp.route("/verwaltung/jobs")
@require("admin.system")
def index():
    from crm.jobs.periodic import JOBS

    background = db.session.scalars(
        sa.select(BackgroundJob).order_by(BackgroundJob.id.desc()).limit(BACKGROUND_SHOWN)
    ).all()
    return render_template(
        "jobs/index.html",
        jobs=job_statuses(db.session, JOBS, utcnow()),
        background_jobs=background,
        background_labels=BACKGROUND_LABELS,
    )
