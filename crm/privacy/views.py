"""DSGVO pages under /datenschutz (admins only): access exports, erasure, retention review."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from crm.audit.service import record
from crm.contacts.models import Person
from crm.dashboard.weeks import local_date
from crm.database import utcnow
from crm.events.erasure import erase_registration
from crm.events.models import EventMinutes, EventRegistration
from crm.extensions import db
from crm.intake.erasure import erase_inquiry
from crm.intake.models import Inquiry
from crm.participants.models import Participant
from crm.privacy import access as access_report
from crm.privacy import erasure, service
from crm.privacy.models import RetentionReview
from crm.privacy.notice import controller_missing
from crm.search import service as search
from crm.security import fragment, require, writes_on_get

bp = Blueprint("privacy", __name__, url_prefix="/datenschutz")
SUBJECTS = {
    "teilnehmende": (Participant, "participant"),
    "personen": (Person, "person"),
    "anfragen": (Inquiry, "inquiry"),
    "anmeldungen": (EventRegistration, "event_registration"),
}
# How each kind of subject is erased (each logs an erasure record).
ERASE: dict[str, Callable[..., Any]] = {
    "teilnehmende": service.erase_participant,
    "personen": service.erase_person,
    "anfragen": erase_inquiry,
    "anmeldungen": erase_registration,
}
# The model of each kind of record an access report covers (RecordRef.kind).
MODELS = {record_type: model for model, record_type in SUBJECTS.values()}
# The record kinds the lookup's picker offers, and their part of the privacy pages' address.
PICKED_KINDS = {"person": "personen", "participant": "teilnehmende"}
# Options per kind in the lookup's picker (the full search lists every match).
PICK_LIMIT = 8


def review_mentions(
    refs: list[access_report.RecordRef],
) -> list[tuple[erasure.Mention, str | None]]:
    """Unlinked mentions of the person behind `refs`, shown to the admin beside the report.

    Each with the page where the admin reads the whole text, where there is one.
    """
    objects = [db.session.get(MODELS[ref.kind], ref.id) for ref in refs if ref.kind in MODELS]
    mentions = service.unlinked_mentions(db.session, [o for o in objects if o is not None])
    minutes_ids = [m.row_id for m in mentions if m.table == "event_minutes"]
    events = dict(
        db.session.execute(
            sa.select(EventMinutes.id, EventMinutes.event_id).where(
                EventMinutes.id.in_(minutes_ids)
            )
        ).all()
        if minutes_ids
        else ()
    )
    return [
        (
            m,
            url_for("events.detail", event_id=events[m.row_id], _anchor="protokoll")
            if m.table == "event_minutes" and m.row_id in events
            else None,
        )
        for m in mentions
    ]


def _subject_or_404(kind: str, subject_id: int):
    if kind not in SUBJECTS:
        abort(404)
    model, _type = SUBJECTS[kind]
    obj = db.session.get(model, subject_id)
    if obj is None or (isinstance(obj, Participant) and obj.erased_at is not None):
        abort(404)
    return obj


@bp.route("/")
@require("admin.privacy")
def index():
    page = max(request.args.get("seite", 1, type=int), 1)
    reviews, total = service.pending_reviews(db.session, page=page)
    return render_template(
        "privacy/index.html",
        reviews=reviews,
        total=total,
        page=page,
        per_page=50,
        years=current_app.config["CRM_RETENTION_YEARS_AFTER_EXIT"],
    )


@bp.route("/auswahl")
@fragment
@require("admin.privacy")
@writes_on_get  # participant hits are audited
def pick():
    """Options of the lookup's record picker: people and participants by name or number.

    Choosing one opens its access and erasure page; without a choice (or without
    JavaScript) the form searches every record in every domain.
    """
    query = search.clean_query(request.args.get("q"))
    if not query:
        return "", 204
    today = local_date(utcnow())
    groups = {
        kind: search.find(db.session, current_user, kind, query, today=today, limit=PICK_LIMIT)
        for kind in PICKED_KINDS
    }
    db.session.commit()
    return render_template(
        "privacy/_options.html", groups=groups, query=query, page_kinds=PICKED_KINDS
    )


@bp.route("/<kind>/<int:subject_id>/auskunft")
@require("admin.privacy")
@writes_on_get
def access(kind: str, subject_id: int):
    _subject_or_404(kind, subject_id)
    ref = access_report.RecordRef(SUBJECTS[kind][1], subject_id)
    with force_locale("de"):
        report = access_report.build_report(db.session, [ref], config=current_app.config)
    record(
        db.session,
        # A preview on screen, not yet the information handed to the person (a download).
        "access_view",
        entity_type=SUBJECTS[kind][1],
        entity_id=subject_id,
        summary="Art. 15 (HTML)",
    )
    db.session.commit()
    mentions = review_mentions([ref])
    with force_locale("de"):
        return render_template(
            "privacy/access.html",
            report=report,
            mentions=mentions,
            controller_missing=controller_missing(db.session),
            refs=[str(ref)],
            kind=kind,
            subject_id=subject_id,
        )


def _directories() -> dict[str, Path]:
    """Where copies of personal data live in files: the file outbox (uploads are rows)."""
    return {"outbox": Path(current_app.config["CRM_MAIL_OUTBOX_DIR"])}


@bp.route("/<kind>/<int:subject_id>/loeschen", methods=["GET"])
@require("admin.privacy")
def erase_preview(kind: str, subject_id: int):
    obj = _subject_or_404(kind, subject_id)
    plan = service.erasure_preview(db.session, obj, directories=_directories())
    return render_template(
        "privacy/erase.html",
        plan=plan,
        kind=kind,
        subject_id=subject_id,
        subject_name=obj.name if isinstance(obj, Inquiry | EventRegistration) else obj.full_name,
        categories=erasure.CATEGORY_LABELS,
        legal_bases=erasure.LEGAL_BASIS_LABELS,
        table_label=erasure.table_label,
    )


@bp.route("/<kind>/<int:subject_id>/loeschen", methods=["POST"])
@require("admin.privacy")
def erase(kind: str, subject_id: int):
    obj = _subject_or_404(kind, subject_id)
    legal_basis = request.form.get("legal_basis", "request")
    if request.form.get("confirm") != "yes" or legal_basis not in erasure.LEGAL_BASIS_LABELS:
        flash(_("Please confirm the erasure."), "danger")
        return redirect(url_for(".erase_preview", kind=kind, subject_id=subject_id))
    ERASE[kind](
        db.session,
        obj,
        legal_basis=legal_basis,
        requested_by_id=current_user.id,
        confirmed=set(request.form.getlist("mention")),
        directories=_directories(),
    )
    db.session.commit()
    erasure.finish_erasure(db.engine)
    flash(_("The personal data were erased."), "success")
    return redirect(url_for(".index"))


@bp.route("/pruefung/<int:review_id>", methods=["POST"])
@require("admin.privacy")
def decide(review_id: int):
    review = db.session.get(RetentionReview, review_id) or abort(404)
    decision = request.form.get("decision", "")
    if decision not in ("approve", "postpone", "erase"):
        abort(400)
    service.decide(
        db.session, review, decision, user_id=current_user.id, today=local_date(utcnow())
    )
    db.session.commit()
    if decision == "erase":
        erasure.finish_erasure(db.engine)
    flash(_("Decision saved."), "success")
    return redirect(url_for(".index"))


# The readable Art. 15 report registers its pages on this blueprint.
from crm.privacy import access_views  # noqa: E402, F401
