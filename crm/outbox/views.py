"""Verwaltung → Postausgang: the list of everything the app sends, one message, retry, cancel."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crm.extensions import db
from crm.mail.models import OutgoingMail
from crm.outbox import admin
from crm.outbox.labels import KIND_LABELS, STATUS_LABELS
from crm.security import require

bp = Blueprint("mail", __name__, url_prefix="/verwaltung/postausgang")
PER_PAGE = 50

STATUS_BADGES = {
    "queued": "text-bg-secondary",
    "deferred": "text-bg-warning",
    "sending": "text-bg-info",
    "sent": "text-bg-success",
    "failed": "text-bg-danger",
    "cancelled": "text-bg-light",
}


@bp.context_processor
def _labels() -> dict:
    return {
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "status_badges": STATUS_BADGES,
    }


@bp.route("")
@require("admin.system")
def index():
    kind = request.args.get("art") or None
    status = request.args.get("status") or None
    cursor = admin.Cursor.decode(request.args.get("ab"))
    rows, next_cursor = admin.outbox_page(
        db.session, kind=kind, status=status, cursor=cursor, per_page=PER_PAGE
    )
    filters = {
        k: v for k, v in (("art", kind), ("status", status)) if v in (*admin.KINDS, *admin.STATUSES)
    }
    return render_template(
        "mail/index.html",
        rows=rows,
        filters=filters,
        first_page=cursor == admin.Cursor(),
        next_url=url_for(".index", ab=next_cursor.encode(), **filters)  # type: ignore[arg-type]
        if next_cursor
        else None,
        file_outbox=current_app.config.get("CRM_MAIL_TRANSPORT") == "file",
    )


def _mail_or_404(mail_id: int) -> OutgoingMail:
    return db.session.get(OutgoingMail, mail_id) or abort(404)


@bp.get("/<int:mail_id>")
@require("admin.system")
def detail(mail_id: int):
    row = _mail_or_404(mail_id)
    msg = admin.parse_stored(row)
    text = html = None
    headers: list[tuple[str, str]] = []
    if msg is not None:
        headers = [(name, str(value)) for name, value in msg.items()]
        text_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
        text = text_part.get_content() if text_part is not None else ""
        # Shown as source text in a <pre>, never as page HTML.
        html = html_part.get_content() if html_part is not None else None
    return render_template(
        "mail/detail.html", row=row, headers=headers, text=text, html=html, status=_shown(row)
    )


def _shown(row) -> str:
    return "deferred" if row.status == "queued" and row.attempts > 0 else row.status


@bp.post("/<int:mail_id>/erneut-senden")
@require("admin.system")
def retry(mail_id: int):
    row = _mail_or_404(mail_id)
    try:
        admin.retry_mail(db.session, row)
    except admin.OutboxError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("The message is queued again and will be sent shortly."), "success")
    return redirect(url_for(".detail", mail_id=mail_id))


@bp.post("/<int:mail_id>/abbrechen")
@require("admin.system")
def cancel(mail_id: int):
    row = _mail_or_404(mail_id)
    try:
        admin.cancel_mail(db.session, row)
    except admin.OutboxError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("The message was cancelled and will not be sent."), "success")
    return redirect(url_for(".detail", mail_id=mail_id))


@bp.get("/kampagnen/<int:delivery_id>")
@require("admin.system")
def delivery(delivery_id: int):
    from crm.newsletters.models import Delivery

    row = db.session.get(Delivery, delivery_id) or abort(404)
    return render_template("mail/delivery.html", row=row, status=_shown(row))


@bp.post("/kampagnen/<int:delivery_id>/erneut-senden")
@require("admin.system")
def retry_delivery(delivery_id: int):
    try:
        outcome = admin.retry_delivery(db.session, delivery_id)
    except admin.OutboxError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(
            {
                "queued": _("The delivery is queued again and will be sent shortly."),
                "paused": _(
                    "The delivery is queued again; it is sent once the campaign is resumed."
                ),
                "reopened": _(
                    "The delivery is queued again; the finished campaign was reopened for it "
                    "and is marked as sent again once it has gone out."
                ),
            }[outcome],
            "success",
        )
    return redirect(url_for(".delivery", delivery_id=delivery_id))
