"""German (and English) error pages that reveal nothing about the internals.

An error page must render whatever state the database is in: a failed transaction or an
unreachable server is often why it is shown. So the handlers roll the session back first and
render without touching the database (no user loading, no context processors).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, make_response, session
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from crm.extensions import db

MESSAGES = {
    400: (
        _l("Bad request"),
        _l("The request could not be processed. Please go back and try again."),
    ),
    403: (_l("Access denied"), _l("You do not have permission to open this page.")),
    404: (_l("Page not found"), _l("The page you asked for does not exist or has been moved.")),
    405: (_l("Not allowed"), _l("This action cannot be carried out this way.")),
    413: (_l("File too large"), _l("The file is larger than allowed.")),
    429: (_l("Too many requests"), _l("Please wait a moment and try again.")),
    500: (
        _l("Internal error"),
        _l("Something went wrong on our side. The error has been logged; please try again later."),
    ),
    503: (_l("Service unavailable"), _l("The service is temporarily unavailable.")),
}

# How long a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 60


def render_error(code: int, detail: Any = None) -> Response:
    """Render the error page for an HTTP status code (rolls the session back first)."""
    locale = _page_locale()
    _rollback()
    title, message = MESSAGES.get(code, MESSAGES[500])
    with force_locale(locale):
        # The bare Jinja template, not render_template: Flask-Login's context processor
        # would load the user from the database.
        body = current_app.jinja_env.get_template("errors/error.html").render(
            code=code,
            title=title,
            message=detail or message,
            # The start page is the staff login: a visitor of a public form or link would
            # only land there. Flask-Login's key in the session says "signed in" without
            # touching the database.
            signed_in=bool(session.get("_user_id")),
        )
    response = make_response(body, code)
    # Never cached; set here, the security-header hook need not load the user to decide.
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_locale() -> str:
    """The page's language from what the request already holds, never from the database."""
    cfg = current_app.config
    languages = cfg["CRM_LANGUAGES"]
    # Flask-Login keeps the user in g once loaded; read only attributes already in memory.
    user = g.get("_login_user")
    state = sa.inspect(user, raiseerr=False) if user is not None else None
    candidates = (state.dict.get("locale") if state is not None else None, session.get("locale"))
    for locale in candidates:
        if isinstance(locale, str) and locale in languages:
            return locale
    return cfg["BABEL_DEFAULT_LOCALE"]


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:
        # A connection that is gone cannot roll back; the page must render anyway.
        current_app.logger.warning("rollback before the error page failed", exc_info=True)


def is_database_outage(exc: BaseException) -> bool:
    """True if `exc` says the database cannot be reached (as opposed to a failing statement)."""
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection became free
        return True
    if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return False
    # No statement: connecting failed. Invalidated: the server went away mid-request.
    return exc.statement is None or bool(exc.connection_invalidated)


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(_exc: CSRFError) -> Response:
        return render_error(
            400,
            _l(
                "The form has expired or was not sent from this site. Please reload the "
                "page and try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if code == 413:
            limit = app.config["CRM_MAX_UPLOAD_MB"]
            return render_error(413, _l("The file is larger than %(mb)d MB.", mb=limit))
        return render_error(code)

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> Response:
        # Logged by Flask with the traceback; the page itself shows nothing of it.
        return render_error(500)

    def database_unavailable(exc: Exception) -> Response:
        if not is_database_outage(exc):
            raise exc  # a failing statement is a bug: Flask logs it and answers 500
        app.logger.error("database unreachable: %s", exc.__class__.__name__)
        response = render_error(
            503,
            _l("The database cannot be reached at the moment. Please try again in a few minutes."),
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for error in (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError):
        app.register_error_handler(error, database_unavailable)
