"""Inquiry pages: the public form (/anfrage), the staff queue (/anfragen) with the hotline
capture and the detail page, and the settings under Verwaltung → Anfragen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from crm import public_forms
from crm.accounts.models import Office, User
from crm.audit.service import Actor, acting_as
from crm.database import db_int, utcnow
from crm.extensions import csrf, db
from crm.intake import service
from crm.intake.forms import check_close, check_inquiry
from crm.intake.models import TOPICS, Inquiry, IntakeRule
from crm.intake.texts import (
    CHANNEL_LABELS,
    CLOSE_REASON_LABELS,
    CONSENT_VERSION,
    CONTACT_WAY_LABELS,
    FILTER_LABELS,
    FORM_LANGUAGE_LABELS,
    KIND_LABELS,
    LANGUAGE_LABELS,
    SIMPLE_TEXTS,
    STATUS_LABELS,
    TOPIC_LABELS,
    standard_texts,
)
from crm.offices.service import active_offices
from crm.security import embeddable, has_permission, public, require

bp = Blueprint("intake", __name__)
PER_PAGE = 50
FORM_SALT = "intake-form"
# ?sprache= values of the public form and the text set each selects.
FORM_LANGUAGES = {"de": "de", "en": "en", "leicht": "simple"}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "INTAKE_KIND_LABELS": KIND_LABELS,
        "INTAKE_TOPIC_LABELS": TOPIC_LABELS,
        "INTAKE_LANGUAGE_LABELS": LANGUAGE_LABELS,
        "INTAKE_CONTACT_WAY_LABELS": CONTACT_WAY_LABELS,
        "INTAKE_CHANNEL_LABELS": CHANNEL_LABELS,
        "INTAKE_STATUS_LABELS": STATUS_LABELS,
        "INTAKE_CLOSE_REASON_LABELS": CLOSE_REASON_LABELS,
        "INTAKE_FILTER_LABELS": FILTER_LABELS,
        "INTAKE_FORM_LANGUAGE_LABELS": FORM_LANGUAGE_LABELS,
        "office_options": lambda offices: [(o.id, o.name) for o in offices],
    }


def _config_int(name: str, default: int) -> int:
    value = db_int(current_app.config.get(name, default))
    return value if value is not None and value >= 0 else default


def _limit() -> service.Limit:
    return service.Limit(
        window=timedelta(minutes=_config_int("CRM_INTAKE_WINDOW_MINUTES", 60)),
        max_per_ip=_config_int("CRM_INTAKE_MAX_PER_IP", 5),
    )


def _ack() -> service.AckSettings:
    return service.AckSettings(sender=str(current_app.config["CRM_MAIL_FROM"]))


def _form_token() -> str:
    return public_forms.form_token(str(current_app.secret_key or ""), FORM_SALT, "inquiry")


def _page() -> int:
    number = db_int(request.args.get("seite", "1"))
    return number if number is not None and number > 0 else 1


# --- public form ----------------------------------------------------------------------------------


def _public_offices() -> list[Office]:
    return active_offices(db.session)


def _preselected_office(offices: list[Office]) -> str:
    wanted = (request.args.get("stelle") or "").strip()
    for office in offices:
        if wanted and wanted in (str(office.id), office.name):
            return str(office.id)
    return str(offices[0].id) if len(offices) == 1 else ""


def _public_page(template: str, lang: str, status: int = 200, **context: Any) -> Any:
    texts = SIMPLE_TEXTS if lang == "simple" else None
    with force_locale("en" if lang == "en" else "de"):
        body = render_template(
            template,
            T=texts or standard_texts(),
            lang=lang,
            lang_param=next(k for k, v in FORM_LANGUAGES.items() if v == lang),
            **context,
        )
    return body, status


def _public_error(lang: str, status: int, title: str, message: str) -> Any:
    return _public_page("intake/public_message.html", lang, status, title=title, message=message)


@bp.route("/anfrage", methods=["GET", "POST"])
@public
@embeddable
@csrf.exempt
def public_form():
    """The public inquiry form, for a plain link and for a frame on an office's website.

    Not Flask-WTF's CSRF token: that one lives in the session, whose SameSite cookie a
    browser does not send to a page framed by another site, so every embedded visitor would
    fail. A signed, dated form token takes its place; there is no session to abuse, and a
    bot posting blind without fetching the form is refused. Honeypot and a per-address limit
    counted in the database apply to every post.
    """
    lang = FORM_LANGUAGES.get(request.args.get("sprache", ""), "de")
    simple = lang == "simple"
    offices = _public_offices()
    office_ids = [o.id for o in offices]
    topic = request.args.get("thema", "")
    values: dict[str, str] = {
        "kind": "person",
        "topic": topic if topic in TOPICS else "",
        "office": _preselected_office(offices),
        "preferred_language": "en" if lang == "en" else "de",
        "contact_way": "email",
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        now = utcnow()
        ip_hash = service.hash_ip(str(current_app.secret_key or ""), request.remote_addr or "")
        if service.throttled(db.session, ip_hash, _limit(), now):
            db.session.rollback()
            with force_locale("en" if lang == "en" else "de"):
                return _public_error(
                    lang,
                    429,
                    _("Too many inquiries"),
                    _("Too many inquiries came from your network. Please try again later."),
                )
        service.record_attempt(db.session, ip_hash, now)
        if not public_forms.form_token_valid(
            str(current_app.secret_key or ""), FORM_SALT, request.form.get("form_token", "")
        ):
            db.session.commit()  # keep the counted attempt
            with force_locale("en" if lang == "en" else "de"):
                return _public_error(
                    lang,
                    400,
                    _("The form has expired"),
                    _("Please open the form again and send your inquiry once more."),
                )
        if request.form.get("website"):
            # A bot filled the honeypot: the same answer as for a real inquiry, nothing stored.
            db.session.commit()
            return _public_page("intake/public_done.html", lang)
        with force_locale("en" if lang == "en" else "de"):
            checked = check_inquiry(request.form, office_ids=office_ids, simple=simple)
            texts = SIMPLE_TEXTS if simple else standard_texts()
            consent_text = str(texts["consent"])
        if checked.data is not None:
            # The audit log would keep the sender's address; the inquiry keeps only its hash.
            with acting_as(Actor(None, "public-inquiry-form", "")):
                _create_public(checked.data, now, consent_text, lang, ip_hash)
            return _public_page("intake/public_done.html", lang)
        db.session.commit()  # keep the counted attempt
        values, errors = checked.values, checked.errors
    return _public_page(
        "intake/public_form.html",
        lang,
        offices=offices,
        values=values,
        errors=errors,
        form_token=_form_token(),
        query={k: request.args[k] for k in ("stelle", "thema") if request.args.get(k)},
    )


def _create_public(
    data: service.InquiryData, now: Any, consent_text: str, lang: str, ip_hash: str
) -> None:
    service.create_inquiry(
        db.session,
        data,
        channel="web",
        now=now,
        consent_text=consent_text,
        consent_version=CONSENT_VERSION,
        response_days=_config_int("CRM_INTAKE_RESPONSE_DAYS", 2),
        form_language=lang,
        ip_hash=ip_hash,
        ack=_ack(),
    )
    db.session.commit()


# --- staff pages ----------------------------------------------------------------------------------


def _inquiry_or_404(inquiry_id: int) -> Inquiry:
    inquiry = db.session.get(Inquiry, inquiry_id)
    if inquiry is None or not service.can_see(current_user, inquiry):
        # Another office's inquiry looks the same as a missing one.
        abort(404)
    return inquiry


@bp.route("/anfragen/")
@require("intake.view")
def index():
    wanted = request.args.get("ansicht", "open")
    if wanted not in service.FILTERS:
        wanted = "open"
    page = _page()
    now = utcnow()
    rows, total = service.queue_page(
        db.session, current_user, wanted, now, page=page, per_page=PER_PAGE
    )
    return render_template(
        "intake/index.html",
        rows=rows,
        total=total,
        page=page,
        per_page=PER_PAGE,
        wanted=wanted,
        filters=service.FILTERS,
        now=now,
        can_capture=has_permission(current_user, "intake.edit"),
    )


@bp.route("/anfragen/neu", methods=["GET", "POST"])
@require("intake.edit")
def new():
    """The hotline quick-capture: one short form, keyboard first."""
    offices = active_offices(db.session)
    office_ids = [o.id for o in offices]
    home = current_user.office_id if current_user.office_id in office_ids else None
    values: dict[str, str] = {
        "kind": "person",
        "topic": "",
        "office": str(home or (offices[0].id if len(offices) == 1 else "")),
        "preferred_language": "de",
        "contact_way": "phone",
        "channel": "hotline",
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        checked = check_inquiry(request.form, office_ids=office_ids)
        channel = request.form.get("channel", "")
        if channel not in ("hotline", "email", "other"):
            checked.errors["channel"] = _("Please choose one of the options.")
        if checked.data is not None and not checked.errors:
            inquiry = service.create_inquiry(
                db.session,
                checked.data,
                channel=channel,
                now=utcnow(),
                consent_text=str(standard_texts()["consent"]),
                consent_version=CONSENT_VERSION,
                response_days=_config_int("CRM_INTAKE_RESPONSE_DAYS", 2),
                form_language="en" if checked.data.preferred_language == "en" else "de",
                created_by=current_user._get_current_object(),
                ack=_ack(),
            )
            db.session.commit()
            who = inquiry.assigned_to.display_name if inquiry.assigned_to else _("nobody")
            flash(_("Inquiry recorded and assigned to %(name)s.", name=who), "success")
            return redirect(url_for("intake.detail", inquiry_id=inquiry.id))
        values = dict(checked.values, channel=channel)
        errors = checked.errors
    return render_template(
        "intake/new.html",
        offices=offices,
        values=values,
        errors=errors,
        T=standard_texts(),
    )


@bp.route("/anfragen/<int:inquiry_id>")
@require("intake.view")
def detail(inquiry_id: int):
    inquiry = _inquiry_or_404(inquiry_id)
    manage = has_permission(current_user, "intake.manage")
    return render_template(
        "intake/detail.html",
        inquiry=inquiry,
        now=utcnow(),
        can_edit=has_permission(current_user, "intake.edit"),
        can_manage=manage,
        users=service.assignable_users(db.session) if manage else [],
    )


def _act(inquiry_id: int, action: Any, done: str) -> Any:
    inquiry = _inquiry_or_404(inquiry_id)
    try:
        action(inquiry)
    except service.IntakeError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("intake.detail", inquiry_id=inquiry_id))


@bp.post("/anfragen/<int:inquiry_id>/kontakt")
@require("intake.edit")
def in_contact(inquiry_id: int):
    return _act(
        inquiry_id,
        lambda i: service.mark_in_contact(i, utcnow()),
        _("Marked as in contact."),
    )


@bp.post("/anfragen/<int:inquiry_id>/schliessen")
@require("intake.edit")
def close(inquiry_id: int):
    reason, note, problem = check_close(request.form)
    if problem:
        _inquiry_or_404(inquiry_id)
        flash(problem, "danger")
        return redirect(url_for("intake.detail", inquiry_id=inquiry_id))
    return _act(
        inquiry_id, lambda i: service.close(i, reason, note, utcnow()), _("Inquiry closed.")
    )


@bp.post("/anfragen/<int:inquiry_id>/zuweisen")
@require("intake.manage")
def reassign(inquiry_id: int):
    user_id = db_int(request.form.get("user", ""))
    user = db.session.get(User, user_id) if user_id else None
    if user is None:
        _inquiry_or_404(inquiry_id)
        flash(_("Please choose a person."), "danger")
        return redirect(url_for("intake.detail", inquiry_id=inquiry_id))
    return _act(
        inquiry_id,
        lambda i: service.reassign(i, user, utcnow()),
        _("Inquiry assigned to %(name)s.", name=user.display_name),
    )


# --- settings (Verwaltung → Anfragen) -------------------------------------------------------------


@bp.route("/verwaltung/anfragen")
@require("intake.configure")
def settings():
    offices = active_offices(db.session)
    link = url_for("intake.public_form", _external=True)
    return render_template(
        "intake/settings.html",
        rules=service.rules(db.session),
        offices=offices,
        link=link,
        base_url=current_app.config.get("CRM_BASE_URL", ""),
        frame_ancestors=current_app.config.get("CRM_INTAKE_FRAME_ANCESTORS", ""),
        response_days=_config_int("CRM_INTAKE_RESPONSE_DAYS", 2),
    )


def _rule_form(rule: IntakeRule | None) -> Any:
    offices = active_offices(db.session)
    users = service.assignable_users(db.session)
    values = {
        "office": str(rule.office_id) if rule else "",
        "topic": rule.topic if rule else "",
        "users": [str(u.id) for u in rule.users] if rule else [],
    }
    error = None
    if request.method == "POST":
        office_id = db_int(request.form.get("office", ""))
        topic = request.form.get("topic", "")
        user_ids = [n for n in (db_int(v) for v in request.form.getlist("users")) if n]
        values = {
            "office": request.form.get("office", ""),
            "topic": topic,
            "users": [str(n) for n in user_ids],
        }
        if office_id not in [o.id for o in offices] or (topic and topic not in TOPICS):
            error = _("Please choose an office and a topic.")
        else:
            assert office_id is not None
            try:
                service.save_rule(
                    db.session, rule, office_id=office_id, topic=topic, user_ids=user_ids
                )
            except service.IntakeError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                db.session.commit()
                flash(_("Assignment rule saved."), "success")
                return redirect(url_for("intake.settings"))
    return render_template(
        "intake/rule_form.html", rule=rule, offices=offices, users=users, values=values, error=error
    )


@bp.route("/verwaltung/anfragen/regeln/neu", methods=["GET", "POST"])
@require("intake.configure")
def rule_new():
    return _rule_form(None)


@bp.route("/verwaltung/anfragen/regeln/<int:rule_id>", methods=["GET", "POST"])
@require("intake.configure")
def rule_edit(rule_id: int):
    rule = db.session.get(IntakeRule, rule_id) or abort(404)
    return _rule_form(rule)


@bp.post("/verwaltung/anfragen/regeln/<int:rule_id>/loeschen")
@require("intake.configure")
def rule_delete(rule_id: int):
    rule = db.session.get(IntakeRule, rule_id) or abort(404)
    db.session.delete(rule)
    db.session.commit()
    flash(_("Assignment rule deleted."), "success")
    return redirect(url_for("intake.settings"))
