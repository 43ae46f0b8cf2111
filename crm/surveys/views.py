"""Needs survey pages under /bedarfsanalysen: the survey list and builder, rounds with their
invitations and reminders, the results with chart and XLSX (staff with contacts.edit), and
the public answer page behind each organisation's personal link (no login)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from crm import public_forms
from crm.audit.service import Actor, acting_as, current_actor
from crm.contacts.export import write_xlsx
from crm.contacts.forms import QUALIFICATION_LEVEL_LABELS, SIZE_CLASS_LABELS
from crm.contacts.kinds import active_kinds, kind_labels
from crm.contacts.models import SIZE_CLASSES, ContactList, Organisation, Person
from crm.contacts.service import distinct_regions
from crm.database import db_int, utcnow
from crm.extensions import db
from crm.jobs import queue
from crm.jobs.models import BackgroundJob
from crm.newsletters.audiences import ORGANISATION_FILTER_KEYS
from crm.security import fragment, public, require
from crm.surveys import sending, service
from crm.surveys.models import (
    QUESTION_KINDS,
    Survey,
    SurveyAttempt,
    SurveyRecipient,
    SurveyResponse,
    SurveyRound,
    SurveyUnreached,
    SurveyVersion,
)

bp = Blueprint("surveys", __name__, url_prefix="/bedarfsanalysen")
BERLIN = ZoneInfo("Europe/Berlin")
PERMISSION = "contacts.edit"
LANGUAGES = ("de", "en")

KIND_LABELS = {
    "single": _l("Single choice"),
    "multiple": _l("Multiple choice"),
    "number": _l("Number"),
    "text": _l("Free text"),
    "yesno": _l("Yes/no"),
    "needs": _l("Needs matrix (occupation × number × time frame × qualification level)"),
    "section": _l("Section (heading and introduction, no answer)"),
}
TIME_FRAME_LABELS = {
    "now": _l("Immediately"),
    "6m": _l("Within 6 months"),
    "12m": _l("Within 12 months"),
    "later": _l("Later"),
}
STATUS_LABELS = {"draft": _l("Not sent"), "sent": _l("Sent"), "closed": _l("Closed")}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "KIND_LABELS": KIND_LABELS,
        "TIME_FRAME_LABELS": TIME_FRAME_LABELS,
        "ROUND_STATUS_LABELS": STATUS_LABELS,
        "NEEDS_ROWS": service.NEEDS_ROWS,
        "QUALIFICATION_LEVEL_LABELS": QUALIFICATION_LEVEL_LABELS,
        "answer_groups": service.answer_groups,
    }


def today() -> date:
    """Today in Europe/Berlin."""
    return utcnow().astimezone(BERLIN).date()


def _secret() -> str:
    return str(current_app.secret_key or "")


def _survey_or_404(survey_id: int) -> Survey:
    return db.session.get(Survey, survey_id) or abort(404)


def _round_or_404(round_id: int) -> SurveyRound:
    return db.session.get(SurveyRound, round_id) or abort(404)


def _base_url() -> str:
    if current_app.config.get("CRM_ENV") == "development":
        return request.host_url.rstrip("/")
    return str(current_app.config["CRM_BASE_URL"]).rstrip("/")


# --- surveys and the builder ---------------------------------------------------------------------


@bp.route("/")
@require(PERMISSION)
def index():
    """The surveys with their rounds."""
    surveys = db.session.scalars(sa.select(Survey).order_by(Survey.created_at.desc())).all()
    rounds = db.session.scalars(sa.select(SurveyRound).order_by(SurveyRound.closes_on.desc())).all()
    by_survey: dict[int, list[SurveyRound]] = {}
    for r in rounds:
        by_survey.setdefault(r.survey_id, []).append(r)
    return render_template("surveys/index.html", surveys=surveys, rounds=by_survey)


@bp.route("/neu", methods=["POST"])
@require(PERMISSION)
def create():
    """Create a survey from a title."""
    title = request.form.get("title", "").strip()[:200]
    if not title:
        flash(_("Please enter a title."), "danger")
        return redirect(url_for("surveys.index"))
    survey = Survey(title=title, intro_de="", intro_en="", questions=[])
    db.session.add(survey)
    db.session.commit()
    flash(_("The needs survey has been created. Add its questions next."), "success")
    return redirect(url_for("surveys.builder", survey_id=survey.id))


def _render_builder(survey: Survey, values: dict[str, str] | None = None, errors=None, status=200):
    versions = db.session.scalars(
        sa.select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    ).all()
    return (
        render_template(
            "surveys/builder.html",
            survey=survey,
            kinds=QUESTION_KINDS,
            values=values or {},
            errors=errors or {},
            versions=versions,
        ),
        status,
    )


@bp.route("/<int:survey_id>")
@require(PERMISSION)
def builder(survey_id: int):
    """The builder: heading texts, questions (edit, move, delete, add), new round."""
    return _render_builder(_survey_or_404(survey_id))


@bp.route("/<int:survey_id>/kopf", methods=["POST"])
@require(PERMISSION)
def update_head(survey_id: int):
    """Save title and introductions."""
    survey = _survey_or_404(survey_id)
    title = request.form.get("title", "").strip()[:200]
    if not title:
        flash(_("Please enter a title."), "danger")
        return _render_builder(survey, status=422)
    survey.title = title
    survey.intro_de = request.form.get("intro_de", "")[:5000]
    survey.intro_en = request.form.get("intro_en", "")[:5000]
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("surveys.builder", survey_id=survey.id))


@bp.route("/<int:survey_id>/fragen", methods=["POST"])
@require(PERMISSION)
def add_question(survey_id: int):
    """Add a question at the end."""
    survey = _survey_or_404(survey_id)
    question, errors = service.check_question(request.form)
    if errors:
        return _render_builder(
            survey,
            values=request.form.to_dict(),
            errors={k: str(v) for k, v in errors.items()},
            status=422,
        )
    service.add_question(survey, question)
    db.session.commit()
    flash(_("Question added."), "success")
    return redirect(url_for("surveys.builder", survey_id=survey.id, _anchor="fragen"))


@bp.route("/<int:survey_id>/fragen/<key>", methods=["GET", "POST"])
@require(PERMISSION)
def edit_question(survey_id: int, key: str):
    """Edit one question of the working copy."""
    survey = _survey_or_404(survey_id)
    question = service.find_question(survey, key) or abort(404)
    values: dict[str, Any] = {
        **question,
        "options_de": "\n".join(question.get("options_de", [])),
        "options_en": "\n".join(question.get("options_en", [])),
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        checked, raw_errors = service.check_question(request.form)
        if not raw_errors:
            service.update_question(survey, key, checked)
            db.session.commit()
            flash(_("Question saved."), "success")
            return redirect(url_for("surveys.builder", survey_id=survey.id, _anchor="fragen"))
        values = request.form.to_dict()
        errors = {k: str(v) for k, v in raw_errors.items()}
    return (
        render_template(
            "surveys/question.html",
            survey=survey,
            key=key,
            values=values,
            errors=errors,
            kinds=QUESTION_KINDS,
        ),
        422 if errors else 200,
    )


@bp.route("/<int:survey_id>/fragen/<key>/verschieben", methods=["POST"])
@require(PERMISSION)
def move_question(survey_id: int, key: str):
    """Move a question one place up or down."""
    survey = _survey_or_404(survey_id)
    service.move_question(survey, key, -1 if request.form.get("direction") == "up" else 1)
    db.session.commit()
    return redirect(url_for("surveys.builder", survey_id=survey.id, _anchor="fragen"))


@bp.route("/<int:survey_id>/fragen/<key>/loeschen", methods=["POST"])
@require(PERMISSION)
def delete_question(survey_id: int, key: str):
    """Delete a question from the working copy (sent versions keep theirs)."""
    survey = _survey_or_404(survey_id)
    service.delete_question(survey, key)
    db.session.commit()
    flash(_("Question deleted."), "success")
    return redirect(url_for("surveys.builder", survey_id=survey.id, _anchor="fragen"))


# --- rounds --------------------------------------------------------------------------------------


def _parse_date(text: str) -> date | None:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _round_choices() -> dict[str, Any]:
    return {
        "lists": db.session.scalars(sa.select(ContactList).order_by(ContactList.name)).all(),
        "kinds": [(k.key, k.label) for k in active_kinds(db.session)],
        "sectors": service.sector_choices(db.session),
        "regions": distinct_regions(db.session),
        "sizes": [(key, SIZE_CLASS_LABELS[key]) for key in SIZE_CLASSES],
    }


def _audience_input(form: Any) -> dict[str, list[str]]:
    return {key: form.getlist(key) for key in ORGANISATION_FILTER_KEYS}


def _preview_key(source: str, list_id: int | None, audience: dict[str, list[str]] | None) -> str:
    """A fingerprint of the recipients' choice, so that a round is created only for the
    choice whose number staff saw."""
    text = json.dumps([source, list_id, audience], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _render_round_form(
    survey: Survey,
    *,
    values: Any = None,
    errors: dict[str, str] | None = None,
    reach: service.Reach | None = None,
    preview_key: str = "",
    status: int = 200,
):
    form = values if values is not None else request.form
    return (
        render_template(
            "surveys/round_form.html",
            survey=survey,
            values=form,
            chosen=_audience_input(form),
            errors=errors or {},
            reach=reach,
            preview_key=preview_key,
            **_round_choices(),
        ),
        status,
    )


@bp.route("/<int:survey_id>/runden/neu")
@require(PERMISSION)
def new_round(survey_id: int):
    """The form of a new round: name, closing date, recipients by contact list or audience."""
    survey = _survey_or_404(survey_id)
    return _render_round_form(survey, values=MultiDict({"source": "audience"}))


@bp.route("/<int:survey_id>/runden", methods=["POST"])
@require(PERMISSION)
def create_round(survey_id: int):
    """Count the recipients of the chosen contact list or audience ("Vorschau"), or create
    the round of the survey's current questions for them."""
    survey = _survey_or_404(survey_id)
    form = request.form
    name = form.get("name", "").strip()[:200]
    closes_on = _parse_date(form.get("closes_on", ""))
    source = "audience" if form.get("source") == "audience" else "list"
    errors: dict[str, str] = {}
    list_id: int | None = None
    audience: dict[str, list[str]] | None = None
    if source == "list":
        list_id = db_int(form.get("contact_list_id", ""))
        if list_id is None or db.session.get(ContactList, list_id) is None:
            errors["contact_list_id"] = _("Please choose a contact list.")
    else:
        try:
            audience = service.clean_audience(_audience_input(form), kinds=kind_labels(db.session))
        except service.SurveyError as exc:
            errors["audience"] = str(exc)
    key = _preview_key(source, list_id, audience)
    reach = None
    if not errors:
        reach = service.reach(db.session, today(), contact_list_id=list_id, audience=audience)
    previewing = form.get("action") == "preview"
    stale = form.get("preview_key") and form.get("preview_key") != key
    if not previewing and stale and not errors:
        # The choice changed after the count was shown: show the new count first.
        flash(_("The choice of recipients has changed: please check the new number."), "warning")
        previewing = True
    if not previewing:
        if not name:
            errors["name"] = _("Please name the round.")
        if closes_on is None:
            errors["closes_on"] = _("Please enter the closing date as DD.MM.YYYY.")
    if errors or previewing:
        return _render_round_form(
            survey,
            errors=errors,
            reach=reach,
            preview_key=key if reach is not None else "",
            status=422 if errors else 200,
        )
    assert closes_on is not None
    try:
        survey_round = service.create_round(
            db.session,
            survey,
            name=name,
            closes_on=closes_on,
            contact_list_id=list_id,
            audience=audience,
            secret=_secret(),
            today=today(),
        )
    except service.SurveyError as exc:
        db.session.rollback()
        return _render_round_form(
            survey, errors={"round": str(exc)}, reach=reach, preview_key=key, status=422
        )
    db.session.commit()
    flash(_("Round created."), "success")
    return redirect(url_for("surveys.round_detail", round_id=survey_round.id))


