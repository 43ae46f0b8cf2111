"""Search pages under /suche: picker options per record type, the global search."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm.dashboard.weeks import local_date
from crm.database import db_int, utcnow
from crm.extensions import db
from crm.search import service
from crm.search.service import Hit
from crm.security import authenticated, fragment, writes_on_get

bp = Blueprint("search", __name__, url_prefix="/suche")

KIND_LABELS = {
    "person": _l("People"),
    "organisation": _l("Organisations"),
    "participant": _l("Participants"),
    "event": _l("Events"),
    "campaign": _l("Campaigns"),
}
# Where "all hits" of a group are listed: the domain's own list with the same search words.
LIST_ENDPOINTS = {
    "person": "contacts.people",
    "organisation": "contacts.organisations",
    "participant": "participants.index",
}


def hit_url(hit: Hit) -> str:
    """The page of the record a hit stands for."""
    if hit.kind == "person":
        return url_for("contacts.person_detail", person_id=hit.id)
    if hit.kind == "organisation":
        return url_for("contacts.organisation_detail", org_id=hit.id)
    if hit.kind == "participant":
        return url_for("participants.detail", participant_id=hit.id)
    if hit.kind == "event":
        return url_for("events.detail", event_id=hit.id)
    return url_for("newsletter_campaigns.detail", campaign_id=hit.id)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"search_hit_url": hit_url, "SEARCH_KIND_LABELS": KIND_LABELS}


def _today() -> Any:
    return local_date(utcnow())


@bp.route("/")
@authenticated
@writes_on_get  # participant hits are audited
def index():
    query = service.clean_query(request.args.get("q"))
    groups = service.search_all(db.session, current_user, query, today=_today()) if query else {}
    db.session.commit()
    lists = {kind: url_for(endpoint, q=query) for kind, endpoint in LIST_ENDPOINTS.items()}
    return render_template(
        "search/index.html",
        query=query,
        groups=groups,
        lists=lists,
        group_limit=service.GROUP_LIMIT,
    )


@bp.route("/vorschlag")
@fragment
@authenticated
@writes_on_get
def suggest():
    """Options of the navigation bar's search box, grouped (an HTML fragment)."""
    query = service.clean_query(request.args.get("q"))
    if not query:
        return "", 204  # nothing typed: nothing to offer (and no empty "page")
    groups = service.search_all(db.session, current_user, query, today=_today(), limit=5)
    db.session.commit()
    return render_template("search/_suggest.html", groups=groups, query=query)


@bp.route("/auswahl/<kind>")
@fragment
@authenticated
@writes_on_get
def pick(kind: str):
    """Options of a record picker for one kind of record (an HTML fragment).

    `organisation` (people only) limits the options to that organisation's people.
    """
    if kind not in service.PICKER_KINDS:
        abort(404)
    raw_org = request.args.get("organisation") if kind == "person" else None
    # A limit that is no number limits to nobody (0), never to everybody.
    organisation_id = (db_int(raw_org) or 0) if raw_org is not None else None
    query = service.clean_query(request.args.get("q"))
    if not query:
        return "", 204
    hits = service.find(
        db.session, current_user, kind, query, today=_today(), organisation_id=organisation_id
    )
    db.session.commit()
    return render_template("search/_options.html", hits=hits, kind=kind, query=query)
