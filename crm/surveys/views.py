"""Needs survey pages under /bedarfsanalysen: the survey list and builder, rounds with their
invitations and reminders, the results with chart and XLSX (staff with contacts.edit), and
the public answer page behind each organisation's personal link (no login)."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import (
    Blueprint,
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

from crm import public_forms
from crm.audit.service import Actor, acting_as
from crm.contacts.export import write_xlsx
from crm.contacts.forms import QUALIFICATION_LEVEL_LABELS
from crm.contacts.models import ContactList, Organisation, Person
from crm.database import db_int, utcnow
from crm.extensions import db
from crm.security import public, require
from crm.surveys import service
from crm.surveys.models import (
    QUESTION_KINDS,
    Survey,
    SurveyAttempt,
    SurveyRecipient,
    SurveyResponse,
    SurveyRound,
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
    return redirect(url_for("surveys.builder", survey_id=survey.id))


def _render_builder(survey: Survey, values: dict[str, str] | None = None, errors=None, status=200):
    lists = db.session.scalars(sa.select(ContactList).order_by(ContactList.name)).all()
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
            lists=lists,
            versions=versions,
            round_values=request.form if request.form.get("round") else {},
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


@bp.route("/<int:survey_id>/runden", methods=["POST"])
@require(PERMISSION)
def create_round(survey_id: int):
    """Create a round of the survey's current questions for a static contact list."""
    survey = _survey_or_404(survey_id)
    name = request.form.get("name", "").strip()[:200]
    closes_on = _parse_date(request.form.get("closes_on", ""))
    list_id = db_int(request.form.get("contact_list_id", ""))
    problems = []
    if not name:
        problems.append(_("Please name the round."))
    if closes_on is None:
        problems.append(_("Please enter the closing date as DD.MM.YYYY."))
    if list_id is None or db.session.get(ContactList, list_id) is None:
        problems.append(_("Please choose a contact list."))
    if not problems and closes_on is not None and list_id is not None:
        try:
            survey_round = service.create_round(
                db.session,
                survey,
                name=name,
                closes_on=closes_on,
                contact_list_id=list_id,
                secret=_secret(),
                today=today(),
            )
        except service.SurveyError as exc:
            db.session.rollback()
            problems.append(str(exc))
        else:
            db.session.commit()
            flash(_("Round created."), "success")
            return redirect(url_for("surveys.round_detail", round_id=survey_round.id))
    for problem in problems:
        flash(problem, "danger")
    return _render_builder(survey, status=422)


@bp.route("/runden/<int:round_id>")
@require(PERMISSION)
def round_detail(round_id: int):
    """A round: its recipients and their state, invitations and reminders."""
    survey_round = _round_or_404(round_id)
    rows = db.session.execute(
        sa.select(SurveyRecipient, Organisation, Person)
        .join(Organisation, Organisation.id == SurveyRecipient.organisation_id)
        .outerjoin(Person, Person.id == SurveyRecipient.person_id)
        .where(SurveyRecipient.round_id == round_id)
        .order_by(Organisation.name)
    ).all()
    return render_template(
        "surveys/round.html",
        survey_round=survey_round,
        rows=rows,
        results=service.results(db.session, survey_round),
        is_open=service.is_open(survey_round, today()),
    )


def _render_mail(recipient: SurveyRecipient, person: Person | None, link: str, reminder: bool):
    survey_round = db.session.get(SurveyRound, recipient.round_id)
    assert survey_round is not None
    language = person.language if person is not None and person.language in LANGUAGES else "de"
    closes = survey_round.closes_on.strftime("%d.%m.%Y")
    with force_locale(language):
        if reminder:
            subject = _("Reminder: %(name)s", name=survey_round.name)
            ask = _(
                'we have not yet received your answers to our survey "%(name)s". We would be '
                "glad to hear from you.",
                name=survey_round.name,
            )
        else:
            subject = survey_round.name
            ask = _(
                'we kindly ask you to answer our survey "%(name)s". It takes a few minutes and '
                "helps us find the right people for your organisation.",
                name=survey_round.name,
            )
        greeting = _("Hello %(name)s,", name=person.full_name) if person else _("Hello,")
        text = "\n\n".join(
            [
                greeting,
                ask,
                _("Your personal link (you can save your answers and continue later):")
                + "\n"
                + link,
                _("The survey closes on %(date)s.", date=closes),
            ]
        )
    return subject, text