UNREACHED_SHOWN = 500


@bp.route("/runden/<int:round_id>")
@require(PERMISSION)
def round_detail(round_id: int):
    """A round: its recipients and their state, the organisations without a reachable
    contact, the progress of a sending, invitations and reminders."""
    survey_round = _round_or_404(round_id)
    rows = db.session.execute(
        sa.select(SurveyRecipient, Organisation, Person)
        .join(Organisation, Organisation.id == SurveyRecipient.organisation_id)
        .outerjoin(Person, Person.id == SurveyRecipient.person_id)
        .where(SurveyRecipient.round_id == round_id)
        .order_by(Organisation.sort_name, Organisation.id)
    ).all()
    unreached_count = (
        db.session.scalar(
            sa.select(sa.func.count(SurveyUnreached.id)).where(SurveyUnreached.round_id == round_id)
        )
        or 0
    )
    unreached = db.session.scalars(
        sa.select(Organisation)
        .join(SurveyUnreached, SurveyUnreached.organisation_id == Organisation.id)
        .where(SurveyUnreached.round_id == round_id)
        .order_by(Organisation.sort_name, Organisation.id)
        .limit(UNREACHED_SHOWN)
    ).all()
    job = sending.latest_for(db.session, round_id)
    return render_template(
        "surveys/round.html",
        survey_round=survey_round,
        rows=rows,
        unreached=unreached,
        unreached_count=unreached_count,
        audience=_audience_labels(survey_round.audience_spec),
        results=service.results(db.session, survey_round),
        is_open=service.is_open(survey_round, today()),
        job=job,
        progress=_progress(job),
        sending=queue.is_active(job),
    )


