"""German (and English) error pages that reveal nothing about the internals."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

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


def render_error(code: int, detail: str | None = None) -> tuple[str, int]:
    """Render the error page for an HTTP status code."""
    title, message = MESSAGES.get(code, MESSAGES[500])
    return render_template(
        "errors/error.html", code=code, title=title, message=detail or message
    ), code


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(_exc: CSRFError) -> tuple[str, int]:
        return render_error(
            400,
            str(
                _l(
                    "The form has expired or was not sent from this site. Please reload the "
                    "page and try again."
                )
            ),
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        code = exc.code or 500
        if code == 413:
            limit = app.config["CRM_MAX_UPLOAD_MB"]
            return render_error(413, str(_l("The file is larger than %(mb)d MB.", mb=limit)))
        return render_error(code)

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> tuple[str, int]:
        # Logged by Flask with the traceback; the page itself shows nothing of it.
        return render_error(500)
