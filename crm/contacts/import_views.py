"""Import pages (CSV/XLSX): upload, mapping, dry run, run, progress, undo.

A nested blueprint of `contacts`, so its endpoints are `contacts.imports.*`.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/import")
