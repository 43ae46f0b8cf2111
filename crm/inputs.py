"""Bounds on what a request may carry into the database, enforced once for the whole app.

Integers beyond the database's INTEGER, dates a timezone conversion cannot represent and
NUL characters (which PostgreSQL cannot store in text) otherwise surface as database errors,
i.e. as 500s. Path values, query arguments and form fields all pass through the checks here.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import Flask, Request, Response, current_app, has_app_context, request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter, Map, ValidationError

from crm.database import DB_INT_MAX, DB_INT_MIN, int_in_range

# Wide enough for birth dates and plans far ahead, narrow enough that adding a day or
# converting between Berlin and UTC never leaves Python's date range.
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2200, 12, 31)


def date_in_range(value: date) -> bool:
    """True if `value` (a date or a datetime) lies in the range the app accepts."""
    day = value.date() if isinstance(value, datetime) else value
    return DATE_MIN <= day <= DATE_MAX


def has_nul(value: object) -> bool:
    """True if `value` is a string containing a NUL character."""
    return isinstance(value, str) and "\x00" in value


def nul_message() -> str:
    """Why a value with a NUL character is refused."""
    return str(_l("This field contains a character that cannot be stored (NUL)."))


def int_range_message() -> str:
    """Why an integer beyond the database's range is refused."""
    return str(
        _l(
            "Please enter a whole number between %(min)d and %(max)d.",
            min=DB_INT_MIN,
            max=DB_INT_MAX,
        )
    )


def date_range_message() -> str:
    """Why a date outside DATE_MIN..DATE_MAX is refused."""
    return str(
        _l(
            "Please enter a date between %(min)s and %(max)s.",
            min=DATE_MIN.strftime("%d.%m.%Y"),
            max=DATE_MAX.strftime("%d.%m.%Y"),
        )
    )


def parse_date(value: str | None) -> date | None:
    """A yyyy-mm-dd query value as a date; None if empty; ValueError if invalid or out of range."""
    if not value:
        return None
    day = datetime.strptime(value, "%Y-%m-%d").date()
    if not date_in_range(day):
        raise ValueError(f"date out of range: {value}")
    return day


class DatabaseIntConverter(IntegerConverter):
    """`<int:...>` in a route: only values an INTEGER column can hold match, others are 404."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = DB_INT_MAX,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str) -> Any:
        try:
            return super().to_python(value)
        except ValueError:
            # More digits than int() converts (sys.get_int_max_str_digits): no such record.
            raise ValidationError() from None


class BoundedArgs(ImmutableMultiDict):
    """Query and form values where `.get(name, type=int)` treats out-of-range like non-numbers.

    Werkzeug returns the default when `type` fails; an integer the database cannot compare
    with is as unusable as "abc", so it gets the default too.
    """

    # Werkzeug's own signature; its overloads exist only for type checkers.
    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        value = super().get(key, default=default, type=type)
        if type is int and isinstance(value, int) and not int_in_range(value):
            return default
        return value


class BoundedRequest(Request):
    """The app's request class: its args and form are BoundedArgs."""

    parameter_storage_class = BoundedArgs


def nul_in_address() -> bool:
    """True if the current request's path values or query string carry a NUL character."""
    values = [*(request.view_args or {}).values()]
    for key, value in request.args.items(multi=True):
        values += (key, value)
    return any(has_nul(value) for value in values)


def init_app(app: Flask) -> None:
    """Install the bounded request class and `<int:...>` converter (before any route)."""
    app.request_class = BoundedRequest
    app.url_map.converters["int"] = DatabaseIntConverter

    @app.before_request
    def refuse_nul_in_address() -> Response | None:
        if not nul_in_address():
            return None
        from crm.errors import render_error

        message = _l("The address contains a character that cannot be processed (NUL).")
        return render_error(400, message)


# Durations as people type them: "90" (minutes), "1:30", "1,5" / "1.5" (hours), "1,5 h",
# "90 min", "1 h 30 min", "1h30". A bare whole number is minutes: that is what the form asked
# for before, and "1,5" cannot mean minutes, so a decimal without a unit is hours. ASCII digits
# only: int() would also read other scripts' digits, which no form here means.
_DURATION_PATTERNS = (
    (
        re.compile(r"([0-9]{1,4})(?:\s*(?:min|minuten|minutes|m))?\.?", re.IGNORECASE | re.ASCII),
        "minutes",
    ),
    (
        re.compile(
            r"([0-9]{1,2}):([0-5][0-9])(?:\s*(?:h|std|stunden|hours))?\.?", re.IGNORECASE | re.ASCII
        ),
        "hm",
    ),
    (
        re.compile(
            r"([0-9]{1,2})(?:[.,]([0-9]{1,2}))?\s*(?:h|std|stunden|stunde|hours|hour)\.?",
            re.IGNORECASE | re.ASCII,
        ),
        "hours",
    ),
    (re.compile(r"([0-9]{1,2})[.,]([0-9]{1,2})", re.IGNORECASE | re.ASCII), "hours"),
    (
        re.compile(
            r"([0-9]{1,2})\s*(?:h|std\.?)\s*([0-9]{1,2})(?:\s*(?:min|minuten|m))?\.?",
            re.IGNORECASE | re.ASCII,
        ),
        "h+m",
    ),
)
DURATION_MAX_MINUTES = 24 * 60


def parse_duration(text: str) -> int | None:
    """Minutes from a typed duration ("90", "1:30", "1,5", "1.5 h", "1 h 30 min"), or None.

    None for anything else, for zero and for more than a day; fractions of a minute are refused
    ("1,33 h" is not a whole number of minutes), so no typed value is silently rounded.
    """
    raw = " ".join((text or "").strip().split())
    for pattern, kind in _DURATION_PATTERNS:
        match = pattern.fullmatch(raw)
        if match is None:
            continue
        if kind == "minutes":
            minutes = int(match.group(1))
        elif kind in ("hm", "h+m"):
            if int(match.group(2)) >= 60:
                return None
            minutes = int(match.group(1)) * 60 + int(match.group(2))
        else:
            fraction = match.group(2) or ""
            # Exact arithmetic: "1,5" is 90 minutes, "0,25" 15; "1,33" is no whole minute.
            hundredths = int(match.group(1)) * 100 + int((fraction + "00")[:2])
            if len(fraction) > 2 or (hundredths * 60) % 100:
                return None
            minutes = hundredths * 60 // 100
        return minutes if 0 < minutes <= DURATION_MAX_MINUTES else None
    return None


# --- e-mail addresses the relay can deliver ------------------------------------------------------

mailable_message = _l(
    "This e-mail address has umlauts or other special characters before the @, which our mail "
    "server cannot deliver. Please enter an address without them (e.g. joerg@… for jörg@…)."
)


def smtputf8_allowed() -> bool:
    """True if CRM_SMTPUTF8 says the relay takes internationalised addresses (no app: no)."""
    return bool(current_app.config.get("CRM_SMTPUTF8")) if has_app_context() else False


def mailable(address: str) -> bool:
    """True if mail to `address` can be sent: an ASCII local part, or the relay has SMTPUTF8.

    A non-ASCII domain (müller.de) is always fine: messages carry it as punycode.
    """
    return address.rpartition("@")[0].isascii() or smtputf8_allowed()
