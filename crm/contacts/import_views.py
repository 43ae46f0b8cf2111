"""Import pages (CSV/XLSX): upload, mapping, dry run, run, progress, undo.

A nested blueprint of `contacts`, so its endpoints are `contacts.imports.*`.
"""

from __future__ import annotations

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
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, HiddenField, RadioField, SelectField, SubmitField

from crm.audit.service import Actor, record
from crm.contacts import import_jobs, importer
from crm.contacts.export import iter_csv
from crm.contacts.import_models import ImportJob
from crm.contacts.tabular import FIELD_KEYS, ImportFileError, Table, suggest_mapping
from crm.extensions import db
from crm.forms import Form, choices
from crm.jobs import queue
from crm.jobs.models import BackgroundJob
from crm.security import fragment, require, writes_on_get

bp = Blueprint("imports", __name__, url_prefix="/import")

PER_PAGE = 25
PREVIEW_ROWS = 10
# Characters of a cell shown in the preview: a file may hold values of thousands.
PREVIEW_CHARS = 80

POLICY_LABELS = {
    "skip": _l("Skip duplicates"),
    "update_empty": _l("Fill empty fields of the existing record"),
    "create": _l("Create anyway"),
}
STATUS_LABELS = {
    "uploaded": _l("not yet imported"),
    "running": _l("running"),
    "done": _l("imported"),
    "failed": _l("failed"),
    "undone": _l("undone"),
}
OUTCOME_LABELS = {
    "create": _l("New"),
    "update": _l("Update"),
    "skip": _l("Skipped"),
    "reject": _l("Rejected"),
}


class UploadForm(Form):
    file = FileField(
        _l("File (CSV or Excel .xlsx)"), validators=[FileRequired(_l("Please choose a file."))]
    )


class UndoForm(Form):
    """Only the CSRF token."""


class MappingForm(Form):
    sheet = HiddenField()
    policy = RadioField(
        _l("When a row looks like an existing contact"),
        choices=choices(POLICY_LABELS.items()),
        default="skip",
    )
    keep_unmapped = BooleanField(_l("Keep the columns set to “do not import” in the notes"))
    dry_run = SubmitField(_l("Dry run"))
    run = SubmitField(_l("Import now"))

    def mapping(self) -> dict[str, str | None]:
        """{header: field key or None} from the column selects (and the notes checkbox)."""
        unmapped = importer.KEEP_IN_NOTES if self.keep_unmapped.data else None
        return {f.label.text: (f.data or unmapped) for f in self.column_fields()}

    def column_fields(self) -> list[Any]:
        """The select fields of the file's columns, in order."""
        return [f for f in self if f.name.startswith("col_")]

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        seen: dict[str, str] = {}
        for f in self.column_fields():
            if not f.data or f.data == importer.KEEP_IN_NOTES:
                continue
            if f.data in seen:
                f.errors = [
                    *f.errors,
                    _("This field is already assigned to “%(col)s”.", col=seen[f.data]),
                ]
                ok = False
            seen[f.data] = f.label.text
        if not {"org_name", "last_name"} & set(seen):
            self.policy.errors = [
                *self.policy.errors,
                _("Assign at least one column to “Organisation name” or “Last name”."),
            ]
            ok = False
        return ok


def _mapping_form(job: ImportJob, table: Table, **kwargs: Any) -> MappingForm:
    labels = importer.field_labels()
    options = [
        ("", _("– do not import –")),
        *((k, labels[k]) for k in FIELD_KEYS),
        (importer.KEEP_IN_NOTES, _("– keep in the notes –")),
    ]

    class Form(MappingForm):
        pass

    mapping = job.mapping or {}
    if (table.sheet or "") != job.sheet:
        # Another sheet has other columns: suggest afresh from its headers.
        mapping = suggest_mapping(table.headers)
    for index, header in enumerate(table.headers):
        setattr(
            Form,
            f"col_{index}",
            SelectField(header, choices=choices(options), default=mapping.get(header) or ""),
        )
    form = Form(**kwargs)
    if request.method == "GET":
        form.policy.data = job.duplicate_policy
        form.sheet.data = table.sheet or ""
    return form


def _job_or_404(job_id: int) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    if job is None:
        abort(404)
    return job


def _actor() -> Actor:
    return Actor(current_user.id, current_user.email, request.remote_addr or "")


