"""Newsletter pages under /newsletter: staff pages (lists, consent, audiences, templates) and
the public pages (sign-up, confirmation, unsubscribe, web version)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload

from crm.audit.service import record
from crm.contacts import kinds
from crm.contacts.models import ContactList, Person
from crm.database import utcnow
from crm.extensions import csrf, db
from crm.forms import choices
from crm.newsletters import audiences, service
from crm.newsletters.forms import (
    ACTION_LABELS,
    CHANNEL_LABELS,
    KIND_LABELS,
    METHOD_LABELS,
    STATUS_LABELS,
    AudienceForm,
    ConsentTextForm,
    ListForm,
    ListSettingsForm,
    RecordConsentForm,
    SignupForm,
    TemplateForm,
    put_template_problems,
)
from crm.newsletters.models import (
    SUBSCRIPTION_STATUSES,
    Audience,
    Campaign,
    NewsletterList,
    NewsletterTemplate,
    Subscription,
)
from crm.newsletters.rendering import (
    PLACEHOLDERS,
    RenderedMessage,
    TemplateProblem,
    escape,
    html_document,
    parts_without_unsubscribe_link,
    render_for_recipient,
    sample_context,
)
from crm.newsletters.test_send import send_test_to_me, stand_in
from crm.security import public, require, writes_on_get

log = logging.getLogger(__name__)
bp = Blueprint("newsletters", __name__, url_prefix="/newsletter")
PER_PAGE = 50
BERLIN_NOON = time(12, 0)
# The HTML preview is framed by our own preview page only; its own CSP forbids scripts and
# every request except images, and lets the newsletter's inline styles apply.
PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'"
)


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "STATUS_LABELS": STATUS_LABELS,
        "METHOD_LABELS": METHOD_LABELS,
        "ACTION_LABELS": ACTION_LABELS,
        "CHANNEL_LABELS": CHANNEL_LABELS,
        "KIND_LABELS": KIND_LABELS,
        "ORG_KIND_LABELS": kinds.LazyKindLabels(lambda: db.session),
    }


def _settings() -> service.MailSettings:
    return service.MailSettings.from_config(current_app.config)


def _client_ip() -> str:
    return request.remote_addr or ""


def _user_agent() -> str:
    return (request.user_agent.string or "")[:300]


def _page() -> int:
    return max(request.args.get("seite", 1, type=int) or 1, 1)


def _get_or_404(model: Any, ident: int) -> Any:
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


# --- overview and lists --------------------------------------------------------------------------


@bp.get("/")
@require("newsletters.view")
def index():
    settings = _settings()
    lists = db.session.scalars(sa.select(NewsletterList).order_by(NewsletterList.name)).all()
    return render_template(
        "newsletters/index.html",
        lists=lists,
        counts=service.list_counts(db.session),
        audience_count=db.session.scalar(sa.select(sa.func.count(Audience.id))),
        template_count=db.session.scalar(sa.select(sa.func.count(NewsletterTemplate.id))),
        header_coverage=service.unsubscribe_header_coverage(settings),
        base_url=settings.base_url,
    )


@bp.route("/listen/neu", methods=["GET", "POST"])
@require("newsletters.edit")
def list_new():
    form = ListForm()
    if form.validate_on_submit():
        try:
            lst = service.create_list(
                db.session,
                name=form.name.data.strip(),
                slug=form.slug.data.strip(),
                description=form.description.data or "",
                consent_text=form.consent_text.data,
                from_name=(form.from_name.data or "").strip(),
                reply_to=(form.reply_to.data or "").strip(),
                public_signup=bool(form.public_signup.data),
                actor_id=current_user.id,
            )
        except service.ListNameTaken as exc:
            form.name.errors = [*form.name.errors, str(exc)]
        except service.NewsletterError as exc:
            form.slug.errors = [*form.slug.errors, str(exc)]
        else:
            db.session.commit()
            flash(_("Newsletter created."), "success")
            return redirect(url_for(".list_detail", list_id=lst.id))
    return render_template("newsletters/list_form.html", form=form)


@bp.get("/listen/<int:list_id>")
@require("newsletters.view")
def list_detail(list_id: int):
    lst = _get_or_404(NewsletterList, list_id)
    status = request.args.get("status", "")
    if status not in SUBSCRIPTION_STATUSES:
        status = ""
    query = request.args.get("q", "").strip()[:200]
    stmt = service.list_subscriptions(db.session, lst.id, status=status or None, query=query)
    page = _page()
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
    )
    subs = db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).unique().all()
    counts = service.list_counts(db.session).get(lst.id, {})
    return render_template(
        "newsletters/list_detail.html",
        lst=lst,
        subs=subs,
        total=total,
        page=page,
        per_page=PER_PAGE,
        status=status,
        query=query,
        counts=counts,
        total_all=sum(counts.values()),
        consent_form=ConsentTextForm(),
        signup_url=url_for(".signup", slug=lst.slug, _external=True),
    )


@bp.route("/listen/<int:list_id>/bearbeiten", methods=["GET", "POST"])
@require("newsletters.edit")
def list_edit(list_id: int):
    lst = _get_or_404(NewsletterList, list_id)
    form = ListSettingsForm(obj=lst)
    if form.validate_on_submit():
        try:
            service.update_list(
                db.session,
                lst,
                name=form.name.data.strip(),
                description=form.description.data or "",
                from_name=(form.from_name.data or "").strip(),
                reply_to=(form.reply_to.data or "").strip(),
                public_signup=bool(form.public_signup.data),
            )
        except service.ListNameTaken as exc:
            db.session.rollback()
            form.name.errors = [*form.name.errors, str(exc)]
        else:
            record(
                db.session,
                "update",
                entity_type="newsletter_list",
                entity_id=lst.id,
                summary=f"Newsletter „{lst.name}“",
            )
            db.session.commit()
            flash(_("Newsletter saved."), "success")
            return redirect(url_for(".list_detail", list_id=lst.id))
    signup_url = url_for(".signup", slug=lst.slug, _external=True)
    return render_template(
        "newsletters/list_edit.html", form=form, lst=lst, signup_url=signup_url
    ), (400 if form.errors else 200)


@bp.post("/listen/<int:list_id>/einwilligungstext")
@require("newsletters.edit")
def list_consent_text(list_id: int):
    lst = _get_or_404(NewsletterList, list_id)
    form = ConsentTextForm()
    if form.validate_on_submit():
        version = service.add_consent_text(
            db.session, lst, form.text.data, actor_id=current_user.id
        )
        db.session.commit()
        flash(_("Consent text version %(v)d saved.", v=version.version), "success")
    else:
        flash(_("Please enter the consent text."), "danger")
    return redirect(url_for(".list_detail", list_id=lst.id))


# --- consent per person --------------------------------------------------------------------------


@bp.get("/personen/<int:person_id>")
@require("newsletters.view")
def person(person_id: int):
    person = _get_or_404(Person, person_id)
    form = RecordConsentForm()
    form.list_id.choices = _list_choices()
    return render_template(
        "newsletters/person.html",
        person=person,
        subs=service.person_subscriptions(db.session, person.id),
        ledger=service.person_ledger(db.session, person.id),
        form=form,
    )


def _list_choices() -> list:
    lists = db.session.execute(
        sa.select(NewsletterList.id, NewsletterList.name)
        .where(NewsletterList.active)
        .order_by(NewsletterList.name)
    ).all()
    return choices((row.id, row.name) for row in lists)


@bp.post("/personen/<int:person_id>/einwilligung")
@require("newsletters.edit")
def person_record_consent(person_id: int):
    person = _get_or_404(Person, person_id)
    form = RecordConsentForm()
    form.list_id.choices = _list_choices()
    if form.validate_on_submit():
        lst = _get_or_404(NewsletterList, form.list_id.data)
        consented_at = None
        if form.consented_on.data:
            consented_at = datetime.combine(form.consented_on.data, BERLIN_NOON, tzinfo=UTC)
        try:
            service.record_consent(
                db.session,
                person=person,
                lst=lst,
                method=form.method.data,
                note=form.note.data or "",
                actor_id=current_user.id,
                consented_at=consented_at,
            )
        except service.NewsletterError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(_("Consent recorded."), "success")
    else:
        flash(_("Please check the form."), "danger")
    return redirect(url_for(".person", person_id=person.id))


@bp.post("/personen/<int:person_id>/abmelden/<int:list_id>")
@require("newsletters.edit")
def person_unsubscribe(person_id: int, list_id: int):
    _get_or_404(Person, person_id)
    _get_or_404(NewsletterList, list_id)
    service.unsubscribe(db.session, person_id, list_id, channel="staff", actor_id=current_user.id)
    db.session.commit()
    flash(_("Unsubscribed."), "success")
    return redirect(url_for(".person", person_id=person_id))


@bp.get("/personen/<int:person_id>/nachweis")
@require("newsletters.view")
@writes_on_get
def consent_proof(person_id: int):
    person = _get_or_404(Person, person_id)
    subs = service.person_subscriptions(db.session, person.id)
    ledger = service.person_ledger(db.session, person.id)
    # Looking at (and printing) someone's consent record is itself worth a log entry.
    record(
        db.session,
        "view_consent_proof",
        entity_type="person",
        entity_id=person.id,
        summary=f"Person #{person.id}",
    )
    db.session.commit()
    return render_template(
        "newsletters/consent_proof.html",
        person=person,
        subs=subs,
        ledger=ledger,
        texts=list(
            {
                ct.id: ct
                for ct in [*(s.consent_text for s in subs), *(e.consent_text for e in ledger)]
                if ct is not None
            }.values()
        ),
        printed_at=utcnow(),
    )


# --- audiences -----------------------------------------------------------------------------------


@bp.get("/zielgruppen")
@require("newsletters.view")
def audience_index():
    rows = db.session.scalars(
        sa.select(Audience)
        .options(joinedload(Audience.newsletter_list), joinedload(Audience.contact_list))
        .order_by(Audience.name)
    ).all()
    return render_template("newsletters/audiences.html", audiences=rows)


def _audience_form(audience: Audience | None = None) -> AudienceForm:
    form = AudienceForm(obj=audience) if audience else AudienceForm()
    form.list_id.choices = _list_choices()
    lists = db.session.execute(
        sa.select(ContactList.id, ContactList.name).order_by(ContactList.name).limit(500)
    ).all()
    form.contact_list_id.choices = choices([(0, "–"), *((r.id, r.name) for r in lists)])
    values = audiences.filter_choices(db.session)
    stored = (audience.filter_spec or {}).get("org_kinds", []) if audience else []
    form.org_kinds.choices = choices(
        (k.key, k.label) for k in kinds.all_kinds(db.session) if k.active or k.key in stored
    )
    form.tags.choices = choices((t, t) for t in values["tags"])
    form.regions.choices = choices((r, r) for r in values["regions"])
    if audience and request.method == "GET":
        spec = audience.filter_spec or {}
        form.org_kinds.data = spec.get("org_kinds", [])
        form.tags.data = spec.get("tags", [])
        form.regions.data = spec.get("regions", [])
        form.contact_list_id.data = audience.contact_list_id or 0
    return form


def _spec_from(form: AudienceForm) -> dict[str, list[str]]:
    return audiences.clean_filter_spec(
        {
            "org_kinds": form.org_kinds.data or [],
            "tags": form.tags.data or [],
            "regions": form.regions.data or [],
        },
        kinds=kinds.kind_labels(db.session),
    )


def _save_audience(form: AudienceForm, audience: Audience) -> bool:
    if form.kind.data == "static" and not form.contact_list_id.data:
        form.contact_list_id.errors = [_("Please choose a contact list.")]
        return False
    try:
        spec = _spec_from(form) if form.kind.data == "filter" else {}
    except audiences.FilterSpecError as exc:
        form.org_kinds.errors = [str(exc)]
        return False
    audience.name = form.name.data.strip()
    audience.description = form.description.data or ""
    audience.list_id = form.list_id.data
    audience.kind = form.kind.data
    audience.contact_list_id = form.contact_list_id.data if form.kind.data == "static" else None
    audience.filter_spec = spec
    db.session.add(audience)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        form.name.errors = [_("An audience with this name exists already.")]
        return False
    db.session.commit()
    return True


@bp.route("/zielgruppen/neu", methods=["GET", "POST"])
@require("newsletters.edit")
def audience_new():
    form = _audience_form()
    if form.validate_on_submit() and _save_audience(form, Audience(created_by_id=current_user.id)):
        flash(_("Audience saved."), "success")
        return redirect(url_for(".audience_index"))
    return render_template("newsletters/audience_form.html", form=form, audience=None, count=None)


@bp.route("/zielgruppen/<int:audience_id>", methods=["GET", "POST"])
@require("newsletters.edit")
def audience_edit(audience_id: int):
    audience = _get_or_404(Audience, audience_id)
    form = _audience_form(audience)
    if form.validate_on_submit() and _save_audience(form, audience):
        flash(_("Audience saved."), "success")
        return redirect(url_for(".audience_index"))
    count = None
    if request.method == "GET":
        count = audiences.count_recipients(
            db.session, audiences.audience_recipients(db.session, audience)
        )
    return render_template(
        "newsletters/audience_form.html", form=form, audience=audience, count=count
    )


@bp.get("/zielgruppen/anzahl")
@require("newsletters.view")
def audience_count():
    """The recipient count for the audience form's current values: the live count (htmx), or
    without JavaScript a page of its own (linked from the list of audiences)."""
    args = request.args
    kind = args.get("kind", "subscribers")
    list_id = args.get("list_id", type=int)
    count: int | None = None
    error: str | None = None
    if kind in KIND_LABELS and list_id:
        try:
            spec = audiences.clean_filter_spec(
                {
                    "org_kinds": args.getlist("org_kinds"),
                    "tags": args.getlist("tags"),
                    "regions": args.getlist("regions"),
                },
                kinds=kinds.kind_labels(db.session),
            )
        except audiences.FilterSpecError as exc:
            error = str(exc)
        else:
            contact_list_id = args.get("contact_list_id", type=int) or None
            if kind != "static" or contact_list_id is not None:
                select = audiences.recipients_select(
                    list_id, kind, contact_list_id=contact_list_id, filter_spec=spec
                )
                count = audiences.count_recipients(db.session, select)
    if request.headers.get("HX-Request") == "true":
        return render_template("newsletters/_count.html", count=count, error=error)
    audience = db.session.get(Audience, args.get("zielgruppe", type=int) or 0)
    newsletter = db.session.get(NewsletterList, list_id) if list_id else None
    return render_template(
        "newsletters/audience_count.html",
        count=count,
        error=error,
        audience=audience,
        newsletter=newsletter,
    )


# --- templates -----------------------------------------------------------------------------------


@bp.get("/vorlagen")
@require("newsletters.view")
def template_index():
    rows = db.session.scalars(sa.select(NewsletterTemplate).order_by(NewsletterTemplate.name)).all()
    return render_template("newsletters/templates.html", templates=rows)


def _template_problems(form: TemplateForm) -> bool:
    """Put sandbox problems on the form fields; True if there were any."""
    draft = NewsletterTemplate(
        subject=form.subject.data or "",
        body_html=form.body_html.data or "",
        body_text=form.body_text.data or "",
    )
    fields = {"subject": form.subject, "html": form.body_html, "text": form.body_text}
    return put_template_problems(draft, fields)


@bp.route("/vorlagen/neu", methods=["GET", "POST"])
@bp.route("/vorlagen/<int:template_id>", methods=["GET", "POST"])
@require("newsletters.edit")
def template_edit(template_id: int | None = None):
    tpl = _get_or_404(NewsletterTemplate, template_id) if template_id else None
    form = TemplateForm(obj=tpl)
    if tpl is None and request.method == "GET":
        # A starter with the greeting and the unsubscribe link: an office writing its first
        # newsletter from empty fields easily leaves the link out.
        form.body_html.data = _(
            "<p>{{ anrede }},</p>\n<p>…</p>\n"
            '<p><a href="{{ webversion_link }}">Open in the browser</a> · '
            '<a href="{{ abmelde_link }}">Unsubscribe from {{ liste }}</a></p>'
        )
        form.body_text.data = _(
            "{{ anrede }},\n\n…\n\n--\nOpen in the browser: {{ webversion_link }}\n"
            "Unsubscribe from {{ liste }}: {{ abmelde_link }}"
        )
    if form.validate_on_submit() and not _template_problems(form):
        tpl = tpl or NewsletterTemplate(created_by_id=current_user.id)
        form.populate_obj(tpl)
        db.session.add(tpl)
        try:
            db.session.commit()
        except sa.exc.IntegrityError:
            db.session.rollback()
            form.name.errors = [_("A template with this name exists already.")]
        else:
            flash(_("Template saved."), "success")
            return redirect(url_for(".template_preview", template_id=tpl.id))
    return render_template(
        "newsletters/template_form.html", form=form, tpl=tpl, placeholders=PLACEHOLDERS
    )


def _preview_target(tpl: NewsletterTemplate) -> tuple[Person | None, NewsletterList | None]:
    lst = db.session.get(NewsletterList, request.args.get("liste", 0, type=int))
    if lst is None:
        lst = db.session.scalar(sa.select(NewsletterList).order_by(NewsletterList.id).limit(1))
    person = db.session.get(Person, request.args.get("person", 0, type=int))
    return person, lst


def _render_preview(tpl: NewsletterTemplate) -> tuple[RenderedMessage | None, str]:
    person, lst = _preview_target(tpl)
    try:
        if person is not None and lst is not None:
            return service.render_for_person(db.session, _settings(), tpl, person, lst), ""
        return render_for_recipient(tpl, sample_context()), ""
    except TemplateProblem as problem:
        return None, problem.message


@bp.get("/vorlagen/<int:template_id>/vorschau")
@require("newsletters.view")
def template_preview(template_id: int):
    tpl = _get_or_404(NewsletterTemplate, template_id)
    person, lst = _preview_target(tpl)
    rendered, problem = _render_preview(tpl)
    candidates: Sequence[Any] = []
    if lst is not None:
        candidates = db.session.execute(
            sa.select(Person.id, Person.first_name, Person.last_name, Person.email)
            .join(Subscription, Subscription.person_id == Person.id)
            .where(Subscription.list_id == lst.id)
            .order_by(Person.sort_name, Person.id)
            .limit(100)
        ).all()
    return render_template(
        "newsletters/template_preview.html",
        tpl=tpl,
        without_unsubscribe=parts_without_unsubscribe_link(tpl),
        rendered=rendered,
        problem=problem,
        person=person,
        lst=lst,
        lists=db.session.scalars(sa.select(NewsletterList).order_by(NewsletterList.name)).all(),
        candidates=candidates,
    )


@bp.get("/vorlagen/<int:template_id>/vorschau.html")
@require("newsletters.view")
def template_preview_html(template_id: int):
    tpl = _get_or_404(NewsletterTemplate, template_id)
    rendered, _problem = _render_preview(tpl)
    # A text-only or broken template still fills the frame with a whole (empty) document.
    body = (rendered.html if rendered else "") or html_document(
        "", title=rendered.subject if rendered else tpl.name
    )
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/vorlagen/<int:template_id>/testversand")
@require("newsletters.edit")
def template_test_send(template_id: int):
    tpl = _get_or_404(NewsletterTemplate, template_id)
    person, lst = _preview_target(tpl)
    if lst is None:
        flash(_("Create a newsletter first."), "danger")
        return redirect(url_for(".template_preview", template_id=tpl.id))
    send_test_to_me(tpl, person or stand_in(), lst)
    args: dict[str, Any] = {"person": request.args.get("person", type=int), "liste": lst.id}
    return redirect(url_for(".template_preview", template_id=tpl.id, **args))


# --- public pages --------------------------------------------------------------------------------


def _public_error(status: int, title: str, message: str):
    return render_template("_public_message.html", title=title, message=message), status


def _bad_link():
    return _public_error(
        400,
        _("Invalid link"),
        _("This link is invalid or incomplete. Please use the link from your e-mail unchanged."),
    )


def _expired_link(list_id: int | None = None):
    """An outdated confirmation link is an ordinary answer, not an error: it happens to anyone
    who signed up twice or waited too long. It leads back to the list's sign-up form when the
    link names a list that still takes sign-ups."""
    lst = db.session.get(NewsletterList, list_id) if list_id is not None else None
    link = None
    if lst is not None and lst.public_signup:
        link = (url_for("newsletters.signup", slug=lst.slug), _("Sign up again"))
    page = render_template(
        "_public_message.html",
        title=_("This link has expired"),
        message=_(
            "This confirmation link is no longer valid: only the link in the most recent "
            "confirmation e-mail confirms a subscription, and only for a limited time. "
            "Please sign up again."
        ),
        link=link,
    )
    return page, 200


def _gone_link():
    # A genuine link whose record is gone (erased, or the person merged away): say so plainly
    # instead of "invalid", and never act on whoever else holds that id now.
    return _public_error(
        410,
        _("Link no longer valid"),
        _(
            "The data this link was made for has been deleted. "
            "No further e-mails will be sent to you through it."
        ),
    )


@bp.route("/anmelden/<slug>", methods=["GET", "POST"])
@public
@csrf.exempt
def signup(slug: str):
    """Public sign-up form (double opt-in step 1).

    CSRF-exempt so partner websites can embed the plain HTML form (the page itself may not be
    framed: frame-ancestors stays 'none'). A forged cross-site POST can do nothing an attacker
    could not do by posting here directly: there is no session to abuse, every sign-up needs
    the confirmation link from the mailbox, and honeypot and per-IP limit apply to all.
    """
    lst = service.get_list_by_slug(db.session, slug)
    if lst is None or not lst.public_signup:
        abort(404)
    form = SignupForm()
    consent = service.current_consent_text(db.session, lst.id)
    if request.method == "POST":
        now = utcnow()
        ip = _client_ip()
        cfg = current_app.config
        policy = service.SignupPolicy(
            window=timedelta(minutes=int(cfg.get("CRM_NEWSLETTER_SIGNUP_WINDOW_MINUTES", 60))),
            max_per_ip=int(cfg.get("CRM_NEWSLETTER_SIGNUP_MAX_PER_IP", 5)),
        )
        if service.signup_throttled(db.session, ip, policy, now):
            # The form comes back filled in, with the reason above it: nothing to type twice.
            notice = (
                _("Too many sign-ups"),
                _(
                    "Too many sign-ups came from your network. Your details are still in the "
                    "form below: please send it again later."
                ),
            )
            page = render_template(
                "newsletters/signup.html", lst=lst, form=form, consent=consent, notice=notice
            )
            return page, 429
        service.record_signup_attempt(db.session, ip, now)
        if form.website.data:
            # A bot filled the honeypot: answer exactly as for a real sign-up, do nothing else.
            db.session.commit()
            return _signup_done(lst)
        if form.validate():
            try:
                result = service.request_subscription(
                    db.session,
                    lst,
                    email=form.email.data,
                    first_name=form.first_name.data or "",
                    last_name=form.last_name.data or "",
                    salutation=form.salutation.data or "",
                    ip=ip,
                    user_agent=_user_agent(),
                    now=now,
                )
            except service.NewsletterError as exc:
                form.email.errors = [*form.email.errors, str(exc)]
            else:
                _queue_signup_mail(result, lst)
                db.session.commit()
                return _signup_done(lst)
        # A form sent back with typing errors stored and mailed nothing, so it does not count
        # toward the network's limit: a class on one Wi-Fi correcting its entries would
        # otherwise be locked out. Expired tokens and the honeypot above still count.
        db.session.rollback()
    return render_template("newsletters/signup.html", lst=lst, form=form, consent=consent)


def _signup_done(lst: NewsletterList) -> str:
    """The page after a sign-up (the same whatever happened, see `signup`)."""
    hours = int(_settings().confirm_max_age.total_seconds() // 3600)
    return render_template("newsletters/signup_done.html", lst=lst, hours=hours)


def _queue_signup_mail(result: service.SignupResult, lst: NewsletterList) -> None:
    # Queued in the sign-up's own transaction: the page never waits for (or depends on) a
    # relay, and the sender retries while the relay is down. The page looks the same either
    # way; an address no message can be built for is only logged (the sign-up row shows it).
    try:
        service.queue_signup_mail(db.session, _settings(), result, lst)
    except ValueError as exc:
        log.warning("newsletter sign-up mail for list %s cannot be built: %s", lst.id, exc)


@bp.get("/bestaetigen/<token>")
@public
def confirm(token: str):
    """Shows a button instead of confirming on GET: mail scanners fetch every link."""
    try:
        signup = service.peek_confirmation(db.session, _settings(), token)
    except service.BadToken as exc:
        return _expired_link(exc.list_id) if exc.expired else _bad_link()
    return render_template(
        "newsletters/confirm.html",
        lst=signup.newsletter_list,
        token=token,
        done=signup.confirmed_at is not None,
    )


@bp.post("/bestaetigen/<token>")
@public
def confirm_post(token: str):
    try:
        sub = service.confirm_subscription(
            db.session, _settings(), token, ip=_client_ip(), user_agent=_user_agent()
        )
    except service.BadToken as exc:
        db.session.rollback()
        return _expired_link(exc.list_id) if exc.expired else _bad_link()
    db.session.commit()
    return render_template(
        "newsletters/confirm.html", lst=sub.newsletter_list, token=token, done=True
    )


def _unsubscribe_target(token: str) -> tuple[int, NewsletterList] | Response:
    """(person id, list) of a valid unsubscribe link, or the page to answer with."""
    try:
        person_id, list_id, nonce = service.read_unsubscribe_token(_settings(), token)
    except service.BadToken:
        return make_response(_bad_link())
    lst = db.session.get(NewsletterList, list_id)
    if lst is None or service.person_for_token(db.session, person_id, nonce) is None:
        return make_response(_gone_link())
    return person_id, lst


@bp.get("/abmelden/<token>")
@public
def unsubscribe(token: str):
    target = _unsubscribe_target(token)
    if not isinstance(target, tuple):
        return target
    return render_template("newsletters/unsubscribe.html", lst=target[1], token=token, done=False)


@bp.post("/abmelden/<token>")
@public
@csrf.exempt
def unsubscribe_post(token: str):
    """One-click unsubscribe (RFC 8058) and the button of the GET page.

    CSRF-exempt by necessity: mail programs POST "List-Unsubscribe=One-Click" without any
    session or form token. The signed token (per person and list, made with SECRET_KEY) is the
    authorisation; it cannot be derived from an e-mail address, and the only thing it can do is
    withdraw that person's consent for that list, which anybody holding the mail may do anyway.
    """
    target = _unsubscribe_target(token)
    if not isinstance(target, tuple):
        return target
    person_id, lst = target
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    service.unsubscribe(
        db.session,
        person_id,
        lst.id,
        channel="one_click" if one_click else "unsubscribe_link",
        ip=_client_ip(),
        user_agent=_user_agent(),
        campaign_id=request.args.get("kampagne", type=int),
    )
    db.session.commit()
    return render_template("newsletters/unsubscribe.html", lst=lst, token=token, done=True)


@bp.get("/web/<token>")
@public
def webversion(token: str):
    """A campaign as a web page for one recipient (the "web version" link)."""
    settings = _settings()
    try:
        campaign_id, person_id, nonce = service.read_webversion_token(settings, token)
    except service.BadToken:
        return _bad_link()
    campaign = db.session.get(Campaign, campaign_id)
    person = service.person_for_token(db.session, person_id, nonce)
    if campaign is None or person is None:
        return _gone_link()
    try:
        rendered = service.render_for_person(
            db.session,
            settings,
            campaign,
            person,
            campaign.newsletter_list,
            campaign_id=campaign.id,
        )
    except TemplateProblem:
        abort(404)
    # A text-only campaign shows its text, as a whole document like every HTML part.
    body = rendered.html or html_document(
        f'<pre style="white-space: pre-wrap">{escape(rendered.text)}</pre>',
        title=rendered.subject,
    )
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
