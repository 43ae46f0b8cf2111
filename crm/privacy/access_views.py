"""Pages of the readable Art. 15 report: lookup, report (HTML, PDF, JSON), the office's texts,
and the public privacy notice made of those texts.

Registered on the privacy blueprint (imported by crm.privacy.views); admins only, except the
public notice.
"""

from __future__ import annotations

import json

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import TextAreaField
from wtforms.validators import Length

from crm.audit.service import record
from crm.extensions import db
from crm.forms import Form
from crm.privacy import access
from crm.privacy.notice import TEXTS, controller_missing, notice_texts, save_notice_texts
from crm.privacy.views import bp, review_mentions
from crm.security import public, require, writes_on_get

MAX_RECORDS = 20


def _refs_from_request() -> list[access.RecordRef]:
    parsed = [access.RecordRef.parse(v) for v in request.args.getlist("r")[:MAX_RECORDS]]
    refs = access.existing_refs(db.session, [r for r in parsed if r is not None])
    if not refs:
        abort(404)
    return refs


def _report(refs: list[access.RecordRef], fmt: str) -> access.AccessReport:
    """Build the report in German (the language of the person asking) and audit it.

    The HTML page is the admin's preview before handing anything over, so it is logged as
    viewed; only a download (PDF, JSON) counts as the information issued to the person.
    """
    with force_locale("de"):
        report = access.build_report(db.session, refs, config=current_app.config)
    for ref in report.records:
        record(
            db.session,
            "access_view" if fmt == "HTML" else "access_export",
            entity_type=ref.kind,
            entity_id=ref.id,
            summary=f"Art. 15 ({fmt}, {len(report.records)} Datensätze)",
        )
    db.session.commit()
    return report


def _filename(report: access.AccessReport, ext: str) -> str:
    first = report.records[0]
    return f"auskunft-{report.generated_at:%Y%m%d}-{first.kind}-{first.id}.{ext}"


@bp.route("/auskunft")
@require("admin.privacy")
def access_lookup():
    query = request.args.get("q", "").strip()[:200]
    candidates = access.find_candidates(db.session, query) if query else []
    return render_template("privacy/lookup.html", query=query, candidates=candidates)


@bp.route("/auskunft/bericht")
@require("admin.privacy")
@writes_on_get
def access_report():
    if not request.args.getlist("r"):
        # The lookup's button was pressed without ticking a record: back to the matches
        # with a hint, not the 404 page.
        flash(_("Please tick at least one record."), "warning")
        return redirect(url_for(".access_lookup", q=request.args.get("q", "")[:200] or None))
    refs = _refs_from_request()
    report = _report(refs, "HTML")
    mentions = review_mentions(report.records)
    with force_locale("de"):
        return render_template(
            "privacy/report.html",
            report=report,
            refs=[str(r) for r in refs],
            mentions=mentions,
            controller_missing=controller_missing(db.session),
        )


@bp.route("/auskunft/bericht.json")
@require("admin.privacy")
@writes_on_get
def access_report_json():
    report = _report(_refs_from_request(), "JSON")
    body = json.dumps(report.as_json(), ensure_ascii=False, indent=2)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(report, "json")}"'
    return response


@bp.route("/auskunft/bericht.pdf")
@require("admin.privacy")
@writes_on_get
def access_report_pdf():
    from crm.privacy.pdf import render_pdf

    report = _report(_refs_from_request(), "PDF")
    with force_locale("de"):
        html = render_template("privacy/report_pdf.html", report=report)
    response = Response(render_pdf(html), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(report, "pdf")}"'
    return response


class NoticeForm(Form):
    """One text area per text of the notice (fields added below from TEXTS)."""


for _key, (_label, _default) in TEXTS.items():
    setattr(NoticeForm, _key, TextAreaField(_label, validators=[Length(max=5000)]))


@bp.route("/auskunft/texte", methods=["GET", "POST"])
@require("admin.privacy")
def notice_settings():
    form = NoticeForm()
    if form.validate_on_submit():
        save_notice_texts(
            db.session, {key: getattr(form, key).data for key in TEXTS}, user_id=current_user.id
        )
        record(db.session, "update", entity_type="privacy_text", summary="Datenschutz-Texte")
        db.session.commit()
        flash(_("The texts were saved."), "success")
        return redirect(url_for(".notice_settings"))
    if request.method == "GET":
        for key, text in notice_texts(db.session).items():
            getattr(form, key).data = text
    return render_template("privacy/notice.html", form=form, keys=list(TEXTS))


@bp.route("/hinweise")
@public
def public_notice():
    """The privacy notice linked from every public page (Art. 13 GDPR): the office's own texts
    of the access report, so that both always say the same."""
    wanted = request.args.get("sprache", "")
    lang = wanted if wanted in ("de", "en") else "de"
    texts = notice_texts(db.session)
    with force_locale(lang):
        sections = [(str(label), texts[key]) for key, (label, _default) in TEXTS.items()]
        return render_template("privacy/public_notice.html", lang=lang, sections=sections)
