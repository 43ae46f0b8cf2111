"""Contacts pages: organisations, people, activities, search, export, merge."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for

from crm.security import require

bp = Blueprint("contacts", __name__, url_prefix="/kontakte")


@bp.route("/")
@require("contacts.view")
def index():
    return redirect(url_for("contacts.organisations"))


@bp.route("/organisationen")
@require("contacts.view")
def organisations():
    return "Organisationen"
