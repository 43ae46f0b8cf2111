"""Event registration pages, on the events blueprint: the public registration page and the
personal cancel page (no login), and for staff the settings, the registrations list with its
export, the check-in page and the printable check-in list."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from flask import (
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
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import escape

from crm import public_forms
from crm.audit.service import Actor, acting_as, record
from crm.contacts.export import write_csv, write_xlsx
from crm.database import db_int, utcnow
from crm.events import followthrough
from crm.events import registration as reg
from crm.events.forms import (
    REGISTRATION_STATUS_LABELS,
    RegistrationSettingsForm,
    check_registration,
)
from crm.events.models import Event, EventRegistration, RegistrationAttempt
from crm.events.series import BERLIN, to_utc
from crm.events.views import _base_url, bp
from crm.extensions import csrf, db
from crm.i18n import fmt_datetime
from crm.security import embeddable, has_permission, public, require, writes_on_get

FORM_SALT = "event-registration-form"
LANGUAGES = ("de", "en")
CHECKIN_LIMIT = 500
PER_PAGE = 200


def _event_or_404(event_id: int) -> Event:
    return db.session.get(Event, event_id) or abort(404)


def _config_int(name: str, default: int) -> int:
    value = db_int(current_app.config.get(name, default))
    return value if value is not None and value >= 0 else default


def _limit() -> public_forms.Limit:
    # The inquiry form's settings: one allowance per public form and address.
    return public_forms.Limit(
        window=timedelta(minutes=_config_int("CRM_INTAKE_WINDOW_MINUTES", 60)),
        max_per_ip=_config_int("CRM_INTAKE_MAX_PER_IP", 5),
    )


def _mail() -> reg.MailSettings:
    return reg.MailSettings(
        sender=str(current_app.config["CRM_MAIL_FROM"]),
        base_url=_base_url(),
        secret=str(current_app.secret_key or ""),
    )


def _secret() -> str:
    return str(current_app.secret_key or "")


@bp.context_processor
def _registration_labels() -> dict[str, Any]:
    return {"REGISTRATION_STATUS_LABELS": REGISTRATION_STATUS_LABELS}


# --- public pages ---------------------------------------------------------------------------------


def _language() -> str:
    wanted = request.args.get("sprache", "")
    return wanted if wanted in LANGUAGES else "de"


def _public(template: str, lang: str, status: int = 200, **context: Any) -> Any:
    with force_locale(lang):
        return render_template(template, lang=lang, **context), status


def _public_message(lang: str, status: int, event: Event | None, title: str, text: str) -> Any:
    return _public(
        "events/public_message.html", lang, status, event=event, title=title, message=text
    )


@bp.route("/veranstaltungen/<int:event_id>/anmeldung", methods=["GET", "POST"])
@public
@embeddable
@csrf.exempt
def register(event_id: int):
    """The public registration page of an event, for a plain link and for a frame.

    Like the inquiry form: a signed, dated form token instead of the session's CSRF token
    (a framed page gets no session cookie), a honeypot and a per-address limit counted in
    the database. An event without open registration is not found.
    """
    lang = _language()
    event = db.session.get(Event, event_id)
    if event is None or not (event.registration_open or request.method == "POST"):
        with force_locale(lang):
            return _public_message(
                lang,
                404,
                None,
                _("Registration not found"),
                _("There is no open registration at this address."),
            )
    now = utcnow()
    # A personal invitation link: prefill name and address, link the registration to the
    # person. A forged or foreign token is ignored (the plain page).
    invitation = request.args.get("einladung", "")[:500]
    invited = (
        followthrough.person_for_invitation(db.session, _secret(), invitation, event.id)
        if invitation
        else None
    )
    if invited is None:
        invitation = ""
    values: dict[str, str] = (
        {"name": invited.full_name, "email": invited.email} if invited is not None else {}
    )
    errors: dict[str, str] = {}
    if request.method == "POST":
        ip_hash = public_forms.hash_ip(_secret(), request.remote_addr or "")
        with force_locale(lang):
            checked = check_registration(request.form, language=lang)
        if public_forms.throttled(db.session, RegistrationAttempt, ip_hash, _limit(), now):
            db.session.rollback()
            # The form comes back filled in: nobody types their details twice for a limit
            # they could not see coming.
            with force_locale(lang):
                notice = (
                    _("Too many registrations"),
                    _(
                        "Too many registrations came from your network. Your details are still "
                        "in the form below: please send it again later."
                    ),
                )
            return _registration_page(
                lang, event, now, checked.values, {}, invitation, notice=notice, status=429
            )
        public_forms.record_attempt(db.session, RegistrationAttempt, ip_hash, now)
        if not public_forms.form_token_valid(
            _secret(), FORM_SALT, request.form.get("form_token", "")
        ):
            db.session.commit()  # keep the counted attempt
            # Kept as typed, with a fresh form token: sending once more is enough.
            with force_locale(lang):
                notice = (
                    _("The form has expired"),
                    _(
                        "The page was open for too long. Your details are still in the form "
                        "below: please check them and register once more."
                    ),
                )
            return _registration_page(
                lang, event, now, checked.values, {}, invitation, notice=notice, status=400
            )
        if request.form.get("website"):
            # A bot filled the honeypot: the answer of a real registration, nothing stored.
            db.session.commit()
            return _public("events/public_done.html", lang, event=event, result="registered")
        with force_locale(lang):
            consent_text = _(
                "I agree that my name and organisation may be passed on to the co-organisers "
                "of this event in the list of attendees."
            )
        if checked.data is not None:
            try:
                with force_locale(lang), acting_as(Actor(None, "public-registration", "")):
                    outcome = reg.register(
                        db.session,
                        event.id,
                        checked.data,
                        now=now,
                        consent_text=consent_text,
                        mail=_mail(),
                        ip_hash=ip_hash,
                        person_id=invited.id if invited is not None else None,
                    )
            except reg.RegistrationError as exc:
                db.session.rollback()
                return _public_message(lang, 409, event, _closed_title(lang), str(exc))
            result = outcome.result
            if result == "duplicate":
                # Answer as a new registration would be answered now: whether an address is
                # registered (for an event on recognising foreign degrees, say) is nobody's
                # business but its owner's, who learns it from the mail.
                state = reg.availability(db.session, event, now).state
                result = "registered" if state == "open" else "waitlisted"
            db.session.commit()
            return _public("events/public_done.html", lang, event=event, result=result)
        # A form sent back with typing errors stored and mailed nothing, so it does not count
        # toward the network's limit: a class on one Wi-Fi correcting its entries would
        # otherwise be locked out. Expired tokens and the honeypot above still count.
        db.session.rollback()
        values, errors = checked.values, checked.errors
    return _registration_page(lang, event, now, values, errors, invitation)


def _registration_page(
    lang: str,
    event: Event,
    now: datetime,
    values: dict[str, str],
    errors: dict[str, str],
    invitation: str,
    *,
    notice: tuple[str, str] | None = None,
    status: int = 200,
) -> Any:
    return _public(
        "events/public_register.html",
        lang,
        status,
        event=event,
        state=reg.availability(db.session, event, now),
        closed_message=reg.closed_message,
        values=values,
        errors=errors,
        notice=notice,
        invitation=invitation,
        form_token=public_forms.form_token(_secret(), FORM_SALT, event.id),
    )


def _closed_title(lang: str) -> str:
    with force_locale(lang):
        return _("Registration is not possible")


@bp.route("/veranstaltungen/anmeldung/absagen/<token>", methods=["GET", "POST"])
@public
def registration_cancel(token: str):
    """The personal cancel page from the confirmation mail: GET asks, POST (with CSRF) cancels."""
    registration, problem = reg.registration_for_token(db.session, _secret(), token[:500])
    lang = registration.language if registration is not None else _language()
    if registration is None:
        with force_locale(lang):
            if problem == "expired":
                title, text = (
                    _("This link has expired"),
                    _("Please contact the organisers if you can no longer attend."),
                )
            else:
                title, text = (
                    _("This link is not valid"),
                    _("The registration has already been cancelled, or the link is incomplete."),
                )
        return _public_message(lang, 404, None, title, text)
    event = registration.event
    if request.method == "POST":
        try:
            with acting_as(Actor(None, "public-registration", "")):
                reg.cancel(db.session, registration, now=utcnow(), mail=_mail())
        except reg.RegistrationError as exc:
            db.session.rollback()
            with force_locale(lang):
                return _public_message(lang, 409, event, _closed_title(lang), str(exc))
        db.session.commit()
        with force_locale(lang):
            return _public_message(
                lang,
                200,
                event,
                _("Registration cancelled"),
                _("Your registration has been cancelled. Thank you for letting us know."),
            )
    return _public("events/public_cancel.html", lang, event=event, registration=registration)


# --- staff pages ---------------------------------------------------------------------------------


def _links(event: Event) -> dict[str, str]:
    link = reg.public_url(event, _base_url())
    # Escaped here: staff paste the snippet into another site's HTML, where a quote in the
    # title would end the attribute.
    return {
        "public_link": link,
        "embed_code": (
            f'<iframe src="{escape(link)}" title="{escape(event.title)}" width="100%" '
            'height="900" style="border:0"></iframe>'
        ),
    }


@bp.route("/termine/<int:event_id>/anmeldungen")
@require("events.view")
def registrations(event_id: int):
    event = _event_or_404(event_id)
    page = db_int(request.args.get("seite", "1")) or 1
    page = min(max(page, 1), 100_000)
    counts = reg.counts(db.session, event.id)
    return render_template(
        "events/registrations.html",
        event=event,
        counts=counts,
        page=page,
        per_page=PER_PAGE,
        total=sum(counts.values()),
        rows=reg.registrations_of(
            db.session, event.id, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
        ),
        state=reg.availability(db.session, event, utcnow()),
        can_edit=has_permission(current_user, "events.edit"),
        **_links(event),
    )


@bp.route("/termine/<int:event_id>/anmeldung/einstellungen", methods=["GET", "POST"])
@require("events.edit")
def registration_settings(event_id: int):
    event = _event_or_404(event_id)
    form = RegistrationSettingsForm()
    if request.method == "GET":
        form.registration_open.data = event.registration_open
        form.capacity.data = event.registration_capacity
        if event.registration_deadline is not None:
            local = event.registration_deadline.astimezone(BERLIN)
            form.deadline_date.data, form.deadline_time.data = local.date(), local.time()
        form.ask_organisation.data = event.ask_organisation
        form.ask_dietary.data = event.ask_dietary
        form.ask_accessibility.data = event.ask_accessibility
    if form.validate_on_submit():
        deadline = None
        if form.deadline_date.data is not None:
            clock = form.deadline_time.data or datetime.max.time().replace(microsecond=0)
            deadline = to_utc(datetime.combine(form.deadline_date.data, clock))
        elif form.deadline_time.data is not None:
            form.deadline_date.errors.append(_("Please give the date of the deadline too."))
        if deadline is not None and deadline > event.starts_at:
            # Registration closes when the event starts anyway; a later deadline would only
            # promise visitors on the public page a date that never comes.
            form.deadline_date.errors.append(
                _(
                    "The deadline is after the start of the event (%(start)s). Registration "
                    "closes at the start anyway; please choose an earlier deadline or leave it "
                    "empty.",
                    start=fmt_datetime(event.starts_at),
                )
            )
        if not form.deadline_date.errors:
            reg.save_settings(
                event,
                reg.Settings(
                    open=bool(form.registration_open.data),
                    capacity=form.capacity.data,
                    deadline=deadline,
                    ask_organisation=bool(form.ask_organisation.data),
                    ask_dietary=bool(form.ask_dietary.data),
                    ask_accessibility=bool(form.ask_accessibility.data),
                ),
            )
            moved = reg.fill_free_seats(db.session, event.id, now=utcnow(), mail=_mail())
            db.session.commit()
            flash(_("The registration settings have been saved."), "success")
            for person in moved:
                flash(_("%(name)s moved up from the waiting list.", name=person.name), "info")
            return redirect(url_for("events.registrations", event_id=event.id))
    return render_template("events/registration_settings.html", event=event, form=form)


def _registration_or_404(event_id: int, registration_id: int) -> EventRegistration:
    row = db.session.get(EventRegistration, registration_id)
    if row is None or row.event_id != event_id:
        abort(404)
    return row


@bp.post("/termine/<int:event_id>/anmeldungen/<int:registration_id>/kontakt")
@require("events.edit")
def registration_to_contacts(event_id: int, registration_id: int):
    row = _registration_or_404(event_id, registration_id)
    person = reg.take_into_contacts(db.session, row)
    db.session.commit()
    flash(_("%(name)s is now in the contacts.", name=person.full_name), "success")
    return redirect(url_for("events.registrations", event_id=event_id))


@bp.post("/termine/<int:event_id>/anmeldungen/<int:registration_id>/absagen")
@require("events.edit")
def registration_cancel_by_staff(event_id: int, registration_id: int):
    row = _registration_or_404(event_id, registration_id)
    try:
        moved = reg.cancel(db.session, row, now=utcnow(), mail=_mail())
    except reg.RegistrationError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("The registration has been cancelled."), "success")
        if moved is not None:
            flash(_("%(name)s moved up from the waiting list.", name=moved.name), "info")
    return redirect(url_for("events.registrations", event_id=event_id))


def _export_rows(event_id: int) -> tuple[list[str], list[list[Any]]]:
    headers = [
        _("Name"),
        _("E-mail"),
        _("Organisation"),
        _("Dietary needs"),
        _("Accessibility needs"),
        _("Status"),
        _("Registered at"),
        _("Checked in at"),
        _("May be shared with co-organisers"),
    ]
    rows = [
        [
            r.name,
            r.email,
            r.organisation,
            r.dietary,
            r.accessibility,
            str(REGISTRATION_STATUS_LABELS[r.status]),
            r.queued_at,
            r.checked_in_at,
            r.share_consent,
        ]
        for r in reg.registrations_of(db.session, event_id)
    ]
    return headers, rows


@bp.route("/termine/<int:event_id>/anmeldungen.<any(csv, xlsx):fmt>")
# Names, addresses and answers (diet, accessibility needs) leaving the product: the same
# permission as the contacts export, so the read-only role sees the list but cannot take it.
@require("contacts.export")
@writes_on_get
def registrations_export(event_id: int, fmt: str):
    event = _event_or_404(event_id)
    headers, rows = _export_rows(event.id)
    record(
        db.session,
        "export",
        entity_type="event",
        entity_id=event.id,
        summary=f"{len(rows)} registrations ({fmt})",
    )
    db.session.commit()
    filename = f"anmeldungen-{event.id}.{fmt}"
    if fmt == "csv":
        response = Response(write_csv(headers, rows), mimetype="text/csv")
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    out = io.BytesIO()
    write_xlsx(headers, rows, out, sheet_title=_("Registrations"))
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename,
    )


@bp.route("/termine/<int:event_id>/einlass")
@require("events.view")
def checkin(event_id: int):
    """The tablet check-in page: search by name, one button per person."""
    event = _event_or_404(event_id)
    query = (request.args.get("q") or "").replace("\x00", "").strip()[:100]
    rows = [
        r
        for r in reg.registrations_of(db.session, event.id, query=query, limit=CHECKIN_LIMIT)
        if r.status in ("registered", "attended", "no_show")
    ]
    return render_template(
        "events/checkin.html",
        event=event,
        rows=rows,
        query=query,
        counts=reg.counts(db.session, event.id),
        can_edit=has_permission(current_user, "events.edit"),
        started=event.starts_at <= utcnow(),
    )


@bp.post("/termine/<int:event_id>/einlass/<int:registration_id>")
@require("events.edit")
def checkin_person(event_id: int, registration_id: int):
    row = _registration_or_404(event_id, registration_id)
    undo = request.form.get("action") == "undo"
    try:
        if undo:
            reg.undo_check_in(db.session, row)
        else:
            reg.check_in(db.session, row, utcnow())
    except reg.RegistrationError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        if undo:
            flash(_("Check-in of %(name)s taken back.", name=row.name), "success")
        else:
            flash(_("%(name)s is checked in.", name=row.name), "success")
    query = (request.form.get("q") or "").strip()[:100]
    target = url_for("events.checkin", event_id=event_id, q=query or None)
    return redirect(f"{target}#person-{row.id}")


@bp.post("/termine/<int:event_id>/einlass/nicht-erschienen")
@require("events.edit")
def checkin_no_shows(event_id: int):
    _event_or_404(event_id)
    try:
        n = reg.mark_no_shows(db.session, event_id, utcnow())
    except reg.RegistrationError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("%(n)d people marked as not attended.", n=n), "success")
    return redirect(url_for("events.checkin", event_id=event_id))


@bp.route("/termine/<int:event_id>/einlass/liste")
@require("events.view")
def checkin_print(event_id: int):
    """The printable check-in list: everyone with a seat, with a box to tick."""
    event = _event_or_404(event_id)
    rows = [
        r
        for r in reg.registrations_of(db.session, event.id)
        if r.status in ("registered", "attended", "no_show")
    ]
    return render_template("events/checkin_print.html", event=event, rows=rows)
