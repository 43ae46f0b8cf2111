"""The admin page of scheduled jobs: last run, result, errors, next run."""

from __future__ import annotations

from flask import Blueprint, render_template

from crm.database import utcnow
from crm.extensions import db
from crm.jobs.service import job_statuses
from crm.security import require

bp = Blueprint("jobs", __name__)


@bp.route("/verwaltung/jobs")
@require("admin.system")
def index():
    from crm.jobs.periodic import JOBS

    return render_template("jobs/index.html", jobs=job_statuses(db.session, JOBS, utcnow()))
