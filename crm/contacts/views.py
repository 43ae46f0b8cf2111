"""Contacts pages: organisations, people, activities, search, export, merge."""

from __future__ import annotations

import io
from datetime import datetime
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
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape

from crm.accounts.forms import ActionForm
from crm.accounts.models import User
from crm.accounts.service import assignable_users
from crm.audit.service import record
from crm.contacts import kinds, related, service
from crm.contacts.countries import DEFAULT_COUNTRY, country_codes, country_name
from crm.contacts.export import iter_csv, write_xlsx
from crm.contacts.forms import (
    ACTIVITY_KIND_LABELS,
    LANGUAGE_LABELS,
    QUALIFICATION_LEVEL_LABELS,
    SALUTATION_LABELS,
    SIZE_CLASS_LABELS,
    ActivityForm,
    AffiliationForm,
    MergeForm,
    NeedForm,
    OrganisationForm,
    OrganisationKindForm,
    PersonForm,
)
from crm.contacts.import_views import bp as import_bp
from crm.contacts.list_views import bp as lists_bp
from crm.contacts.models import (
    Activity,
    Affiliation,
    Organisation,
    OrganisationKind,
    Person,
    QualificationNeed,
)
from crm.database import db_int, int_in_range, utcnow
from crm.extensions import db
from crm.followups import service as followups
from crm.forms import choices
from crm.intake.conversion import inquiries_of
from crm.newsletters.forms import STATUS_LABELS as SUBSCRIPTION_STATUS_LABELS
from crm.placements import service as placements
from crm.placements.forms import firm_support_form
from crm.security import has_permission, is_safe_next, require, writes_on_get
from crm.signals import MergeImpact

bp = Blueprint("contacts", __name__, url_prefix="/kontakte")
# Nested once at import time: several apps (tests) register `bp` afterwards.
bp.register_blueprint(import_bp)
bp.register_blueprint(lists_bp)

BERLIN = ZoneInfo("Europe/Berlin")
PER_PAGE_CHOICES = (25, 50, 100)
TIMELINE_PER_PAGE = 25
NO_CONTACT_PRESET = 90

