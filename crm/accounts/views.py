"""Login, logout, own account, and the admin pages for users."""

from __future__ import annotations

from datetime import date, timedelta
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
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy.orm import selectinload

from crm.accounts import absences, reset, service
from crm.accounts.forms import (
    ABSENCE_KIND_LABELS,
    ROLE_LABELS,
    AbsenceForm,
    ActionForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    HandoverForm,
    LanguageForm,
    LoginForm,
    NewPasswordForm,
    UserForm,
)
from crm.accounts.models import Absence, User
from crm.accounts.passwords import PasswordPolicyError
from crm.bulk import handover
from crm.database import utcnow
from crm.extensions import db, login_manager
from crm.forms import choices
from crm.offices.views import chosen_offices, create_user_from_form, user_form_choices
from crm.security import authenticated, is_safe_next, public, require

bp = Blueprint("accounts", __name__)


def client_ip() -> str:
    """The client's address (behind a proxy, configure ProxyFix so this is the real one)."""
    return request.remote_addr or ""


@login_manager.user_loader
def load_user(token: str) -> User | None:
    cfg = current_app.config
    user = service.load_session_user(
        db.session,
        token,
        idle=timedelta(minutes=cfg["CRM_SESSION_IDLE_MINUTES"]),
        max_age=timedelta(hours=cfg["CRM_SESSION_MAX_HOURS"]),
    )
    return user


def _start(user: User) -> None:
    # A fresh cookie on every login: nothing from before the login carries over.
    session.clear()
    service.start_session(
        db.session, user, ip=client_ip(), user_agent=request.user_agent.string or ""
    )
    db.session.commit()
    login_user(user)


def _throttle_policy() -> service.ThrottlePolicy:
    cfg = current_app.config
    return service.ThrottlePolicy(
        window=timedelta(minutes=cfg["CRM_LOGIN_WINDOW_MINUTES"]),
        max_failures_account=cfg["CRM_LOGIN_MAX_FAILURES_ACCOUNT"],
        max_failures_ip=cfg["CRM_LOGIN_MAX_FAILURES_IP"],
    )