@bp.route("/")
@require("contacts.import")
def index():
    """Upload form and the list of past imports."""
    return _render_index(UploadForm())


def _render_index(form: UploadForm, status: int = 200) -> tuple[str, int]:
    page = max(request.args.get("seite", 1, type=int) or 1, 1)
    stmt = sa.select(ImportJob).order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
    total = db.session.scalar(sa.select(sa.func.count(ImportJob.id))) or 0
    jobs = db.session.scalars(
        stmt.options(selectinload(ImportJob.created_by))
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return render_template(
        "contacts/import_index.html",
        form=form,
        jobs=jobs,
        page=page,
        per_page=PER_PAGE,
        total=total,
        undo_form=UndoForm(),
        status_labels=STATUS_LABELS,
        max_mb=current_app.config["CRM_MAX_UPLOAD_MB"],
    ), status


@bp.route("/", methods=["POST"])
@require("contacts.import")
def upload():
    """Store an uploaded file as a new import job."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _render_index(form, 400)
    storage = form.file.data
    try:
        job = importer.create_job(
            db.session,
            data=storage.stream,
            filename=storage.filename or "",
            user_id=current_user.id,
            max_bytes=current_app.config["CRM_MAX_UPLOAD_MB"] * 1024 * 1024,
        )
        importer.purge_old_files(
            db.session,
            keep_days=current_app.config.get("CRM_IMPORT_KEEP_DAYS", importer.DEFAULT_KEEP_DAYS),
        )
        db.session.commit()
    except ImportFileError as exc:
        db.session.rollback()
        form.file.errors = [exc.message]
        return _render_index(form, 400)
    return redirect(url_for(".job", job_id=job.id))


@bp.route("/<int:job_id>")
@require("contacts.import")
def job(job_id: int):
    """Mapping, preview and dry-run report of a job, or its progress, or its result."""
    job = _job_or_404(job_id)
    background = _background(job)
    form = table = preview = None
    if job.status in ("uploaded", "failed") and not queue.is_active(background):
        sheet = request.args.get("blatt") or None
        try:
            table = importer.open_table(job, sheet=sheet)
        except ImportFileError as exc:
            flash(exc.message, "danger")
            if sheet is None:
                return redirect(url_for(".index"))
            return redirect(url_for(".job", job_id=job.id))
        except importer.ImportRefused as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".index"))
    if table is not None:
        with table:
            try:
                preview = _preview(table, job)
            except ImportFileError as exc:
                flash(exc.message, "danger")
                return redirect(url_for(".index"))
            form = _mapping_form(job, table)
            return _render_job(job, background=background, form=form, table=table, preview=preview)
    return _render_job(job, background=background)


def _background(job: ImportJob) -> BackgroundJob | None:
    return queue.latest_for(db.session, import_jobs.SUBJECT, job.id)


def _progress(job: ImportJob, background: BackgroundJob | None) -> dict[str, Any]:
    """Progress of the job's dry run or run, read from its row in the job queue."""
    active = queue.is_active(background)
    total = job.row_count
    processed = 0
    message = ""
    if background is not None:
        total = background.progress_total or total
        processed = min(background.progress_done, total) if total else 0
        message = background.progress_message
    if job.status == "done" and not active:
        processed = total
    return {
        "active": active,
        "queued": active and background is not None and background.status == "queued",
        "dry_run": background is not None and background.kind == import_jobs.DRY_RUN,
        "processed": processed,
        "total": total,
        "percent": round(100 * processed / total) if total else 100,
        "message": message,
        # A dry run whose worker raised (a run's failure is the import's own message).
        "crashed": background is not None
        and background.status == "failed"
        and background.kind == import_jobs.DRY_RUN,
    }


def _preview(table: Table, job: ImportJob) -> list[Any]:
    """The first rows; another sheet's rows are counted first, so a limit raises here."""
    if (table.sheet or "") != job.sheet:
        table.row_count  # noqa: B018 - cached for the page
    return table.preview(PREVIEW_ROWS)


def _render_job(
    job: ImportJob,
    status: int = 200,
    background: BackgroundJob | None = None,
    **context: Any,
) -> tuple[str, int]:
    report = job.report or {}
    rows = [
        (line, outcome, [importer.reason_text(code, params) for code, params in reasons])
        for line, outcome, reasons in report.get("rows", [])
    ]
    return render_template(
        "contacts/import_job.html",
        job=job,
        report=report,
        report_rows=rows,
        progress=_progress(job, background),
        undo_form=UndoForm(),
        status_labels=STATUS_LABELS,
        outcome_labels=OUTCOME_LABELS,
        policy_labels=POLICY_LABELS,
        field_labels=importer.field_labels(),
        preview_chars=PREVIEW_CHARS,
        **context,
    ), status


@bp.route("/<int:job_id>", methods=["POST"])
@require("contacts.import")
def start(job_id: int):
    """Save the mapping, then run a dry run or the import itself."""
    job = _job_or_404(job_id)
    if job.status not in ("uploaded", "failed"):
        flash(_("This import has already run."), "warning")
        return redirect(url_for(".job", job_id=job.id))
    if queue.is_active(_background(job)):
        flash(_("A dry run of this import is waiting or running; please wait for it."), "warning")
        return redirect(url_for(".job", job_id=job.id))
    # The workbook is opened (and another sheet's rows counted) in a read transaction, so
    # that SQLite's write lock is not held meanwhile.
    with importer.reading(db.session):
        try:
            table = importer.open_table(job, sheet=request.form.get("sheet") or None)
        except (ImportFileError, importer.ImportRefused) as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".job", job_id=job_id))
        with table:
            try:
                preview = _preview(table, job)
            except ImportFileError as exc:
                flash(exc.message, "danger")
                return redirect(url_for(".job", job_id=job_id))
            form = _mapping_form(job, table)
            if not form.validate_on_submit():
                return _render_job(job, 400, form=form, table=table, preview=preview)
    importer.configure_job(db.session, job, table, mapping=form.mapping(), policy=form.policy.data)
    dry_run = not form.run.data
    if not dry_run:
        try:
            importer.claim_job(db.session, job)
        except importer.ImportRefused as exc:
            db.session.rollback()
            flash(exc.message, "warning")
            return redirect(url_for(".job", job_id=job.id))
    # The mapping, the claim and the queued job in one commit: a worker sees all or none.
    import_jobs.enqueue(
        db.session, job, dry_run=dry_run, actor=_actor(), locale=str(get_locale() or "de")
    )
    db.session.commit()
    if dry_run:
        flash(_("The dry run has started: nothing will be changed."), "info")
    else:
        flash(_("The import has started."), "info")
    return redirect(url_for(".job", job_id=job.id))