def _audience_labels(spec: dict[str, list[str]] | None) -> list[tuple[str, str]]:
    """The round's audience as (criterion, values) for the page."""
    if not spec:
        return []
    kinds = kind_labels(db.session)
    sizes = {k: str(v) for k, v in SIZE_CLASS_LABELS.items()}
    names: dict[str, dict[str, str]] = {"org_kinds": kinds, "size_classes": sizes}
    labels = {
        "org_kinds": _("Kind"),
        "sectors": _("Sector"),
        "regions": _("Region"),
        "size_classes": _("Size"),
    }
    return [
        (label, ", ".join(names.get(key, {}).get(v, v) for v in spec[key]))
        for key, label in labels.items()
        if spec.get(key)
    ]


JOB_STATUS_LABELS = {
    "queued": _l("waiting for a worker"),
    "running": _l("running"),
    "done": _l("done"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}


def _progress(job: BackgroundJob | None) -> dict[str, Any]:
    """The sending's progress, read from its row in the job queue."""
    if job is None:
        return {}
    total = job.progress_total
    done = min(job.progress_done, total) if total else 0
    return {
        "active": queue.is_active(job),
        "reminder": bool((job.payload or {}).get("reminder")),
        "status": JOB_STATUS_LABELS.get(job.status, job.status),
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else 100,
        "queued": int((job.result or {}).get("queued", 0)),
        "finished": job.status == "done",
    }


@bp.route("/runden/<int:round_id>/versand")
@fragment
@require(PERMISSION)
def send_progress(round_id: int):
    """The progress partial of the round's sending, polled by htmx while the job runs."""
    survey_round = _round_or_404(round_id)
    job = sending.latest_for(db.session, round_id)
    if job is None:
        abort(404)
    progress = _progress(job)
    response = Response(
        render_template(
            "surveys/_send_progress.html", survey_round=survey_round, job=job, progress=progress
        )
    )
    if not progress["active"] and request.headers.get("HX-Request"):
        # Finished: reload the round page so its table shows who was mailed.
        response.headers["HX-Refresh"] = "true"
    return response


def _start_sending(round_id: int, *, reminder: bool):
    survey_round = _round_or_404(round_id)
    if not service.is_open(survey_round, today()):
        flash(_("The round is closed."), "danger")
    elif sending.running_for(db.session, round_id):
        flash(_("Mails of this round are already being sent; please wait for them."), "info")
    else:
        sending.enqueue(
            db.session,
            survey_round,
            reminder=reminder,
            base_url=_base_url(),
            actor=current_actor(),
            now=utcnow(),
        )
        db.session.commit()
        if reminder:
            flash(_("The reminders are being queued in the background."), "success")
        else:
            flash(_("The invitations are being queued in the background."), "success")
    return redirect(url_for("surveys.round_detail", round_id=round_id))


@bp.route("/runden/<int:round_id>/einladen", methods=["POST"])
@require(PERMISSION)
def send(round_id: int):
    """Queue the sending of the invitations of everyone not invited yet (a worker sends)."""
    return _start_sending(round_id, reminder=False)


@bp.route("/runden/<int:round_id>/erinnern", methods=["POST"])
@require(PERMISSION)
def send_reminders(round_id: int):
    """Queue one reminder to each invited organisation that has not answered (a worker
    sends)."""
    return _start_sending(round_id, reminder=True)


def _compared_round(survey_round: SurveyRound) -> tuple[SurveyRound | None, str, str]:
    """The round chosen for comparison (`?vergleich=`), the raw input and an error."""
    raw = request.args.get("vergleich", "").strip()[:20]
    if not raw:
        return None, "", ""
    other_id = db_int(raw)
    other = db.session.get(SurveyRound, other_id) if other_id is not None else None
    if other is None or other.id == survey_round.id:
        return None, raw, _("Please choose another round from the list.")
    return other, raw, ""


def _comparison_choices(survey_round: SurveyRound) -> list[tuple[str, list[SurveyRound]]]:
    """Other rounds to compare with, grouped by survey; this round's survey first."""
    rounds = db.session.execute(
        sa.select(SurveyRound, Survey.title)
        .join(Survey, Survey.id == SurveyRound.survey_id)
        .where(SurveyRound.id != survey_round.id)
        .order_by(
            (SurveyRound.survey_id != survey_round.survey_id),
            Survey.title,
            SurveyRound.closes_on.desc(),
            SurveyRound.id.desc(),
        )
    ).all()
    groups: dict[str, list[SurveyRound]] = {}
    for r, title in rounds:
        groups.setdefault(title, []).append(r)
    return list(groups.items())


def _previous_round(
    survey_round: SurveyRound, choices: list[tuple[str, list[SurveyRound]]]
) -> SurveyRound | None:
    """The latest other round of the same survey closing before this one (a one-click
    comparison)."""
    return next(
        (
            r
            for _title, rounds in choices
            for r in rounds
            if r.survey_id == survey_round.survey_id and r.closes_on <= survey_round.closes_on
        ),
        None,
    )


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(100 * rate, 1)


@bp.route("/runden/<int:round_id>/ergebnisse")
@require(PERMISSION)
def results(round_id: int):
    """Response rate and needs totalled, with a chart; optionally side by side with another
    round (`?vergleich=<round id>`)."""
    survey_round = _round_or_404(round_id)
    result = _round_results(survey_round)
    other, raw, error = _compared_round(survey_round)
    comparison = service.compare(result, _round_results(other)) if other else None
    choices = _comparison_choices(survey_round)
    if comparison is not None:
        rows = comparison.by_occupation[:20]
        chart = {
            "labels": [row.key for row in rows],
            "series": [
                {"label": survey_round.name, "data": [row.this for row in rows]},
                {"label": other.name if other else "", "data": [row.other for row in rows]},
            ],
        }
    else:
        chart = {
            "labels": [name for name, _n in result.by_occupation[:20]],
            "series": [
                {"label": _("People needed"), "data": [n for _name, n in result.by_occupation[:20]]}
            ],
        }
    return render_template(
        "surveys/results.html",
        survey_round=survey_round,
        result=result,
        chart=chart,
        other=other,
        comparison=comparison,
        compare_choices=choices,
        previous=_previous_round(survey_round, choices) if other is None else None,
        compare_input=raw,
        compare_error=error,
    ), (422 if error else 200)


def _round_results(survey_round: SurveyRound) -> service.Results:
    """A round's results with the qualification levels by name ("" = not said)."""
    result = service.results(db.session, survey_round)
    return dataclasses.replace(
        result,
        by_level=[
            (str(QUALIFICATION_LEVEL_LABELS.get(key, key)) if key else _("not said"), n)
            for key, n in result.by_level
        ],
    )


@bp.route("/runden/<int:round_id>/ergebnisse.xlsx")
@require(PERMISSION)
def results_xlsx(round_id: int):
    """The needs of the round's answers, totalled, as XLSX (formulas neutralised); with
    `?vergleich=` the compared round's numbers and the difference in two more columns."""
    survey_round = _round_or_404(round_id)
    result = _round_results(survey_round)
    other, _raw, error = _compared_round(survey_round)
    if error:
        abort(404)
    breakdowns = (
        (_("Occupation"), "by_occupation"),
        (_("Sector"), "by_sector"),
        (_("Region"), "by_region"),
        (_("Size"), "by_size"),
        (_("Qualification level"), "by_level"),
    )
    header = [_("Breakdown"), _("Value"), _("People needed")]
    rows: list[list[Any]] = [
        [_("Response rate"), "", f"{result.responded}/{result.recipients}"],
    ]
    if other is None:
        for label, attr in breakdowns:
            rows.extend([label, key or "–", n] for key, n in getattr(result, attr))
    else:
        comparison = service.compare(result, _round_results(other))
        header = [_("Breakdown"), _("Value"), survey_round.name, other.name, _("Difference")]
        rows[0] += [f"{comparison.other.responded}/{comparison.other.recipients}", ""]
        this_rate, other_rate = _percent(result.rate), _percent(comparison.other.rate)
        rate_diff = _percent(comparison.rate_difference)
        rows.append([_("Response rate (%)"), "", this_rate, other_rate, rate_diff])
        for label, attr in breakdowns:
            rows.extend(
                [label, row.key or "–", row.this, row.other, row.difference]
                for row in getattr(comparison, attr)
            )
    out = io.BytesIO()
    write_xlsx(header, rows, out, sheet_title="Bedarf")
    out.seek(0)
    suffix = f"-vergleich-{other.id}" if other is not None else ""
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"bedarfsanalyse-{round_id}{suffix}.xlsx",
    )