@bp.route("/anmelden", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        result = service.authenticate(
            db.session,
            form.email.data or "",
            form.password.data or "",
            ip=client_ip(),
            policy=_throttle_policy(),
        )
        db.session.commit()
        if result.outcome == "throttled":
            flash(_("Too many failed attempts. Please wait a few minutes and try again."), "danger")
            return render_template("accounts/login.html", form=form), 429
        if result.user is None:
            flash(_("E-mail address or password is wrong."), "danger")
            return render_template("accounts/login.html", form=form), 200
        _start(result.user)
        target = form.next.data
        return redirect(target if is_safe_next(target) else url_for("core.index"))
    return render_template("accounts/login.html", form=form)


@bp.route("/abmelden", methods=["POST"])
@authenticated
def logout():
    service.end_session(db.session, current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/konto/passwort", methods=["GET", "POST"])
@authenticated
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            service.change_password(db.session, user, form.current.data, form.new.data)
        except (service.AccountError, PasswordPolicyError) as exc:
            db.session.rollback()
            form.new.errors.append(str(exc))
        else:
            # Every old session (this browser's included) is gone; start a new one here.
            _start(user)
            flash(_("Your password has been changed. Other sessions have been ended."), "success")
            return redirect(url_for("core.index"))
    return render_template("accounts/change_password.html", form=form)


def _reset_mail() -> reset.ResetMail:
    # Always the configured address, never the request's Host header: a forged Host would
    # otherwise send the victim a link to the attacker's site carrying a valid token.
    return reset.ResetMail(
        sender=str(current_app.config["CRM_MAIL_FROM"]),
        base_url=str(current_app.config["CRM_BASE_URL"]),
        secret=str(current_app.secret_key or ""),
    )


@bp.route("/passwort-vergessen", methods=["GET", "POST"])
@public
def forgot_password():
    """Ask for a reset link; the answer never tells whether the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accepted = reset.request_reset(
            db.session,
            form.email.data or "",
            ip=client_ip(),
            policy=_throttle_policy(),
            mail=_reset_mail(),
        )
        db.session.commit()
        if not accepted:
            flash(
                _("Too many requests. Please wait a few minutes and try again."),
                "danger",
            )
            return render_template("accounts/forgot_password.html", form=form), 429
        return render_template(
            "accounts/forgot_password_sent.html", minutes=reset.RESET_MAX_AGE_MINUTES
        )
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/passwort-vergessen/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    """The link from the reset mail: choose a new password (once, within the hour)."""
    lock = request.method == "POST"
    user, problem = reset.user_for_token(
        db.session, str(current_app.secret_key or ""), token[:500], lock=lock
    )
    if user is None:
        db.session.rollback()
        page = render_template(
            "accounts/reset_link_invalid.html",
            problem=problem,
            minutes=reset.RESET_MAX_AGE_MINUTES,
        )
        return page, (410 if problem == "expired" else 404)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            reset.reset_with_token(db.session, user, form.new.data or "", ip=client_ip())
        except PasswordPolicyError as exc:
            db.session.rollback()
            form.new.errors = [*form.new.errors, str(exc)]
        else:
            db.session.commit()
            # This browser may still carry a session of its own (somebody else's, or hers
            # that just ended): nothing of it carries over to the next login.
            logout_user()
            session.clear()
            flash(
                _("Your new password has been set. All sessions have been ended; please log in."),
                "success",
            )
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form, user=user, token=token)


@bp.route("/sprache", methods=["POST"])
@public
def set_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    locale = form.locale.data
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    session["locale"] = locale
    target = form.next.data
    return redirect(target if is_safe_next(target) else url_for("core.index"))


# --- administration -----------------------------------------------------------------------


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/verwaltung/benutzer")
@require("admin.users")
def users():
    rows = db.session.scalars(
        sa.select(User).options(selectinload(User.offices)).order_by(User.display_name)
    ).all()
    return render_template(
        "accounts/users.html", users=rows, role_labels=ROLE_LABELS, action_form=ActionForm()
    )


@bp.route("/verwaltung/benutzer/neu", methods=["GET", "POST"])
@require("admin.users")
def user_new():
    form = UserForm()
    user_form_choices(form)
    if form.validate_on_submit() and (created := create_user_from_form(form)):
        user, temporary = created
        return render_template("accounts/temporary_password.html", user=user, password=temporary)
    return render_template("accounts/user_form.html", form=form, user=None)


@bp.route("/verwaltung/benutzer/<int:user_id>", methods=["GET", "POST"])
@require("admin.users")
def user_edit(user_id: int):
    user = _get_user(user_id)
    form = UserForm(obj=user)
    user_form_choices(form, keep=[*user.offices, *([user.office] if user.office else [])])
    if request.method == "GET":
        form.office_id.data = user.office_id or 0
        form.other_office_ids.data = [o.id for o in user.offices if o.id != user.office_id]
    if form.validate_on_submit():
        office, others = chosen_offices(form)
        service.set_role(db.session, user, form.role.data, office, others)
        user.display_name = form.display_name.data.strip()
        db.session.commit()
        flash(_("The user has been saved."), "success")
        return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=user)


@bp.route("/verwaltung/benutzer/<int:user_id>/aktiv", methods=["POST"])
@require("admin.users")
def user_toggle_active(user_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    user = _get_user(user_id)
    if user.id == current_user.id:
        flash(_("You cannot deactivate yourself."), "danger")
        return redirect(url_for("accounts.users"))
    service.set_active(db.session, user, not user.is_active)
    db.session.commit()
    flash(
        _("The user has been activated.")
        if user.is_active
        else _("The user has been deactivated and logged out everywhere."),
        "success",
    )
    return redirect(url_for("accounts.users"))


def _handover_page(user: User, form: HandoverForm) -> str:
    return render_template(
        "accounts/handover.html",
        user=user,
        form=form,
        held=handover.holdings(db.session, user, utcnow()),
    )


def _flash_handover(user: User, result: handover.HandoverResult) -> None:
    flash(
        _(
            "Handed over to %(name)s: participants %(participants)d, follow-ups %(followups)d, "
            "inquiries %(inquiries)d, events %(events)d.",
            name=result.colleague,
            participants=result.participants,
            followups=result.followups,
            inquiries=result.inquiries,
            events=result.events,
        ),
        "success",
    )
    if result.participants_other_office:
        flash(
            _(
                "Participants not handed over: %(count)d, because %(name)s does not work in "
                "their office. They stay with %(leaver)s; assign them in the participant list.",
                count=result.participants_other_office,
                name=result.colleague,
                leaver=user.display_name,
            ),
            "warning",
        )
    if result.participants_not_counsellor:
        flash(
            _(
                "Participants not handed over: %(count)d, because %(name)s cannot counsel "
                "participants. They stay with %(leaver)s; assign them in the participant list.",
                count=result.participants_not_counsellor,
                name=result.colleague,
                leaver=user.display_name,
            ),
            "warning",
        )


@bp.route("/verwaltung/benutzer/<int:user_id>/uebergabe", methods=["GET", "POST"])
@require("admin.users")
def user_handover(user_id: int):
    """Before deactivating: show what the user still holds and hand it to a colleague."""
    user = _get_user(user_id)
    if user.id == current_user.id:
        flash(_("You cannot deactivate yourself."), "danger")
        return redirect(url_for("accounts.users"))
    form = HandoverForm()
    form.colleague_id.choices = choices(
        [(u.id, u.display_name) for u in handover.colleagues_for(db.session, user)],
        placeholder=_("Choose a colleague"),
    )
    if request.method == "GET":
        return _handover_page(user, form)
    if request.form.get("action") == "without":
        # Only the CSRF token counts here: the picker may hold anything.
        if not ActionForm().validate_on_submit():
            abort(400)
    elif not form.validate_on_submit():
        return _handover_page(user, form)
    else:
        try:
            result = handover.hand_over(db.session, user, form.colleague_id.data, utcnow())
        except handover.HandoverError:
            db.session.rollback()
            form.colleague_id.errors = [_("Please choose an active colleague.")]
            return _handover_page(user, form)
        _flash_handover(user, result)
    if user.is_active:
        service.set_active(db.session, user, False)
        flash(_("The user has been deactivated and logged out everywhere."), "success")
    db.session.commit()
    return redirect(url_for("accounts.users"))


@bp.route("/verwaltung/benutzer/<int:user_id>/passwort", methods=["POST"])
@require("admin.users")
def user_reset_password(user_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    user = _get_user(user_id)
    temporary = service.reset_password(db.session, user)
    db.session.commit()
    return render_template("accounts/temporary_password.html", user=user, password=temporary)


# --- absences -------------------------------------------------------------------------------


BERLIN = ZoneInfo("Europe/Berlin")


def _today() -> date:
    return utcnow().astimezone(BERLIN).date()


def _absence_page(target: User, form: AbsenceForm):
    return render_template(
        "accounts/absences.html",
        target=target,
        own=target.id == current_user.id,
        form=form,
        rows=absences.absences_of(db.session, target.id, _today()),
        today=_today(),
        kind_labels=ABSENCE_KIND_LABELS,
        action_form=ActionForm(),
    )


def _save_absence(target: User, form: AbsenceForm, absence: Absence | None = None) -> bool:
    """Save the form's absence; on a refused one put the message on the form and roll back."""
    try:
        absences.save_absence(
            db.session,
            current_user._get_current_object(),
            target,
            first_day=form.first_day.data,
            last_day=form.last_day.data,
            kind=form.kind.data or "",
            note=form.note.data or "",
            absence=absence,
        )
    except absences.AbsenceError as exc:
        db.session.rollback()
        form.last_day.errors = [*form.last_day.errors, str(exc)]
        return False
    db.session.commit()
    flash(_("The absence has been saved."), "success")
    return True


def _absence_target_url(target: User) -> str:
    if target.id == current_user.id:
        return url_for("accounts.my_absences")
    return url_for("accounts.user_absences", user_id=target.id)


@bp.route("/konto/abwesenheiten", methods=["GET", "POST"])
@authenticated
def my_absences():
    user = current_user._get_current_object()
    form = AbsenceForm()
    if form.validate_on_submit() and _save_absence(user, form):
        return redirect(url_for("accounts.my_absences"))
    return _absence_page(user, form)


@bp.route("/verwaltung/abwesenheiten")
@require("absences.manage")
def team_absences():
    actor = current_user._get_current_object()
    today = _today()
    return render_template(
        "accounts/team_absences.html",
        users=absences.managed_users(db.session, actor),
        rows=absences.team_absences(
            db.session, actor, today, today + timedelta(days=27), TEAM_LIMIT
        ),
        limit=TEAM_LIMIT,
        kind_labels=ABSENCE_KIND_LABELS,
    )


# Absences listed on the team page (the coming four weeks).
TEAM_LIMIT = 100


@bp.route("/verwaltung/benutzer/<int:user_id>/abwesenheiten", methods=["GET", "POST"])
@require("absences.manage")
def user_absences(user_id: int):
    target = _get_user(user_id)
    if not absences.may_manage(current_user, target):
        abort(404)
    form = AbsenceForm()
    if form.validate_on_submit() and _save_absence(target, form):
        return redirect(_absence_target_url(target))
    return _absence_page(target, form)


def _get_absence(absence_id: int) -> Absence:
    absence = db.session.get(Absence, absence_id)
    # Somebody else's absence the user may not keep does not exist for them.
    if absence is None or not absences.may_manage(current_user, absence.user):
        abort(404)
    return absence


@bp.route("/abwesenheiten/<int:absence_id>", methods=["GET", "POST"])
@authenticated
def absence_edit(absence_id: int):
    absence = _get_absence(absence_id)
    form = AbsenceForm(obj=absence)
    if form.validate_on_submit() and _save_absence(absence.user, form, absence):
        return redirect(_absence_target_url(absence.user))
    return render_template(
        "accounts/absence_form.html",
        form=form,
        absence=absence,
        back=_absence_target_url(absence.user),
    )


@bp.route("/abwesenheiten/<int:absence_id>/loeschen", methods=["POST"])
@authenticated
def absence_delete(absence_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    absence = _get_absence(absence_id)
    target = absence.user
    absences.delete_absence(db.session, current_user._get_current_object(), absence)
    db.session.commit()
    flash(_("The absence has been deleted."), "success")
    return redirect(_absence_target_url(target))