@bp.route("/<int:job_id>/status")
@fragment
@require("contacts.import")
def status(job_id: int):
    """The progress bar partial polled by htmx while a job runs."""
    job = _job_or_404(job_id)
    progress = _progress(job, _background(job))
    response = Response(
        render_template(
            "contacts/import_status.html",
            job=job,
            progress=progress,
            status_labels=STATUS_LABELS,
        )
    )
    if not progress["active"] and request.headers.get("HX-Request"):
        # Finished: reload the job page so it shows the result instead of the progress bar.
        response.headers["HX-Refresh"] = "true"
    return response


@bp.route("/<int:job_id>/abgelehnt.csv")
@require("contacts.import")
@writes_on_get
def rejected(job_id: int):
    """The rejected rows with their original columns and the reason, as CSV for Excel."""
    job = _job_or_404(job_id)
    try:
        with importer.reading(db.session):
            headers, rows = importer.rejected_rows(job)
    except (ImportFileError, importer.ImportRefused) as exc:
        flash(exc.message, "danger")
        return redirect(url_for(".job", job_id=job_id))
    record(
        db.session,
        "export",
        entity_type="import_job",
        entity_id=job.id,
        summary=f"Abgelehnte Zeilen von Import #{job.id}",
    )
    db.session.commit()
    name = f"import-{job.id}-abgelehnt.csv"
    return Response(
        # With the request context: the reasons are translated while the rows are streamed.
        stream_with_context(iter_csv(headers, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/<int:job_id>/rueckgaengig", methods=["POST"])
@require("contacts.import")
def undo(job_id: int):
    """Undo a completed import as a whole."""
    job = _job_or_404(job_id)
    form = UndoForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        importer.undo_import(db.session, job, user_id=current_user.id)
        # The upload goes with the undo: nothing of the file is kept once its records are gone.
        importer.remove_files(db.session, job)
        db.session.commit()
    except importer.ImportRefused as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for(".job", job_id=job_id))
    flash(_("The import has been undone."), "success")
    return redirect(url_for(".job", job_id=job_id))