# --- answers taken on the phone ------------------------------------------------------------------


@bp.route("/runden/<int:round_id>/empfaenger/<int:recipient_id>/telefon", methods=["GET", "POST"])
@require(PERMISSION)
def phone_answer(round_id: int, recipient_id: int):
    """Staff enter the answers a firm gave on the phone: the same questions as its answer page,
    saved as the firm's final answer (its needs land on the organisation)."""
    survey_round = _round_or_404(round_id)
    recipient = db.session.get(SurveyRecipient, recipient_id)
    if recipient is None or recipient.round_id != survey_round.id:
        abort(404)
    person = db.session.get(Person, recipient.person_id) if recipient.person_id else None
    locale = get_locale()
    lang = locale.language if locale is not None and locale.language in LANGUAGES else "de"
    response = service.response_of(db.session, recipient)
    # A draft the firm saved through its link is where the call starts from.
    answers: dict[str, Any] = dict(response.answers) if response is not None else {}
    errors: dict[str, str] = {}
    refusal = ""
    status = 200
    if recipient.responded_at is not None or (response is not None and response.status == "final"):
        refusal = _("This organisation has already answered this survey.")
    elif not service.is_open(survey_round, today()):
        refusal = _("The round is closed.")
    elif request.method == "POST":
        parsed = service.parse_answers(survey_round.version.questions, request.form)
        answers = parsed.answers
        errors = {k: str(v) for k, v in parsed.errors.items()}
        if errors:
            status = 422
        else:
            try:
                service.enter_phone_answer(
                    db.session,
                    recipient,
                    answers,
                    user_id=current_user.id,
                    now=utcnow(),
                    today=today(),
                )
            except service.SurveyError as exc:
                db.session.rollback()
                refusal = str(exc)
            else:
                db.session.commit()
                flash(
                    _(
                        "The answers of %(name)s from the phone call have been saved; "
                        "the needs are on the organisation.",
                        name=recipient.organisation.name,
                    ),
                    "success",
                )
                return redirect(url_for("surveys.round_detail", round_id=survey_round.id))
    if refusal and request.method == "POST":
        status = 409
    return render_template(
        "surveys/phone.html",
        survey_round=survey_round,
        version=survey_round.version,
        recipient=recipient,
        organisation=recipient.organisation,
        person=person,
        answers=answers,
        errors=errors,
        refusal=refusal,
        lang=lang,
    ), status


