"""Admin pages for branch offices and the first-run setup (Ersteinrichtung) under /verwaltung."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
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
from sqlalchemy.orm import selectinload

from crm.accounts import service as accounts
from crm.accounts.forms import ROLE_LABELS, ActionForm, UserForm
from crm.accounts.models import Office, User
from crm.accounts.passwords import PasswordPolicyError
from crm.dashboard import term as project_terms
from crm.extensions import db
from crm.forms import choices
from crm.offices import service
from crm.offices.forms import OfficeForm, ProjectTermForm, targets_form
from crm.security import fragment, require

bp = Blueprint("offices", __name__, url_prefix="/verwaltung")

SETUP_STEPS = ("geschaeftsstellen", "benutzer", "ziele", "projektlaufzeit", "mail", "weiteres")


def _office_or_404(office_id: int) -> Office:
    office = db.session.get(Office, office_id)
    if office is None:
        abort(404)
    return office


def _office_data(form: OfficeForm) -> dict[str, Any]:
    return {key: getattr(form, key).data for key in service.OFFICE_FIELDS}


# --- offices ------------------------------------------------------------------------------------


@bp.route("/geschaeftsstellen")
@require("admin.users")
def index():
    return render_template(
        "offices/index.html", rows=service.list_offices(db.session), action_form=ActionForm()
    )


@bp.route("/geschaeftsstellen/neu", methods=["GET", "POST"])
@require("admin.users")
def new():
    form = OfficeForm()
    if request.method == "GET":
        form.weekly_entries.data = 1
        form.weekly_exits.data = 1
    if form.validate_on_submit():
        try:
            office = service.create_office(db.session, **_office_data(form))
        except service.OfficeError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("The branch office %(name)s has been created.", name=office.name), "success")
            return redirect(url_for(".index"))
    return render_template("offices/form.html", form=form, office=None, users=[]), (
        400 if form.errors else 200
    )


@bp.route("/geschaeftsstellen/<int:office_id>", methods=["GET", "POST"])
@require("admin.users")
def edit(office_id: int):
    office = _office_or_404(office_id)
    form = OfficeForm(obj=office)
    if form.validate_on_submit():
        try:
            service.update_office(db.session, office, _office_data(form))
        except service.OfficeError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("The branch office has been saved."), "success")
            return redirect(url_for(".index"))
    return render_template(
        "offices/form.html",
        form=form,
        office=office,
        users=service.office_users(db.session, office.id),
        role_labels=ROLE_LABELS,
    ), (400 if form.errors else 200)


@bp.route("/geschaeftsstellen/<int:office_id>/aktiv", methods=["POST"])
@require("admin.users")
def toggle_active(office_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    office = _office_or_404(office_id)
    service.set_office_active(db.session, office, not office.is_active)
    db.session.commit()
    flash(
        _("The branch office has been reactivated.")
        if office.is_active
        else _("The branch office has been deactivated."),
        "success",
    )
    return redirect(url_for(".index"))


@bp.route("/geschaeftsstellen/<int:office_id>/loeschen", methods=["POST"])
@require("admin.users")
def delete(office_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    office = _office_or_404(office_id)
    try:
        service.delete_office(db.session, office)
    except service.OfficeError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("The branch office has been deleted."), "success")
    return redirect(url_for(".index"))


# --- project term -------------------------------------------------------------------------------


def _term_form() -> tuple[ProjectTermForm, project_terms.Term, bool]:
    """The project term form, prefilled with the current term; True once a valid one is saved."""
    term = project_terms.current_term(db.session, current_app.config)
    form = ProjectTermForm(data={"name": term.name, "start_on": term.start, "end_on": term.end})
    if not form.validate_on_submit():
        return form, term, False
    # ProjectTerm is Audited: the old and new dates land in the audit log.
    project_terms.save_term(
        db.session,
        name=form.name.data or "",
        start=form.start_on.data,
        end=form.end_on.data,
    )
    db.session.commit()
    flash(_("The project term has been saved."), "success")
    return form, term, True


@bp.route("/projektlaufzeit", methods=["GET", "POST"])
@require("admin.users")
def project_term():
    form, term, saved = _term_form()
    if saved:
        return redirect(url_for(".project_term"))
    return render_template("offices/project_term.html", form=form, term=term), (
        400 if form.errors else 200
    )


# --- first-run setup ----------------------------------------------------------------------------


def _step_url(step: str) -> str:
    return url_for(".setup", step=step)


def _setup_page(step: str, **context: Any) -> str:
    index = SETUP_STEPS.index(step)
    return render_template(
        f"offices/setup_{step}.html",
        step=step,
        steps=SETUP_STEPS,
        step_number=index + 1,
        next_step=SETUP_STEPS[index + 1] if index + 1 < len(SETUP_STEPS) else None,
        previous_step=SETUP_STEPS[index - 1] if index else None,
        **context,
    )


@bp.route("/ersteinrichtung")
@require("admin.users")
def setup_start():
    return redirect(_step_url(SETUP_STEPS[0]))


@bp.route("/ersteinrichtung/<step>", methods=["GET", "POST"])
@require("admin.users")
def setup(step: str):
    page = {
        "geschaeftsstellen": _setup_offices,
        "benutzer": _setup_users,
        "ziele": _setup_targets,
        "projektlaufzeit": _setup_term,
        "mail": _setup_mail,
        "weiteres": _setup_further,
    }.get(step)
    if page is None:
        abort(404)
    return page()


def _setup_offices() -> Any:
    form = OfficeForm()
    if request.method == "GET":
        form.weekly_entries.data = 1
        form.weekly_exits.data = 1
    if form.validate_on_submit():
        try:
            office = service.create_office(db.session, **_office_data(form))
        except service.OfficeError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("The branch office %(name)s has been created.", name=office.name), "success")
            return redirect(_step_url("geschaeftsstellen"))
    return _setup_page("geschaeftsstellen", form=form, rows=service.list_offices(db.session)), (
        400 if form.errors else 200
    )


def user_form_choices(form: UserForm, keep: list[Office] | None = None) -> None:
    """Home office (active offices, or none) and further offices for the user form.

    `keep`: offices the user already works in stay choosable even when deactivated, so
    saving the form does not drop them silently.
    """
    offices = service.active_offices(db.session)
    offices += [o for o in keep or [] if o not in offices]
    form.office_id.choices = choices([(0, _("— none —"))] + [(o.id, o.name) for o in offices])
    form.other_office_ids.choices = choices((o.id, o.name) for o in offices)


def chosen_offices(form: UserForm) -> tuple[Office | None, list[Office]]:
    """The home office and the further offices chosen in a validated user form."""
    home = db.session.get(Office, form.office_id.data) if form.office_id.data else None
    ids = [i for i in form.other_office_ids.data or [] if i != form.office_id.data]
    others = list(db.session.scalars(sa.select(Office).where(Office.id.in_(ids)))) if ids else []
    return home, others


def create_user_from_form(form: UserForm) -> tuple[User, str] | None:
    """Create the account a valid user form describes, with a temporary password.

    Returns the user and the password to hand over once, or None with the reason on the
    form's e-mail field (the session rolled back).
    """
    home, others = chosen_offices(form)
    temporary = accounts.generate_temporary_password()
    try:
        user = accounts.create_user(
            db.session,
            email=form.email.data,
            display_name=form.display_name.data,
            password=temporary,
            role=form.role.data,
            office=home,
            other_offices=others,
            must_change_password=True,
        )
    except (accounts.AccountError, PasswordPolicyError) as exc:
        db.session.rollback()
        form.email.errors.append(str(exc))
        return None
    db.session.commit()
    return user, temporary


def _setup_users() -> Any:
    form = UserForm()
    user_form_choices(form)
    created: tuple[User, str] | None = None
    if form.validate_on_submit() and (created := create_user_from_form(form)):
        # A fresh form for the next colleague; the one just created is listed below.
        form = UserForm(formdata=None)
        user_form_choices(form)
    users = db.session.scalars(
        sa.select(User).options(selectinload(User.offices)).order_by(User.display_name)
    ).all()
    return _setup_page(
        "benutzer", form=form, users=users, role_labels=ROLE_LABELS, created=created
    ), (400 if form.errors else 200)


def _setup_targets() -> Any:
    offices = service.active_offices(db.session)
    form = targets_form(offices)
    if form.validate_on_submit():
        for office in offices:
            entries, exits = form.values()[office.id]
            service.update_office(
                db.session, office, {"weekly_entries": entries, "weekly_exits": exits}
            )
        db.session.commit()
        flash(_("Targets saved."), "success")
        return redirect(_step_url("ziele"))
    return _setup_page("ziele", form=form), (400 if form.errors else 200)


def _setup_term() -> Any:
    form, term, saved = _term_form()
    if saved:
        return redirect(_step_url("projektlaufzeit"))
    return _setup_page("projektlaufzeit", form=form, term=term), (400 if form.errors else 200)


def _setup_mail() -> Any:
    from crm.offices.mailcheck import latest_test_mail, send_test_mail

    me = current_user._get_current_object()
    form = ActionForm()
    if form.validate_on_submit():
        try:
            send_test_mail(db.session, me, current_app.config)
        except ValueError:
            db.session.rollback()
            flash(_("The test mail could not be queued for your address."), "danger")
        else:
            db.session.commit()
            flash(_("A test mail to %(email)s has been queued.", email=me.email), "success")
        return redirect(_step_url("mail"))
    return _setup_page(
        "mail",
        form=form,
        mail=latest_test_mail(db.session, me.id),
        transport=_transport_label(current_app.config),
    )


def _setup_further() -> Any:
    """What else a new office sets up before its public forms go live, each with a link.

    Without this list the setup ended after the mail check, and the pages below were only
    found by chance; the public privacy notice then still asked for the controller's name.
    """
    from crm.contacts.models import Organisation, OrganisationKind, Person
    from crm.intake.models import IntakeRule
    from crm.newsletters.models import NewsletterList
    from crm.privacy.notice import controller_missing

    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0

    return _setup_page(
        "weiteres",
        controller_missing=controller_missing(db.session),
        rule_count=count(IntakeRule),
        newsletter_count=count(NewsletterList),
        kind_count=count(OrganisationKind, OrganisationKind.active),
        contact_count=count(Organisation) + count(Person),
    )


def _transport_label(config: Any) -> str:
    """The mail transport in words: the raw setting ("file") told an admin nothing, and with
    it no mail ever leaves the server."""
    transport = config.get("CRM_MAIL_TRANSPORT", "file")
    if transport == "smtp":
        host = config.get("CRM_SMTP_HOST") or "–"
        return _("SMTP server %(host)s", host=host)
    if transport == "file":
        return _(
            "files in the folder instance/outbox/ (for testing: no mail is delivered; "
            "set CRM_MAIL_TRANSPORT=smtp for real delivery)"
        )
    return str(transport)


@bp.route("/ersteinrichtung/mail/status")
@fragment
@require("admin.users")
def setup_mail_status():
    """The status of the admin's latest test mail (polled by htmx on the mail step)."""
    from crm.offices.mailcheck import latest_test_mail

    return render_template(
        "offices/_mail_status.html", mail=latest_test_mail(db.session, current_user.id)
    )
