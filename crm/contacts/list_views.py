"""Static contact lists under /kontakte/listen: create, view members, rename, delete, add and
remove people. A nested blueprint of `contacts`, so its endpoints are `contacts.lists.*`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from crm.contacts import lists as svc
from crm.contacts import service
from crm.contacts.models import ContactList, ContactListMember, Person
from crm.extensions import db
from crm.forms import Form
from crm.security import has_permission, require

bp = Blueprint("lists", __name__, url_prefix="/listen")
PER_PAGE = 50
SEARCH_HITS = 20


class ContactListForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])


class MemberForm(Form):
    """Add or remove one person (the id comes from the search hit's button)."""


def _list_or_404(list_id: int) -> ContactList:
    contact_list = db.session.get(ContactList, list_id)
    if contact_list is None:
        abort(404)
    return contact_list


def _page() -> int:
    return max(request.args.get("seite", 1, type=int) or 1, 1)


@bp.get("/")
@require("contacts.view")
def index() -> str:
    """All static lists with their member counts."""
    page = _page()
    total = db.session.scalar(sa.select(sa.func.count(ContactList.id))) or 0
    members = (
        sa.select(sa.func.count())
        .where(ContactListMember.list_id == ContactList.id)
        .correlate(ContactList)
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(ContactList, members.label("members"))
        .order_by(ContactList.name)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return render_template(
        "contacts/lists.html",
        rows=rows,
        page=page,
        per_page=PER_PAGE,
        total=total,
        can_edit=has_permission_edit(),
    )


def has_permission_edit() -> bool:
    """Whether the current user may change lists."""
    return has_permission(current_user, "contacts.edit")


@bp.route("/neu", methods=["GET", "POST"])
@require("contacts.edit")
def new() -> Any:
    """Create an empty list."""
    form = ContactListForm()
    if form.validate_on_submit():
        try:
            contact_list = svc.create_list(db.session, form.name.data, form.description.data or "")
        except svc.ListNameTaken:
            db.session.rollback()
            form.name.errors = [_("A contact list with this name exists already.")]
        else:
            db.session.commit()
            flash(_("Contact list created."), "success")
            return redirect(url_for(".detail", list_id=contact_list.id))
    return render_template("contacts/list_form.html", form=form, contact_list=None)


@bp.get("/<int:list_id>")
@require("contacts.view")
def detail(list_id: int) -> str:
    """The list's members (paginated) and, for editors, a person search to add people."""
    contact_list = _list_or_404(list_id)
    page = _page()
    people, total = svc.members_page(db.session, list_id, page=page, per_page=PER_PAGE)
    q = (request.args.get("q") or "").strip()[:200]
    hits: list[Any] = []
    member_ids: set[int] = set()
    if q and has_permission_edit():
        hits, _total = service.list_page(
            db.session,
            Person,
            service.ListFilters(q=q),
            page=1,
            per_page=SEARCH_HITS,
            # Only the hits are shown: counting them all would be work for nothing.
            count_limit=SEARCH_HITS,
        )
        member_ids = set(
            db.session.scalars(
                sa.select(ContactListMember.person_id).where(
                    ContactListMember.list_id == list_id,
                    ContactListMember.person_id.in_([p.id for p in hits]),
                )
            )
        )
    return render_template(
        "contacts/list_detail.html",
        contact_list=contact_list,
        people=people,
        total=total,
        page=page,
        per_page=PER_PAGE,
        q=q,
        hits=hits,
        member_ids=member_ids,
        form=MemberForm(),
        can_edit=has_permission_edit(),
    )


@bp.route("/<int:list_id>/bearbeiten", methods=["GET", "POST"])
@require("contacts.edit")
def edit(list_id: int) -> Any:
    """Rename the list or change its description."""
    contact_list = _list_or_404(list_id)
    form = ContactListForm(obj=contact_list)
    if form.validate_on_submit():
        try:
            svc.update_list(db.session, contact_list, form.name.data, form.description.data or "")
        except svc.ListNameTaken:
            db.session.rollback()
            form.name.errors = [_("A contact list with this name exists already.")]
        else:
            db.session.commit()
            flash(_("Contact list saved."), "success")
            return redirect(url_for(".detail", list_id=list_id))
    return render_template("contacts/list_form.html", form=form, contact_list=contact_list)


@bp.route("/<int:list_id>/loeschen", methods=["GET", "POST"])
@require("contacts.edit")
def delete(list_id: int) -> Any:
    """Delete the list (not its people) unless an audience or campaign uses it."""
    contact_list = _list_or_404(list_id)
    form = MemberForm()
    in_use = False
    if form.validate_on_submit():
        try:
            svc.delete_list(db.session, contact_list)
        except svc.ListInUse:
            db.session.rollback()
            in_use = True
        else:
            db.session.commit()
            flash(_("Contact list deleted."), "success")
            return redirect(url_for(".index"))
    return render_template(
        "contacts/list_delete.html", contact_list=contact_list, form=form, in_use=in_use
    )


def _person_id() -> int:
    if not MemberForm().validate_on_submit():
        abort(400)
    person_id = request.form.get("person_id", type=int)
    if not person_id or person_id < 1:
        abort(400)
    return person_id


@bp.post("/<int:list_id>/mitglieder")
@require("contacts.edit")
def add(list_id: int) -> Any:
    """Add one person found by the search."""
    _list_or_404(list_id)
    person_id = _person_id()
    if svc.add_members(db.session, list_id, [person_id]):
        flash(_("Person added to the list."), "success")
    else:
        flash(_("The person is on the list already or does not exist."), "info")
    db.session.commit()
    return redirect(url_for(".detail", list_id=list_id, q=request.form.get("q", "")[:200] or None))


@bp.post("/<int:list_id>/mitglieder/entfernen")
@require("contacts.edit")
def remove(list_id: int) -> Any:
    """Remove one person from the list."""
    _list_or_404(list_id)
    person_id = _person_id()
    if svc.remove_member(db.session, list_id, person_id):
        flash(_("Person removed from the list."), "success")
    db.session.commit()
    return redirect(url_for(".detail", list_id=list_id))
