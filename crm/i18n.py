"""Language and time: Flask-Babel locale selection and the date/time display filters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from babel.support import NullTranslations
from flask import Flask, current_app, g, has_request_context, session
from flask_babel import get_locale, get_translations, to_user_timezone
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
    if isinstance(chosen, str) and chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """All offices are in Germany: show every time in Europe/Berlin."""
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


# The display formats are fixed (German style for every language), so they are written with
# strftime after the time-zone conversion: Babel's pattern formatting cost ~40 µs a value,
# and an organisation page formats dozens (bench/README.md).
def fmt_date(value: date | datetime | None) -> str:
    """21.11.2026 (a datetime is converted to Europe/Berlin first)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_user_timezone(value)
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"


def fmt_time(value: datetime | None) -> str:
    """14:30 in Europe/Berlin."""
    if value is None:
        return ""
    local = to_user_timezone(value)
    return f"{local.hour:02d}:{local.minute:02d}"


def fmt_datetime(value: datetime | None) -> str:
    """21.11.2026 14:30 in Europe/Berlin."""
    if value is None:
        return ""
    local = to_user_timezone(value)
    return f"{local.day:02d}.{local.month:02d}.{local.year:04d} {local.hour:02d}:{local.minute:02d}"


def fmt_decimal(value: float | int | None, pattern: str = "#,##0.##") -> str:
    """A number the way the user's language writes it (1,5 in German), at most two decimals.

    `pattern` is a CLDR number pattern: "#,##0.0" always shows one decimal (1,0).
    """
    if value is None:
        return ""
    from flask_babel import format_decimal

    return format_decimal(value, format=pattern)


def current_translations() -> NullTranslations:
    """The translations of the current locale, looked up once per request (or forced locale).

    Flask-Babel resolves domain, locale and catalogue on every gettext call (~30 µs, a
    hundred calls on a page); templates ask this instead. The cached catalogue is keyed by
    the locale object Flask-Babel keeps for the request, which force_locale() and refresh()
    replace, so a switched language is never served from a stale catalogue.
    """
    state = g.get("_flask_babel") if g else None
    cached = getattr(state, "crm_translations", None)
    if cached is not None and cached[0] is getattr(state, "babel_locale", None):
        return cached[1]
    translations = get_translations()
    state = g.get("_flask_babel") if g else None
    if state is not None:
        state.crm_translations = (getattr(state, "babel_locale", None), translations)
    return translations


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and register the display filters."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # The same callables Flask-Babel installs, over the per-request catalogue.
    # The method comes with Jinja's i18n extension, added at run time.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: current_translations().ugettext(s),
        ngettext=lambda s, p, n: current_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: current_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: current_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.filters["date"] = fmt_date
    app.jinja_env.filters["time"] = fmt_time
    app.jinja_env.filters["datetime"] = fmt_datetime
    app.jinja_env.filters["decimal"] = fmt_decimal
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["get_locale"] = get_locale
