"""Refuse to serve an out-of-date database schema."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, request

from crm.extensions import db

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
UPGRADE_COMMAND = "flask --app wsgi db upgrade"


def head_revisions() -> set[str]:
    """The newest revision(s) the code ships."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def current_revisions() -> set[str]:
    """The revision(s) the database is at (empty for a new database)."""
    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def schema_is_current() -> bool:
    """True if the database is at the newest migration."""
    return current_revisions() == head_revisions()


def init_app(app: Flask) -> None:
    """Check the schema until it is current; answer 503 with the fix until then."""
    if not app.config.get("CRM_SCHEMA_CHECK", True):
        return
    state = {"ok": False}

    @app.before_request
    def check_schema():
        if state["ok"] or request.endpoint == "static":
            return None
        if schema_is_current():
            state["ok"] = True
            return None
        app.logger.error("database schema is out of date; run: %s", UPGRADE_COMMAND)
        # Plain text: the templates may need tables that do not exist yet.
        body = (
            "Die Datenbank ist nicht auf dem aktuellen Stand.\n"
            "The database schema is out of date.\n\n"
            f"Bitte ausführen / please run:\n\n    {UPGRADE_COMMAND}\n"
        )
        return body, 503, {"Content-Type": "text/plain; charset=utf-8", "Retry-After": "60"}