ORG_COLUMNS = (
    ("name", _l("Name")),
    ("kind", _l("Kind")),
    ("city", _l("Town")),
    (None, _l("Tags")),
    (None, _l("Responsible")),
    ("last_contact", _l("Last contact")),
)
PERSON_COLUMNS = (
    ("name", _l("Name")),
    (None, _l("Organisations")),
    ("email", _l("E-mail address")),
    (None, _l("Tags")),
    (None, _l("Responsible")),
    ("last_contact", _l("Last contact")),
)
EXPORT_HEADERS = {
    "id": _l("No."),
    "name": _l("Name"),
    "kind": _l("Kind"),
    "sector": _l("Sector"),
    "size_class": _l("Size"),
    "region": _l("Region or district"),
    "street": _l("Street"),
    "postcode": _l("Postcode"),
    "city": _l("Town"),
    "country": _l("Country"),
    "phone": _l("Phone"),
    "email": _l("E-mail address"),
    "email_alt": _l("Second e-mail address"),
    "website": _l("Website"),
    "tags": _l("Tags"),
    "owner": _l("Responsible"),
    "last_contact_at": _l("Last contact"),
    "notes": _l("Notes"),
    "salutation": _l("Salutation"),
    "title": _l("Title"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "mobile": _l("Mobile"),
    "language": _l("Preferred language"),
    "organisations": _l("Organisations"),
}


DUPLICATE_REASONS = {
    "email": _l("same e-mail address"),
    "name_at_organisation": _l("same name at the same organisation"),
    "name_and_postcode": _l("same name and postcode"),
    "phone": _l("same phone number"),
}


def country_label(code: str | None) -> str:
    """The country's name in the page's language ("Lettland")."""
    return country_name(code, str(get_locale() or "de"))


@bp.context_processor
def _labels() -> dict[str, Any]:
    imports = "contacts.imports.index"
    return {
        "contacts_import_url": url_for(imports) if imports in current_app.view_functions else None,
        "DUPLICATE_REASONS": DUPLICATE_REASONS,
        "ORG_KIND_LABELS": kinds.LazyKindLabels(lambda: db.session),
        "country_label": country_label,
        "SALUTATION_LABELS": SALUTATION_LABELS,
        "ACTIVITY_KIND_LABELS": ACTIVITY_KIND_LABELS,
        "QUALIFICATION_LEVEL_LABELS": QUALIFICATION_LEVEL_LABELS,
        "SIZE_CLASS_LABELS": SIZE_CLASS_LABELS,
        "LANGUAGE_LABELS": LANGUAGE_LABELS,
        "SUBSCRIPTION_STATUS_LABELS": SUBSCRIPTION_STATUS_LABELS,
    }


# --- helpers ----------------------------------------------------------------------------------


def _is_htmx_partial() -> bool:
    """An htmx request for the results only (a history restore wants the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def _list_args() -> tuple[service.ListFilters, int, int]:
    """Filters, page and page size from the query string (German parameter names)."""
    return list_args_from(request.args)


def list_args_from(args: Any) -> tuple[service.ListFilters, int, int]:
    """Filters, page and page size from list-page parameters (a MultiDict)."""
    owner = args.get("zustaendig", type=int)
    days = args.get("ohne_kontakt", type=int)
    kind = args.get("art", "")
    country = args.get("land", "").strip().upper()
    filters = service.ListFilters(
        q=args.get("q", "").strip()[:200],
        kind=kind if kind and kind in kinds.kind_labels(db.session) else "",
        country=country if country in country_codes() else "",
        region=args.get("region", "").strip()[:120],
        tag=args.get("schlagwort", "").strip()[:80],
        owner_id=owner if owner and owner > 0 and int_in_range(owner) else None,
        no_contact_days=days if days and 0 < days < 100_000 else None,
        sort=args.get("sortierung", "name"),
        direction="desc" if args.get("richtung") == "desc" else "asc",
    )
    per_page = args.get("pro_seite", 25, type=int)
    if per_page not in PER_PAGE_CHOICES:
        per_page = PER_PAGE_CHOICES[0]
    page = max(args.get("seite", 1, type=int) or 1, 1)
    return filters, page, per_page


def _owner_choices() -> list:
    users = db.session.scalars(
        sa.select(User).where(User.is_active_flag.is_(True)).order_by(User.display_name)
    ).all()
    return choices([(0, _("— none —"))] + [(u.id, u.display_name) for u in users])


def _activity_user_choices() -> list:
    """Who may be named as having held a contact: the follow-up pickers' rule, with the
    permission that logging an activity needs (read-only accounts are not offered)."""
    users = assignable_users(db.session, "contacts.edit")
    return choices([(0, _("— none —"))] + [(u.id, u.display_name) for u in users])


def _active_users() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User).where(User.is_active_flag.is_(True)).order_by(User.display_name)
        )
    )


def _org_or_404(org_id: int) -> Organisation:
    org = service.get_organisation(db.session, org_id)
    if org is None:
        abort(404)
    return org


def _person_or_404(person_id: int) -> Person:
    person = service.get_person(db.session, person_id)
    if person is None:
        abort(404)
    return person


def _get_or_404(model: Any, record_id: int) -> Any:
    obj = db.session.get(model, record_id)
    if obj is None:
        abort(404)
    return obj


def _require_action_form() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


def _back(default: str) -> Any:
    target = request.form.get("next") or request.args.get("next")
    return redirect(target if is_safe_next(target) else default)


def _page_arg() -> int:
    return max(request.args.get("seite", 1, type=int) or 1, 1)


# --- lists ------------------------------------------------------------------------------------

# Searches count their hits up to this number; beyond it the page says "more than 1,000".
SEARCH_COUNT_LIMIT = 1000
# Lists count up to this number ("mehr als 10.000" above it): an exact count reads the whole
# table on PostgreSQL on every page view and so grows with it; a capped one stops at the cap.
LIST_COUNT_LIMIT = 10_000


def _detail_href(endpoint: str, argument: str) -> str:
    """The detail pages' URL up to the record id: "/kontakte/organisationen/".

    A list page links every row (and a person's organisations); one url_for for all of them
    instead of one per link, which was a noticeable share of rendering a page.
    """
    values: dict[str, Any] = {argument: 1}
    href = url_for(endpoint, **values)
    assert href.endswith("/1")  # the id is the last path segment
    return href[:-1]


def _render_list(kind: str) -> Any:
    filters, page, per_page = _list_args()
    options: tuple[Any, ...]
    columns: tuple[Any, ...]
    if kind == "organisations":
        model, options, columns = Organisation, service.ORG_LIST_OPTIONS, ORG_COLUMNS
    else:
        model, options, columns = Person, service.PERSON_LIST_OPTIONS, PERSON_COLUMNS
    count_limit = SEARCH_COUNT_LIMIT if filters.q.strip() else LIST_COUNT_LIMIT
    rows, total = service.list_page(
        db.session,
        model,
        filters,
        page=page,
        per_page=per_page,
        options=options,
        count_limit=count_limit,
    )
    context = {
        "count_limit": count_limit,
        "capped": total > count_limit,
        "kind": kind,
        "endpoint": f"contacts.{kind}",
        "rows": rows,
        "total": total,
        "page": page,
        "per_page": per_page,
        "filters": filters,
        "columns": columns,
        "args": request.args.to_dict(),
        "organisation_href": _detail_href("contacts.organisation_detail", "org_id"),
        "person_href": _detail_href("contacts.person_detail", "person_id"),
    }
    if _is_htmx_partial():
        response = Response(render_template("contacts/_results.html", oob=True, **context))
    else:
        response = Response(
            render_template(
                "contacts/list.html",
                regions=service.distinct_regions(db.session),
                countries=service.distinct_countries(db.session),
                tags=service.tag_names(db.session),
                users=_active_users(),
                per_page_choices=PER_PAGE_CHOICES,
                no_contact_preset=NO_CONTACT_PRESET,
                **context,
            )
        )
    # The same URL answers with a page or a fragment: caches must keep them apart.
    response.vary.add("HX-Request")
    return response


@bp.route("/")
@require("contacts.view")
def index():
    return redirect(url_for("contacts.organisations"))


@bp.route("/organisationen")
@require("contacts.view")
def organisations():
    return _render_list("organisations")


@bp.route("/personen")
@require("contacts.view")
def people():
    return _render_list("people")


# --- export -----------------------------------------------------------------------------------


def _export(kind: str, fmt: str) -> Any:
    filters, _page, _per_page = _list_args()
    if kind == "organisations":
        stmt = service.organisation_query(db.session, filters)
    else:
        stmt = service.person_query(db.session, filters)
    return export_response(kind, fmt, stmt)


def export_response(kind: str, fmt: str, stmt: sa.Select, *, note: str = "") -> Any:
    """The download of `stmt`'s organisations or people as csv, xlsx or vcf, audited.

    Also the export of a bulk selection (crm.bulk), so both share one neutralised format.
    """
    fields: tuple[Any, ...]
    if kind == "organisations":
        fields, rows_of, entity = (
            service.ORG_EXPORT_FIELDS,
            service.organisation_rows,
            "organisation",
        )
        sheet = _("Organisations")
    else:
        fields, rows_of, entity = service.PERSON_EXPORT_FIELDS, service.person_rows, "person"
        sheet = _("People")
    total = service.count_of(db.session, stmt)
    record(db.session, "export", entity_type=entity, summary=f"{total} rows ({fmt}){note}")
    db.session.commit()
    headers = [str(EXPORT_HEADERS[f]) for f in fields]
    stem = "organisationen" if kind == "organisations" else "personen"
    filename = f"{stem}-{datetime.now(BERLIN):%Y-%m-%d}.{fmt}"
    if fmt == "vcf":
        cards = service.person_cards(db.session, stmt, today=datetime.now(BERLIN).date())
        response = Response(
            stream_with_context(card.encode("utf-8") for card in cards),
            content_type="text/vcard; charset=utf-8",
        )
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    if fmt == "csv":
        response = Response(
            stream_with_context(iter_csv(headers, rows_of(db.session, stmt))),
            mimetype="text/csv",
        )
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    out = io.BytesIO()
    write_xlsx(headers, rows_of(db.session, stmt), out, sheet_title=sheet)
    out.seek(0)
    return send_file(
        out,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename,
    )


@bp.route("/organisationen/export.<any(csv, xlsx):fmt>")
@require("contacts.export")
@writes_on_get
def organisations_export(fmt: str):
    return _export("organisations", fmt)


@bp.route("/personen/export.<any(csv, xlsx, vcf):fmt>")
@require("contacts.export")
@writes_on_get
def people_export(fmt: str):
    return _export("people", fmt)


def _related_modules() -> set[str]:
    """The related-record sections of a record page the current user may see."""
    return {
        m
        for m in ("followups", "events", "newsletters")
        if has_permission(current_user, f"{m}.view")
    }


# --- organisation pages ---------------------------------------------------------------------


def _render_org_detail(org_id: int, need_form: NeedForm | None = None, status: int = 200):
    found = service.organisation_page(db.session, org_id)
    if found is None:
        abort(404)
    org, people = found
    page = _page_arg()
    timeline, total = service.organisation_timeline(
        db.session,
        org.id,
        page=page,
        per_page=TIMELINE_PER_PAGE,
        person_ids=[p.person_id for p in people],
    )
    return (
        render_template(
            "contacts/organisation_detail.html",
            org=org,
            people=people,
            timeline=timeline,
            timeline_total=total,
            hidden_notes=followups.hidden_done_notes(db.session, current_user, timeline),
            page=page,
            per_page=TIMELINE_PER_PAGE,
            need_form=need_form or NeedForm(formdata=None),
            action_form=ActionForm(),
            related=related.organisation_related(
                db.session, current_user, org.id, utcnow(), modules=_related_modules()
            ),
            # Placements are participants' data: only for those who may see participants.
            firm_placements=placements.organisation_placements(db.session, current_user, org.id)
            if has_permission(current_user, "participants.view")
            else None,
            fs=(fs := placements.firm_support(db.session, org.id)),
            fs_form=firm_support_form(fs),
        ),
        status,
    )


@bp.route("/organisationen/<int:org_id>")
@require("contacts.view")
def organisation_detail(org_id: int):
    return _render_org_detail(org_id)


def _kind_choices(form: OrganisationForm, current: str | None = None) -> None:
    """The active kinds; an organisation keeps its own kind even after it was deactivated."""
    pairs = [(k.key, k.label) for k in kinds.all_kinds(db.session) if k.active or k.key == current]
    form.kind.choices = choices(pairs)


def _org_data(form: OrganisationForm) -> dict[str, Any]:
    data = {
        name: getattr(form, name).data or "" for name in service.ORG_FIELDS if name != "owner_id"
    }
    data["owner_id"] = form.owner_id.data or None
    data["postcode"] = (form.postcode.data or "").strip()
    data["tags"] = service.parse_tags(form.tags.data)
    return data


@bp.route("/organisationen/neu", methods=["GET", "POST"])
@require("contacts.edit")
def organisation_new():
    form = OrganisationForm()
    form.owner_id.choices = _owner_choices()
    _kind_choices(form)
    if request.method == "GET":
        form.owner_id.data = current_user.id
    duplicates: list[service.DuplicateHit] = []
    if form.validate_on_submit():
        data = _org_data(form)
        if not form.confirm.data:
            duplicates = service.find_organisation_duplicates(
                db.session,
                name=data["name"],
                postcode=data["postcode"],
                email=data["email"],
                phone=data["phone"],
                country=data["country"] or DEFAULT_COUNTRY,
            )
        if not duplicates:
            org = service.save_organisation(db.session, data)
            db.session.commit()
            flash(_("The organisation has been created."), "success")
            return redirect(url_for("contacts.organisation_detail", org_id=org.id))
    return render_template(
        "contacts/organisation_form.html", form=form, org=None, duplicates=duplicates
    )


@bp.route("/organisationen/<int:org_id>/bearbeiten", methods=["GET", "POST"])
@require("contacts.edit")
def organisation_edit(org_id: int):
    org = _org_or_404(org_id)
    form = OrganisationForm(obj=org)
    form.owner_id.choices = _owner_choices()
    _kind_choices(form, org.kind)
    if request.method == "GET":
        form.owner_id.data = org.owner_id or 0
        form.tags.data = ", ".join(t.name for t in org.tags)
    if form.validate_on_submit():
        service.save_organisation(db.session, _org_data(form), org)
        db.session.commit()
        flash(_("The organisation has been saved."), "success")
        return redirect(url_for("contacts.organisation_detail", org_id=org.id))
    return render_template("contacts/organisation_form.html", form=form, org=org, duplicates=[])


@bp.route("/organisationen/<int:org_id>/loeschen", methods=["GET", "POST"])
@require("contacts.edit")
def organisation_delete(org_id: int):
    org = _org_or_404(org_id)
    status = 200
    if request.method == "POST":
        _require_action_form()
        try:
            service.delete_organisation(db.session, org, user=current_user)
        except service.DeleteRefusedError:
            db.session.rollback()
            status = 403
        else:
            db.session.commit()
            flash(_("The organisation has been deleted."), "success")
            return redirect(url_for("contacts.organisations"))
    return render_template(
        "contacts/confirm_delete.html",
        title=org.name,
        cancel_url=url_for("contacts.organisation_detail", org_id=org.id),
        form=ActionForm(),
        blockers=service.delete_blockers(db.session, "organisation", org.id, current_user),
    ), status


@bp.route("/organisationen/<int:org_id>/bedarf", methods=["POST"])
@require("contacts.edit")
def need_add(org_id: int):
    org = _org_or_404(org_id)
    form = NeedForm()
    if not form.validate_on_submit():
        return _render_org_detail(org.id, need_form=form, status=400)
    service.add_need(
        db.session,
        org,
        occupation=form.occupation.data.strip(),
        count=form.count.data,
        needed_since=form.needed_since.data,
        surveyed_on=form.surveyed_on.data,
        required_language_level=form.required_language_level.data or "",
        qualification_level=form.qualification_level.data or "",
        note=form.note.data or "",
    )
    db.session.commit()
    flash(_("The qualification need has been added."), "success")
    return redirect(url_for("contacts.organisation_detail", org_id=org.id) + "#bedarf")


@bp.route("/bedarfe/<int:need_id>/loeschen", methods=["POST"])
@require("contacts.edit")
def need_delete(need_id: int):
    _require_action_form()
    need = _get_or_404(QualificationNeed, need_id)
    org_id = need.organisation_id
    service.delete_need(db.session, need)
    db.session.commit()
    flash(_("The qualification need has been deleted."), "success")
    return redirect(url_for("contacts.organisation_detail", org_id=org_id) + "#bedarf")


# --- person pages ---------------------------------------------------------------------------


@bp.route("/personen/<int:person_id>")
@require("contacts.view")
def person_detail(person_id: int):
    person = _person_or_404(person_id)
    return _render_person_detail(person)


def _render_person_detail(person: Person, aff_form: AffiliationForm | None = None, status=200):
    page = _page_arg()
    timeline, total = service.person_timeline(
        db.session, person.id, page=page, per_page=TIMELINE_PER_PAGE
    )
    return (
        render_template(
            "contacts/person_detail.html",
            person=person,
            timeline=timeline,
            timeline_total=total,
            hidden_notes=followups.hidden_done_notes(db.session, current_user, timeline),
            page=page,
            per_page=TIMELINE_PER_PAGE,
            aff_form=aff_form or AffiliationForm(formdata=None),
            action_form=ActionForm(),
            related=related.person_related(
                db.session, current_user, person.id, utcnow(), modules=_related_modules()
            ),
            source_inquiries=inquiries_of(db.session, current_user, person_id=person.id),
            onboarding=placements.onboarding_roles(db.session, current_user, person.id),
        ),
        status,
    )


def _person_data(form: PersonForm) -> dict[str, Any]:
    data = {
        name: getattr(form, name).data or "" for name in service.PERSON_FIELDS if name != "owner_id"
    }
    data["owner_id"] = form.owner_id.data or None
    data["tags"] = service.parse_tags(form.tags.data)
    return data


@bp.route("/personen/neu", methods=["GET", "POST"])
@require("contacts.edit")
def person_new():
    form = PersonForm()
    form.owner_id.choices = _owner_choices()
    if request.method == "GET":
        form.owner_id.data = current_user.id
        preset = request.args.get("organisation", type=int)
        org = db.session.get(Organisation, preset) if preset else None
        if org is not None:
            form.organisation.data = org.name
            form.organisation_id.data = str(org.id)
    duplicates: list[service.DuplicateHit] = []
    if form.validate_on_submit():
        org = _picked_organisation(form.organisation, form.organisation_id)
        if not form.organisation.errors:
            data = _person_data(form)
            if not form.confirm.data:
                duplicates = service.find_person_duplicates(
                    db.session,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    emails=[data["email"], data["email_alt"]],
                    phones=[data["phone"], data["mobile"]],
                    country=data["country"] or DEFAULT_COUNTRY,
                    organisation_id=org.id if org else None,
                )
            if not duplicates:
                person = service.save_person(db.session, data)
                if org is not None:
                    service.add_affiliation(
                        db.session, person, org, function=form.function.data or ""
                    )
                db.session.commit()
                flash(_("The person has been created."), "success")
                return redirect(url_for("contacts.person_detail", person_id=person.id))
    return render_template(
        "contacts/person_form.html", form=form, person=None, duplicates=duplicates
    )


def _organisation_not_found(matches: int) -> str:
    if matches > 1:
        return _("Several organisations match; please enter the number or the exact name.")
    return _("No organisation with this name or number was found.")


def _picked_organisation(text_field: Any, id_field: Any) -> Organisation | None:
    """The organisation an organisation picker means (None if empty or with an error added).

    The chosen id counts while the text shows its name; otherwise the typed name or number
    must find one organisation (the no-JavaScript way). The found one is written back into
    both fields, so a form shown again (e.g. with a duplicate warning) keeps the choice.
    """
    if not (text_field.data or "").strip():
        id_field.data = ""
        return None
    org, matches = service.picked_organisation(db.session, id_field.data, text_field.data)
    if org is None:
        text_field.errors.append(_organisation_not_found(matches))
        return None
    text_field.data = org.name
    id_field.data = str(org.id)
    return org


@bp.route("/personen/<int:person_id>/bearbeiten", methods=["GET", "POST"])
@require("contacts.edit")
def person_edit(person_id: int):
    person = _person_or_404(person_id)
    form = PersonForm(obj=person)
    form.owner_id.choices = _owner_choices()
    if request.method == "GET":
        form.owner_id.data = person.owner_id or 0
        form.tags.data = ", ".join(t.name for t in person.tags)
    if form.validate_on_submit():
        service.save_person(db.session, _person_data(form), person)
        db.session.commit()
        flash(_("The person has been saved."), "success")
        return redirect(url_for("contacts.person_detail", person_id=person.id))
    return render_template("contacts/person_form.html", form=form, person=person, duplicates=[])


@bp.route("/personen/<int:person_id>/loeschen", methods=["GET", "POST"])
@require("contacts.edit")
def person_delete(person_id: int):
    person = _person_or_404(person_id)
    if request.method == "POST":
        _require_action_form()
        service.delete_person(db.session, person)
        db.session.commit()
        flash(_("The person has been deleted."), "success")
        return redirect(url_for("contacts.people"))
    return render_template(
        "contacts/confirm_delete.html",
        title=person.full_name,
        cancel_url=url_for("contacts.person_detail", person_id=person.id),
        form=ActionForm(),
    )


@bp.route("/personen/<int:person_id>/zugehoerigkeit", methods=["POST"])
@require("contacts.edit")
def affiliation_add(person_id: int):
    person = _person_or_404(person_id)
    form = AffiliationForm()
    if form.validate_on_submit():
        org = _picked_organisation(form.organisation, form.organisation_id)
        if org is not None:
            service.add_affiliation(
                db.session,
                person,
                org,
                function=form.function.data or "",
                since=form.since.data,
                until=form.until.data,
            )
            db.session.commit()
            flash(_("The organisation has been linked."), "success")
            return redirect(url_for("contacts.person_detail", person_id=person.id))
    return _render_person_detail(person, aff_form=form, status=400)


@bp.route("/zugehoerigkeiten/<int:aff_id>/loeschen", methods=["POST"])
@require("contacts.edit")
def affiliation_delete(aff_id: int):
    _require_action_form()
    aff = _get_or_404(Affiliation, aff_id)
    person_id = aff.person_id
    service.remove_affiliation(db.session, aff)
    db.session.commit()
    flash(_("The link to the organisation has been removed."), "success")
    return _back(url_for("contacts.person_detail", person_id=person_id))


@bp.route("/personen/<int:person_id>/vcard")
@require("contacts.export")
@writes_on_get
def person_vcard_download(person_id: int):
    person = _person_or_404(person_id)
    text = service.person_card(person, today=datetime.now(BERLIN).date())
    record(db.session, "export", entity_type="person", entity_id=person.id, summary="vCard")
    db.session.commit()
    response = Response(text.encode("utf-8"), content_type="text/vcard; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="kontakt-{person.id}.vcf"'
    return response


# --- activities -----------------------------------------------------------------------------


def _activity_page(subject: Organisation | Person, kind: str) -> Any:
    form = ActivityForm()
    form.user_id.choices = _activity_user_choices()
    if request.method == "GET":
        now = datetime.now(BERLIN)
        form.day.data = now.date()
        form.time.data = now.time().replace(second=0, microsecond=0)
        form.user_id.data = current_user.id
        form.kind.data = request.args.get("art", "call")
    detail = (
        url_for("contacts.organisation_detail", org_id=subject.id)
        if kind == "organisation"
        else url_for("contacts.person_detail", person_id=subject.id)
    )
    if form.validate_on_submit():
        when = datetime.combine(form.day.data, form.time.data, tzinfo=BERLIN)
        service.log_activity(
            db.session,
            kind=form.kind.data,
            occurred_at=when,
            user_id=form.user_id.data or None,
            subject=form.subject.data,
            text=form.text.data or "",
            duration_minutes=form.duration_minutes.data,
            person=subject if kind == "person" else None,
            organisation=subject if kind == "organisation" else None,
        )
        db.session.commit()
        flash(_("The activity has been logged."), "success")
        return redirect(detail + "#verlauf")
    return render_template(
        "contacts/activity_form.html", form=form, subject=subject, kind=kind, detail_url=detail
    ), (400 if form.errors else 200)


@bp.route("/organisationen/<int:org_id>/aktivitaet", methods=["GET", "POST"])
@require("contacts.edit")
def organisation_activity(org_id: int):
    return _activity_page(_get_or_404(Organisation, org_id), "organisation")


@bp.route("/personen/<int:person_id>/aktivitaet", methods=["GET", "POST"])
@require("contacts.edit")
def person_activity(person_id: int):
    return _activity_page(_get_or_404(Person, person_id), "person")


@bp.route("/aktivitaeten/<int:activity_id>/loeschen", methods=["POST"])
@require("contacts.edit")
def activity_delete(activity_id: int):
    _require_action_form()
    activity = _get_or_404(Activity, activity_id)
    if activity.organisation_id:
        default = url_for("contacts.organisation_detail", org_id=activity.organisation_id)
    else:
        default = url_for("contacts.person_detail", person_id=activity.person_id)
    service.delete_activity(db.session, activity)
    db.session.commit()
    flash(_("The activity has been deleted."), "success")
    return _back(default)


# --- merge ----------------------------------------------------------------------------------

# (model, getter, merge function) per kind: organisations and people differ in all three.
_MERGE: dict[str, tuple[Any, Any, Any]] = {
    "organisation": (Organisation, service.get_organisation, service.merge_organisations),
    "person": (Person, service.get_person, service.merge_people),
}


def _merge_choose(kind: str, record_id: int) -> Any:
    model, getter, _merge = _MERGE[kind]
    current = getter(db.session, record_id)
    if current is None:
        abort(404)
    q = request.args.get("q", "").strip()[:200]
    candidates = (
        [r for r in service.find_records(db.session, model, q) if r.id != current.id] if q else []
    )
    return render_template(
        "contacts/merge_choose.html", kind=kind, current=current, q=q, candidates=candidates
    )


def _merge_confirm(kind: str, record_id: int, other_id: int) -> Any:
    model, getter, merge = _MERGE[kind]
    if record_id == other_id:
        abort(404)
    current, other = getter(db.session, record_id), getter(db.session, other_id)
    if current is None or other is None:
        abort(404)
    form = MergeForm()
    form.keep.choices = choices([(current.id, f"#{current.id}"), (other.id, f"#{other.id}")])
    # Either record may be the one kept, so warn about both directions.
    blocked_by_keep = {
        keep_id: service.merge_blockers(db.session, kind, keep_id, drop_id, current_user)
        for keep_id, drop_id in ((current.id, other.id), (other.id, current.id))
    }
    blockers = {str(i.message): i for found in blocked_by_keep.values() for i in found}
    # Often only one direction is refused (the other record holds the participants' data):
    # offer that one instead of a button that can only answer 403.
    allowed_keeps = [keep_id for keep_id, found in blocked_by_keep.items() if not found]
    if request.method == "GET":
        form.keep.data = (
            current.id if current.id in allowed_keeps or not allowed_keeps else other.id
        )
    status = 200
    if form.validate_on_submit():
        keep, drop = (current, other) if form.keep.data == current.id else (other, current)
        impacts = service.merge_impacts(db.session, kind, keep.id, drop.id)
        try:
            merge(db.session, keep, drop, user=current_user)
        except service.MergeRefusedError:
            db.session.rollback()
            status = 403
        else:
            db.session.commit()
            flash(_("The records have been merged."), "success")
            for impact in impacts:
                _flash_follow_up(impact, keep.id)
            endpoint = f"contacts.{kind}_detail"
            key = "org_id" if kind == "organisation" else "person_id"
            values: dict[str, Any] = {key: keep.id}
            return redirect(url_for(endpoint, **values))
    return render_template(
        "contacts/merge_confirm.html",
        kind=kind,
        current=current,
        other=other,
        form=form,
        blockers=list(blockers.values()),
        allowed_keeps=allowed_keeps,
    ), status


def _flash_follow_up(impact: MergeImpact, keep_id: int) -> None:
    """A notice with a link to the page where the merge's consequences are dealt with."""
    if not impact.notice:
        return
    message = escape(str(impact.notice))
    if impact.follow_up_endpoint:
        href = url_for(impact.follow_up_endpoint, organisation=keep_id)
        message += Markup(' <a href="{}">{}</a>').format(href, _("Review now"))
    flash(message, "warning")


@bp.route("/dubletten")
@require("contacts.merge")
def duplicates():
    """Pairs of records that look like one, each a click away from the merge page."""
    kind = "organisation" if request.args.get("art") == "organisationen" else "person"
    pairs = service.find_duplicate_pairs(db.session, kind)
    return render_template(
        "contacts/duplicates.html",
        kind=kind,
        pairs=pairs,
        limit=service.DUPLICATE_PAIR_LIMIT,
        active="duplicates",
    )


@bp.post("/dubletten/verschieden")
@require("contacts.merge")
def duplicates_distinct():
    """Staff checked a pair and found two different records: stop offering it."""
    kind = "organisation" if request.form.get("art") == "organisationen" else "person"
    first = db_int(request.form.get("erster", ""))
    second = db_int(request.form.get("zweiter", ""))
    if not ActionForm().validate_on_submit():
        abort(400)
    if (
        first is None
        or second is None
        or not service.mark_distinct(db.session, kind, first, second, user=current_user)
    ):
        abort(404)
    record(
        db.session,
        "mark_distinct",
        entity_type=kind,
        entity_id=first,
        summary=f"#{first} ≠ #{second}",
    )
    db.session.commit()
    flash(_("The pair is marked as two different records and no longer offered."), "success")
    return redirect(
        url_for("contacts.duplicates", art="organisationen" if kind == "organisation" else None)
    )


@bp.route("/organisationen/<int:org_id>/zusammenfuehren")
@require("contacts.merge")
def organisation_merge(org_id: int):
    return _merge_choose("organisation", org_id)


@bp.route("/organisationen/<int:org_id>/zusammenfuehren/<int:other_id>", methods=["GET", "POST"])
@require("contacts.merge")
def organisation_merge_confirm(org_id: int, other_id: int):
    return _merge_confirm("organisation", org_id, other_id)


@bp.route("/personen/<int:person_id>/zusammenfuehren")
@require("contacts.merge")
def person_merge(person_id: int):
    return _merge_choose("person", person_id)


@bp.route("/personen/<int:person_id>/zusammenfuehren/<int:other_id>", methods=["GET", "POST"])
@require("contacts.merge")
def person_merge_confirm(person_id: int, other_id: int):
    return _merge_confirm("person", person_id, other_id)


# --- kinds of organisation (administration) -------------------------------------------------


def _kind_error(code: str) -> str:
    return {
        "empty": _("Please enter a label."),
        "duplicate": _("A kind with this label already exists."),
        "required": _(
            "This kind is the default for new organisations and imports; it can be "
            "renamed or deactivated, not deleted."
        ),
        "in_use": _(
            "This kind is still given to organisations and cannot be deleted; "
            "deactivate it instead."
        ),
    }.get(code, code)


@bp.route("/organisationsarten", methods=["GET", "POST"])
@require("admin.system")
def kinds_index():
    form = OrganisationKindForm()
    if form.validate_on_submit():
        try:
            kind = kinds.create_kind(
                db.session, label=form.label.data, sort_order=form.sort_order.data or None
            )
        except kinds.KindError as exc:
            db.session.rollback()
            form.label.errors.append(_kind_error(str(exc)))
        else:
            db.session.commit()
            flash(_("The kind “%(label)s” has been added.", label=kind.label), "success")
            return redirect(url_for("contacts.kinds_index"))
    status = 400 if form.errors else 200
    return render_template(
        "contacts/kinds.html",
        kinds=kinds.all_kinds(db.session),
        usage=kinds.usage_counts(db.session),
        form=form,
    ), status


@bp.route("/organisationsarten/<int:kind_id>", methods=["GET", "POST"])
@require("admin.system")
def kind_edit(kind_id: int):
    kind = _get_or_404(OrganisationKind, kind_id)
    form = OrganisationKindForm(obj=kind)
    if form.validate_on_submit():
        try:
            kinds.update_kind(
                db.session,
                kind,
                label=form.label.data,
                active=bool(form.active.data),
                sort_order=form.sort_order.data or 0,
            )
        except kinds.KindError as exc:
            db.session.rollback()
            form.label.errors.append(_kind_error(str(exc)))
        else:
            db.session.commit()
            flash(_("The kind has been saved."), "success")
            return redirect(url_for("contacts.kinds_index"))
    status = 400 if form.errors else 200
    in_use = kinds.usage_counts(db.session).get(kind.key, 0)
    return render_template(
        "contacts/kind_form.html",
        kind=kind,
        form=form,
        in_use=in_use,
        required=kind.key in kinds.REQUIRED_KINDS,
        action_form=ActionForm(),
    ), status


@bp.route("/organisationsarten/<int:kind_id>/loeschen", methods=["POST"])
@require("admin.system")
def kind_delete(kind_id: int):
    _require_action_form()
    kind = _get_or_404(OrganisationKind, kind_id)
    try:
        kinds.delete_kind(db.session, kind)
    except kinds.KindError as exc:
        db.session.rollback()
        flash(_kind_error(str(exc)), "danger")
        return redirect(url_for("contacts.kind_edit", kind_id=kind_id))
    db.session.commit()
    flash(_("The kind has been deleted."), "success")
    return redirect(url_for("contacts.kinds_index"))
