"""Language and time: Flask-Babel locale selection and the date/time display filters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from flask import Flask, current_app, has_request_context, session
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user

from crm.extensions import babel

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}


def select_locale() -> str:
    """The user's chosen language, else the session's, else German.

    Outside a request (scheduler jobs such as the 07:00 digest, CLI commands) there is no
    user or session to ask: the default language.
    """
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["CRM_LANGUAGES"]
    user = current_user
    if user and getattr(user, "is_authenticated", False) and user.locale in languages:
        return user.locale
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """All offices are in Germany: show every time in Europe/Berlin."""
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def fmt_date(value: date | datetime | None) -> str:
    """21.11.2026 (a datetime is converted to Europe/Berlin first)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, "dd.MM.yyyy")
    return format_date(value, "dd.MM.yyyy")


def fmt_time(value: datetime | None) -> str:
    """14:30 in Europe/Berlin."""
    return "" if value is None else format_datetime(value, "HH:mm")


def fmt_datetime(value: datetime | None) -> str:
    """21.11.2026 14:30 in Europe/Berlin."""
    return "" if value is None else format_datetime(value, "dd.MM.yyyy HH:mm")


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and register the display filters."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["date"] = fmt_date
    app.jinja_env.filters["time"] = fmt_time
    app.jinja_env.filters["datetime"] = fmt_datetime
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["get_locale"] = get_locale