def _mail() -> service.MailSettings:
    base = _base_url()
    return service.MailSettings(
        sender=str(current_app.config["CRM_MAIL_FROM"]),
        secret=_secret(),
        link=lambda token, lang: base + url_for("surveys.answer", token=token, sprache=lang),
        render=_render_mail,
    )


@bp.route("/runden/<int:round_id>/einladen", methods=["POST"])
@require(PERMISSION)
def send(round_id: int):
    """Queue the invitations of everyone not invited yet."""
    survey_round = _round_or_404(round_id)
    try:
        n = service.send_invitations(db.session, survey_round, _mail(), now=utcnow(), today=today())
    except service.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("%(num)d invitations queued.", num=n), "success")
    return redirect(url_for("surveys.round_detail", round_id=round_id))


@bp.route("/runden/<int:round_id>/erinnern", methods=["POST"])
@require(PERMISSION)
def send_reminders(round_id: int):
    """Queue one reminder to each invited organisation that has not answered."""
    survey_round = _round_or_404(round_id)
    try:
        n = service.remind(db.session, survey_round, _mail(), now=utcnow(), today=today())
    except service.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("%(num)d reminders queued.", num=n), "success")
    return redirect(url_for("surveys.round_detail", round_id=round_id))


@bp.route("/runden/<int:round_id>/ergebnisse")
@require(PERMISSION)
def results(round_id: int):
    """Response rate and needs totalled, with a chart."""
    survey_round = _round_or_404(round_id)
    result = service.results(db.session, survey_round)
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
        by_level=_level_totals(survey_round),
    )


def _level_totals(survey_round: SurveyRound) -> list[tuple[str, int]]:
    """People needed by qualification level, with the levels' names ("" = not said)."""
    return [
        (str(QUALIFICATION_LEVEL_LABELS.get(key, key)) if key else _("not said"), n)
        for key, n in service.totals_by_qualification_level(db.session, survey_round)
    ]


@bp.route("/runden/<int:round_id>/ergebnisse.xlsx")
@require(PERMISSION)
def results_xlsx(round_id: int):
    """The needs of the round's answers, totalled, as XLSX (formulas neutralised)."""
    survey_round = _round_or_404(round_id)
    result = service.results(db.session, survey_round)
    rows: list[list[Any]] = [
        [_("Response rate"), "", f"{result.responded}/{result.recipients}"],
    ]
    for label, totals in (
        (_("Occupation"), result.by_occupation),
        (_("Sector"), result.by_sector),
        (_("Region"), result.by_region),
        (_("Size"), result.by_size),
        (_("Qualification level"), _level_totals(survey_round)),
    ):
        rows.extend([label, key or "–", n] for key, n in totals)
    out = io.BytesIO()
    write_xlsx([_("Breakdown"), _("Value"), _("People needed")], rows, out, sheet_title="Bedarf")
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"bedarfsanalyse-{round_id}.xlsx",
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
        return render_template(
            "surveys/public_message.html", lang=lang, title=title, message=text
        ), status


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
            with force_locale(lang):
                return _message(
                    lang, 429, _("Too many attempts"), _("Please try again in an hour.")
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
    with force_locale(lang):
        return render_template(
            "surveys/answer.html",
            lang=lang,
            token=token,
            version=version,
            survey_round=survey_round,
            organisation=recipient.organisation,
            answers=answers,
            errors=errors,
            SurveyResponse=SurveyResponse,
        ), status
