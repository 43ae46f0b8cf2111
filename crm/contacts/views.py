"""Contacts pages: organisations, people, activities, search, export, merge."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for

from crm.contacts.import_views import bp as import_bp
from crm.security import require

bp = Blueprint("contacts", __name__, url_prefix="/kontakte")
# Nested once at import time: several apps (tests) register `bp` afterwards.
bp.register_blueprint(import_bp)


@bp.route("/")
@require("contacts.view")
def index():
    return redirect(url_for("contacts.organisations"))


@bp.route("/organisationen")
@require("contacts.view")
def organisations():
    return "Organisationen"
