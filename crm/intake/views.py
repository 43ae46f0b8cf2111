"""Inquiry pages: the public form (/anfrage), the staff queue (/anfragen) with the hotline
capture, the detail page and its conversions, and the settings under Verwaltung → Anfragen."""

from __future__ import annotations

import io
from collections.abc import Callable
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
    send_file,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from crm import public_forms
from crm.accounts import absences
from crm.accounts.models import Office, User
from crm.audit.service import Actor, acting_as, record
from crm.contacts.export import write_xlsx
from crm.contacts.service import find_organisation_duplicates, picked_organisation
from crm.dashboard.weeks import local_date
from crm.database import db_int, utcnow
from crm.extensions import csrf, db
from crm.inputs import parse_date
from crm.intake import consent, conversion, reports, service
from crm.intake.forms import FirmConversionForm, check_close, check_inquiry
from crm.intake.models import TOPICS, Inquiry, IntakeRule
from crm.intake.texts import (
    CHANNEL_LABELS,
    CLOSE_REASON_LABELS,
    CONSENT_VERSION,
    CONTACT_WAY_LABELS,
    DUPLICATE_REASON_LABELS,
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
from crm.participants import service as participants
from crm.participants.forms import ParticipantForm
from crm.participants.views import form_data as participant_form_data
from crm.participants.views import prepare_form as prepare_participant_form
from crm.security import embeddable, has_permission, public, require, writes_on_get

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
        "INTAKE_DUPLICATE_REASON_LABELS": DUPLICATE_REASON_LABELS,
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


def _public_page(
    template: str,
    lang: str,
    status: int = 200,
    wording: consent.Wording | None = None,
    **context: Any,
) -> Any:
    with force_locale("en" if lang == "en" else "de"):
        texts = dict(SIMPLE_TEXTS if lang == "simple" else standard_texts())
        if wording is not None:
            # The privacy notice and consent sentence in force (admins may have edited them).
            texts.update(privacy=wording.privacy, consent=wording.consent)
        body = render_template(
            template,
            T=texts,
            consent_version=wording.version if wording else "",
            lang=lang,
            lang_param=next(k for k, v in FORM_LANGUAGES.items() if v == lang),
            **context,
        )
    return body, status


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
    status = 200
    notice: tuple[str, str] | None = None
    if request.method == "POST":
        now = utcnow()
        ip_hash = service.hash_ip(str(current_app.secret_key or ""), request.remote_addr or "")
        with force_locale("en" if lang == "en" else "de"):
            checked = check_inquiry(request.form, office_ids=office_ids, simple=simple)
        if service.throttled(db.session, ip_hash, _limit(), now):
            db.session.rollback()
            # The form comes back with everything typed in it: a long message written by
            # someone on a busy network is not lost to a limit they could not see coming.
            values, status = checked.values, 429
            with force_locale("en" if lang == "en" else "de"):
                notice = (
                    _("Too many inquiries"),
                    _(
                        "Too many inquiries came from your network. Your text is still in the "
                        "form below: please send it again later."
                    ),
                )
            return _public_form_page(lang, offices, values, errors, status, notice)
        service.record_attempt(db.session, ip_hash, now)
        if not public_forms.form_token_valid(
            str(current_app.secret_key or ""), FORM_SALT, request.form.get("form_token", "")
        ):
            db.session.commit()  # keep the counted attempt
            # Kept as typed, with a fresh form token: sending once more is enough.
            values, status = checked.values, 400
            with force_locale("en" if lang == "en" else "de"):
                notice = (
                    _("The form has expired"),
                    _(
                        "The form was open for too long. Your text is still in the form below: "
                        "please check it and send it once more."
                    ),
                )
            return _public_form_page(lang, offices, values, errors, status, notice)
        if request.form.get("website"):
            # A bot filled the honeypot: the same answer as for a real inquiry, nothing stored.
            db.session.commit()
            return _public_page("intake/public_done.html", lang)
        # The version the visitor was shown (a stored one, else the one in force): their
        # consent is recorded with exactly those words even if an admin edited them since.
        shown = consent.wording(db.session, lang, request.form.get("consent_version", ""))
        if checked.data is not None:
            # The audit log would keep the sender's address; the inquiry keeps only its hash.
            with acting_as(Actor(None, "public-inquiry-form", "")):
                _create_public(checked.data, now, shown, lang, ip_hash)
            return _public_page("intake/public_done.html", lang)
        # A form sent back with typing errors stored and mailed nothing, so it does not count
        # toward the network's limit: a class on one Wi-Fi correcting its entries would
        # otherwise be locked out. Expired tokens and the honeypot above still count.
        db.session.rollback()
        values, errors = checked.values, checked.errors
    return _public_form_page(lang, offices, values, errors, status, notice)


def _public_form_page(
    lang: str,
    offices: list[Office],
    values: dict[str, str],
    errors: dict[str, str],
    status: int,
    notice: tuple[str, str] | None,
) -> Any:
    return _public_page(
        "intake/public_form.html",
        lang,
        status,
        wording=consent.wording(db.session, lang),
        offices=offices,
        values=values,
        errors=errors,
        notice=notice,
        form_token=_form_token(),
        query={k: request.args[k] for k in ("stelle", "thema") if request.args.get(k)},
    )


def _create_public(
    data: service.InquiryData, now: Any, shown: consent.Wording, lang: str, ip_hash: str
) -> None:
    service.create_inquiry(
        db.session,
        data,
        channel="web",
        now=now,
        consent_text=shown.consent,
        consent_version=shown.version,
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
        if "consent" in checked.errors:
            # The public form's wording asks the visitor; here it is the caller's consent the
            # staff member confirms.
            checked.errors["consent"] = _(
                "Please confirm that the caller agreed to the storage of their details."
            )
        channel = request.form.get("channel", "")
        if channel not in ("hotline", "email", "other"):
            checked.errors["channel"] = _("Please choose one of the options.")
        if checked.data is not None and not checked.errors:
            # The caller was read the consent sentence in force, in German or English.
            told = consent.wording(
                db.session, "en" if checked.data.preferred_language == "en" else "de"
            )
            inquiry = service.create_inquiry(
                db.session,
                checked.data,
                channel=channel,
                now=utcnow(),
                consent_text=told.consent,
                consent_version=told.version,
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
        T=dict(standard_texts(), consent=consent.wording(db.session, "de").consent),
    )


@bp.route("/anfragen/<int:inquiry_id>")
@require("intake.view")
def detail(inquiry_id: int):
    inquiry = _inquiry_or_404(inquiry_id)
    manage = has_permission(current_user, "intake.manage")
    can_edit = has_permission(current_user, "intake.edit")
    may_participant = can_edit and has_permission(current_user, conversion.PARTICIPANT_PERMISSION)
    may_person = can_edit and has_permission(current_user, conversion.PERSON_PERMISSION)
    # The participant it became is named only to users who may see that participant.
    participant = (
        participants.get_participant(db.session, current_user, inquiry.participant_id)
        if inquiry.participant_id and has_permission(current_user, "participants.view")
        else None
    )
    return render_template(
        "intake/detail.html",
        inquiry=inquiry,
        now=utcnow(),
        can_edit=can_edit,
        can_manage=manage,
        users=service.assignable_users(db.session) if manage else [],
        may_participant=may_participant,
        may_person=may_person,
        duplicates=conversion.duplicates(db.session, current_user, inquiry)
        if inquiry.is_open and (may_participant or may_person)
        else None,
        participant=participant,
        sees_people=has_permission(current_user, "contacts.view"),
        # A hint so that a lead reassigns an open inquiry whose contact person is away.
        assignee_absent_until=absences.absent_until(
            db.session, inquiry.assigned_to_id, utcnow().astimezone(service.BERLIN).date()
        )
        if inquiry.is_open and inquiry.assigned_to_id
        else None,
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


# --- conversion ---------------------------------------------------------------------------------


def _convertible(inquiry_id: int, permission: str) -> tuple[Inquiry, Any]:
    """The inquiry, and a redirect to its page if it cannot be converted any more."""
    inquiry = _inquiry_or_404(inquiry_id)
    if not has_permission(current_user, permission):
        abort(403)
    if inquiry.is_open:
        return inquiry, None
    if inquiry.status == "converted":
        flash(_("This inquiry has already been converted."), "warning")
    else:
        flash(_("This inquiry is already finished."), "warning")
    return inquiry, redirect(url_for("intake.detail", inquiry_id=inquiry.id))


def _refused(inquiry_id: int, exc: service.IntakeError) -> Any:
    """After a refused conversion: back to the inquiry if it is finished meanwhile (another
    tab converted it), else None (the form is shown again with everything typed)."""
    db.session.rollback()
    flash(str(exc), "danger")
    inquiry = db.session.get(Inquiry, inquiry_id)
    if inquiry is None or not inquiry.is_open:
        return redirect(url_for("intake.detail", inquiry_id=inquiry_id))
    return None


def _prefill_participant(form: ParticipantForm, inquiry: Inquiry) -> None:
    for key, value in conversion.participant_prefill(inquiry, utcnow().date()).items():
        getattr(form, key).data = value
    # Office and counsellor only where the user may choose them; else their own.
    offices = [c.value for c in form.office_id.choices]
    if form.office_id.data not in offices:
        form.office_id.data = current_user.office_id
    counsellors = [c.value for c in form.counsellor_id.choices]
    if form.counsellor_id.data not in counsellors:
        form.counsellor_id.data = current_user.id


def _convert(
    inquiry_id: int,
    permission: str,
    form: Any,
    *,
    prefill: Callable[[Any, Inquiry], None],
    values: Callable[[Any], Any],
    convert: Callable[..., Any],
    done: str,
    target: Callable[[Any], str],
    template: str,
) -> Any:
    """The conversion pages' one flow: check, prefill on GET, convert on a valid POST (the
    service locks the inquiry), a German message instead of a 500 when it was converted
    meanwhile, and the form again with its input when something is wrong."""
    inquiry, gone = _convertible(inquiry_id, permission)
    if gone is not None:
        return gone
    if request.method == "GET":
        prefill(form, inquiry)
    if form.validate_on_submit():
        data = values(form)
        if data is not None:
            try:
                record = convert(
                    db.session,
                    inquiry_id,
                    data,
                    user=current_user._get_current_object(),
                    now=utcnow(),
                )
            except service.IntakeError as exc:
                back = _refused(inquiry_id, exc)
                if back is not None:
                    return back
                inquiry = _inquiry_or_404(inquiry_id)
            else:
                db.session.commit()
                flash(done, "success")
                return redirect(target(record))
    return render_template(template, form=form, inquiry=inquiry), (400 if form.errors else 200)


@bp.route("/anfragen/<int:inquiry_id>/teilnehmende", methods=["GET", "POST"])
@require("intake.edit")
def convert_participant(inquiry_id: int):
    """A person seeking counselling becomes a participant: the participant form, prefilled."""
    form = ParticipantForm()
    prepare_participant_form(form, None)
    return _convert(
        inquiry_id,
        conversion.PARTICIPANT_PERMISSION,
        form,
        prefill=_prefill_participant,
        values=participant_form_data,
        convert=conversion.convert_to_participant,
        done=_("The inquiry has been converted into a participant."),
        target=lambda p: url_for("participants.detail", participant_id=p.id),
        template="intake/convert_participant.html",
    )


def _prefill_firm(form: FirmConversionForm, inquiry: Inquiry) -> None:
    for key, value in conversion.person_prefill(inquiry).items():
        getattr(form, key).data = value
    form.count.data = 1
    # The firm's name names one organisation already: preselect it; else offer a new one.
    same = find_organisation_duplicates(db.session, name=inquiry.organisation_name)
    if len(same) == 1:
        form.organisation.data = same[0].record.name
        form.organisation_id.data = str(same[0].record.id)
    else:
        form.new_organisation.data = inquiry.organisation_name


def _firm_values(form: FirmConversionForm) -> conversion.FirmConversion | None:
    """The checked values, or None with an error on the organisation fields."""
    text = (form.organisation.data or "").strip()
    new_name = (form.new_organisation.data or "").strip()
    org_id = None
    if text and new_name:
        form.new_organisation.errors.append(
            _("Please choose an existing organisation or give a new one, not both.")
        )
        return None
    if text:
        org, matches = picked_organisation(db.session, form.organisation_id.data, text)
        if org is None:
            form.organisation.errors.append(
                _("Several organisations match; please be more precise.")
                if matches > 1
                else _("No organisation of that name was found.")
            )
            return None
        form.organisation.data, form.organisation_id.data = org.name, str(org.id)
        org_id = org.id
    elif not new_name:
        form.organisation.errors.append(
            _("Please choose an organisation or give the name of a new one.")
        )
        return None
    return conversion.FirmConversion(
        first_name=form.first_name.data or "",
        last_name=form.last_name.data or "",
        email=form.email.data or "",
        phone=form.phone.data or "",
        language=form.language.data or "de",
        function=form.function.data or "",
        organisation_id=org_id,
        new_organisation_name=new_name,
        occupation=form.occupation.data or "",
        count=form.count.data or 1,
        need_note=form.need_note.data or "",
    )


@bp.route("/anfragen/<int:inquiry_id>/kontaktperson", methods=["GET", "POST"])
@require("intake.edit")
def convert_person(inquiry_id: int):
    """A firm's inquiry becomes a contact person at an organisation with a skills need."""
    return _convert(
        inquiry_id,
        conversion.PERSON_PERMISSION,
        FirmConversionForm(),
        prefill=_prefill_firm,
        values=_firm_values,
        convert=conversion.convert_to_person,
        done=_("The inquiry has been converted into a contact person."),
        target=lambda p: url_for("contacts.person_detail", person_id=p.id),
        template="intake/convert_person.html",
    )


@bp.post("/anfragen/<int:inquiry_id>/verknuepfen")
@require("intake.edit")
def link(inquiry_id: int):
    """A duplicate: link the inquiry to an existing participant or contact person."""
    kind, _sep, number = request.form.get("record", "").partition(":")
    record_id = db_int(number)
    permission = {
        "participant": conversion.PARTICIPANT_PERMISSION,
        "person": conversion.PERSON_PERMISSION,
    }.get(kind)
    if permission is None or record_id is None:
        _inquiry_or_404(inquiry_id)
        flash(_("Please choose a record."), "danger")
        return redirect(url_for("intake.detail", inquiry_id=inquiry_id))
    _inquiry, gone = _convertible(inquiry_id, permission)
    if gone is not None:
        return gone
    me = current_user._get_current_object()
    try:
        if kind == "participant":
            conversion.link_to_participant(db.session, inquiry_id, record_id, user=me, now=utcnow())
            target = url_for("participants.detail", participant_id=record_id)
        else:
            conversion.link_to_person(db.session, inquiry_id, record_id, user=me, now=utcnow())
            target = url_for("contacts.person_detail", person_id=record_id)
    except service.IntakeError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(url_for("intake.detail", inquiry_id=inquiry_id))
    db.session.commit()
    flash(_("The inquiry has been linked to the existing record."), "success")
    return redirect(target)


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
        consent_current=consent.current(db.session),
    )


@bp.route("/verwaltung/anfragen/einwilligung", methods=["GET", "POST"])
@require("intake.configure")
def consent_texts():
    """Edit the privacy notice and consent sentence; each save is a new version."""
    latest = consent.current(db.session)
    values = {f: getattr(latest, f) for f in consent.FIELDS} if latest else consent.builtin()
    errors: dict[str, str] = {}
    error = None
    if request.method == "POST":
        values, errors = consent.check(request.form)
        if not errors:
            try:
                row = consent.save(db.session, values, current_user, utcnow())
                db.session.commit()
            except service.IntakeError as exc:
                db.session.rollback()
                error = str(exc)
            except IntegrityError:
                # Another admin saved a version at the same moment; the number is taken.
                db.session.rollback()
                error = _("Someone saved a new version at the same time. Please save again.")
            else:
                flash(
                    _("Consent text saved as version %(version)s.", version=row.version), "success"
                )
                return redirect(url_for("intake.consent_texts"))
    return render_template(
        "intake/consent_form.html",
        values=values,
        errors=errors,
        error=error,
        current=latest,
        builtin_version=CONSENT_VERSION,
        history=consent.history(db.session),
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


# --- report (Anfragen → Auswertung) ---------------------------------------------------------------


def _report_offices() -> list[Office]:
    """Offices to filter by: all for those who see every inquiry, else one's own."""
    offices = active_offices(db.session)
    if service.supervises(current_user):
        return offices
    return [o for o in offices if o.id in current_user.office_ids]


def _report_request() -> tuple[reports.Period, int | None, dict[str, str], str | None]:
    """The period and office from the query string, the values as typed and an error.

    A preset wins over typed dates; bad dates fall back to the default period with a message,
    keeping what was typed in the fields.
    """
    today = local_date(utcnow())
    preset = request.args.get("zeitraum", "")
    typed = {
        "von": (request.args.get("von") or "").strip(),
        "bis": (request.args.get("bis") or "").strip(),
        "zeitraum": preset if preset in reports.PRESETS else "",
    }
    office_id = db_int(request.args.get("stelle", ""))
    if office_id not in [o.id for o in _report_offices()]:
        office_id = None
    typed["stelle"] = str(office_id or "")
    error = None
    period = reports.preset_period(typed["zeitraum"] or "12w", today)
    if not typed["zeitraum"] and (typed["von"] or typed["bis"]):
        try:
            start = parse_date(typed["von"]) or period.start
            end = parse_date(typed["bis"]) or today
        except ValueError:
            error = _("Please enter valid dates (e.g. 2026-12-01).")
        else:
            if end < start:
                error = _("The end of the period lies before its start.")
            elif (end - start).days >= reports.MAX_DAYS:
                error = _("Please choose a period of at most two years.")
            else:
                period = reports.Period(start, end)
    if not error:
        typed["von"], typed["bis"] = period.start.isoformat(), period.end.isoformat()
    return period, office_id, typed, error


@bp.route("/anfragen/auswertung")
@require("intake.view")
def report():
    period, office_id, typed, error = _report_request()
    result = reports.intake_report(
        db.session, current_user, period, office_id=office_id, now=utcnow()
    )
    return render_template(
        "intake/report.html",
        report=result,
        typed=typed,
        error=error,
        offices=_report_offices(),
        office_id=office_id,
        supervises=service.supervises(current_user),
        chart=result.chart_data({k: str(v) for k, v in CHANNEL_LABELS.items()}),
        query={k: v for k, v in typed.items() if v},
    )


@bp.route("/anfragen/auswertung.xlsx")
@require("intake.view")
@writes_on_get
def report_xlsx():
    period, office_id, _typed, _error = _report_request()
    r = reports.intake_report(db.session, current_user, period, office_id=office_id, now=utcnow())
    office = next((o for o in _report_offices() if o.id == office_id), None)
    record(
        db.session,
        "export",
        entity_type="inquiry_report",
        summary=f"Anfragen-Auswertung {period.start}–{period.end} "
        f"(xlsx, Geschäftsstelle {office_id or 'alle'})",
    )
    db.session.commit()
    start, end = period.start.strftime("%d.%m.%Y"), period.end.strftime("%d.%m.%Y")
    rows: list[list[Any]] = [
        [_("Period"), f"{start} – {end}"],
        [_("Office"), office.name if office else _("All offices")],
        [_("Inquiries"), r.total],
        [_("Median time to first contact (hours)"), _round(r.median_hours)],
        [_("First contact within the deadline"), r.answered_in_time],
        [_("Due or contacted"), r.due],
        [_("Share answered within the deadline (%)"), _percent(r.in_time_share)],
        [_("Converted"), r.converted],
        [_("Conversion rate (%)"), _percent(r.conversion_rate)],
        [_("Firms counselled"), r.firms_counselled],
        [_("Spam (not counted)"), r.spam],
        [],
        [_("Closed by reason"), _("Inquiries")],
    ]
    for reason, label in CLOSE_REASON_LABELS.items():
        rows.append([str(label), r.closed_by_reason.get(reason, 0)])
    rows.append([])
    rows.append(
        [_("Calendar week"), _("From"), _("Inquiries")]
        + [str(CHANNEL_LABELS[c]) for c in CHANNEL_LABELS]
        + [str(TOPIC_LABELS[t]) for t in TOPIC_LABELS]
    )
    for w in r.weeks:
        rows.append(
            [w.week.label, w.week.monday.strftime("%d.%m.%Y"), w.total]
            + [w.by_channel.get(c, 0) for c in CHANNEL_LABELS]
            + [w.by_topic.get(t, 0) for t in TOPIC_LABELS]
        )
    out = io.BytesIO()
    write_xlsx([_("Inquiry report"), ""], rows, out, sheet_title=_("Inquiries"))
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"anfragen-auswertung-{period.start}-{period.end}.xlsx",
    )


def _round(value: float | None) -> float | str:
    return round(value, 1) if value is not None else "–"


def _percent(share: float | None) -> float | str:
    return round(100 * share, 1) if share is not None else "–"