# --- the public answer page ----------------------------------------------------------------------


def _language() -> str:
    wanted = request.args.get("sprache", "")
    return wanted if wanted in LANGUAGES else "de"


def _message(lang: str, status: int, title: str, text: str):
    with force_locale(lang):
        return render_template("_public_message.html", lang=lang, title=title, message=text), status


def _limit() -> public_forms.Limit:
    # The public forms' settings; a firm saving its draft a few times stays well inside.
    max_per_ip = db_int(current_app.config.get("CRM_INTAKE_MAX_PER_IP", 5)) or 5
    return public_forms.Limit(window=timedelta(hours=1), max_per_ip=max_per_ip * 6)


@bp.route("/antwort/<token>", methods=["GET", "POST"])
@public
def answer(token: str):
    """An organisation's answer page behind its personal link: resumable until the final
    submit, then locked; a forged link or a closed round gets a clear page."""
    lang = _language()
    recipient = service.recipient_for_token(db.session, _secret(), token[:500])
    if recipient is None:
        with force_locale(lang):
            return _message(
                lang,
                404,
                _("Link not valid"),
                _("This link is not valid. Please use the complete link from your e-mail."),
            )
    survey_round = recipient.round
    version = survey_round.version
    response = service.response_of(db.session, recipient)
    if response is not None and response.status == "final":
        with force_locale(lang):
            return _message(
                lang,
                409 if request.method == "POST" else 200,
                _("Thank you"),
                _("Your organisation has already answered this survey. Thank you!"),
            )
    if not service.is_open(survey_round, today()):
        with force_locale(lang):
            return _message(
                lang,
                410,
                _("Survey closed"),
                _(
                    "This survey closed on %(date)s.",
                    date=survey_round.closes_on.strftime("%d.%m.%Y"),
                ),
            )
    answers: dict[str, Any] = dict(response.answers) if response is not None else {}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        now = utcnow()
        ip_hash = public_forms.hash_ip(_secret(), request.remote_addr or "")
        if public_forms.throttled(db.session, SurveyAttempt, ip_hash, _limit(), now):
            db.session.rollback()
            # The page comes back with the answers just given: a firm whose colleagues share
            # one network does not lose a page of answers to the limit.
            with force_locale(lang):
                notice = (
                    _("Too many attempts"),
                    _(
                        "Too many answers came from your network in the last hour. Nothing "
                        "was saved yet; your answers are still in the form below: please save "
                        "them again in an hour."
                    ),
                )
            parsed_answers = service.parse_answers(version.questions, request.form).answers
            return _answer_page(
                lang, token, recipient, parsed_answers, {}, status=429, notice=notice
            )
        public_forms.record_attempt(db.session, SurveyAttempt, ip_hash, now)
        if request.form.get("website"):
            # A bot filled the honeypot: nothing stored.
            db.session.commit()
            with force_locale(lang):
                return _message(lang, 200, _("Thank you"), _("Your answers have been saved."))
        parsed = service.parse_answers(version.questions, request.form)
        answers = parsed.answers
        final = request.form.get("action") == "submit"
        if final and not parsed.errors and not service.has_any_answer(answers):
            # An empty submit (a tap on the wrong button) would lock the survey for the
            # organisation and count as answered: refuse it.
            parsed.errors["_empty"] = _l("Please answer at least one question before submitting.")
        if parsed.errors:
            db.session.commit()  # keep the counted attempt
            with force_locale(lang):
                errors = {k: str(v) for k, v in parsed.errors.items()}
            status = 422
        else:
            try:
                with acting_as(Actor(None, "public-survey", "")):
                    service.save_answers(
                        db.session, recipient, answers, final=final, now=now, today=today()
                    )
            except service.SurveyError as exc:
                db.session.rollback()
                with force_locale(lang):
                    return _message(lang, 409, _("Thank you"), str(exc))
            db.session.commit()
            with force_locale(lang):
                if final:
                    return _message(
                        lang, 200, _("Thank you"), _("Your answers have been submitted. Thank you!")
                    )
                flash(
                    _("Your answers have been saved. You can continue later with the same link."),
                    "success",
                )
            return redirect(url_for("surveys.answer", token=token, sprache=lang))
    return _answer_page(lang, token, recipient, answers, errors, status=status)


def _answer_page(
    lang: str,
    token: str,
    recipient: SurveyRecipient,
    answers: dict[str, Any],
    errors: dict[str, str],
    *,
    status: int = 200,
    notice: tuple[str, str] | None = None,
) -> Any:
    with force_locale(lang):
        return render_template(
            "surveys/answer.html",
            lang=lang,
            token=token,
            version=recipient.round.version,
            survey_round=recipient.round,
            organisation=recipient.organisation,
            answers=answers,
            errors=errors,
            notice=notice,
            SurveyResponse=SurveyResponse,
        ), status
