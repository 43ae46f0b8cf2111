"""Helpers shared by the forms of every domain, and the base class of every form."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import Field, FieldList, FloatField, FormField, IntegerField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, StopValidation, ValidationError
from wtforms.widgets import HiddenInput, TextInput

from crm.database import int_in_range
from crm.inputs import (
    date_in_range,
    date_range_message,
    has_nul,
    int_range_message,
    mailable,
    mailable_message,
    nul_message,
    parse_duration,
)

# Plain digits only: Python's int() and float() also take "nan", "inf", "1e309", "1_000" and
# digits of other scripts, and any number of digits, which no form here means.
_WHOLE = re.compile(r"[+-]?[0-9]{1,15}")
_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}(?:[.,][0-9]{1,6})?")


def choices(pairs: Iterable[tuple[Any, Any]], placeholder: Any = None) -> list[SelectChoice]:
    """SelectField choices from (value, label) pairs (WTForms 3.3 deprecates bare tuples).

    With `placeholder`, an empty first option asks for a choice: a required select must
    not preselect a real value (HTML forbids it, and the user would not notice the default).
    """
    first = [SelectChoice("", placeholder)] if placeholder is not None else []
    return first + [SelectChoice(value, label) for value, label in pairs]


def int_or_none(value: Any) -> int | None:
    """SelectField coerce for integer ids with an empty placeholder option."""
    return None if value in ("", None) else int(value)


class _ParsedOnce:
    """A number field parsed from plain text: its parse error is its only error.

    Subclasses set `pattern` (what may be typed), `message` (the error) and `convert`.
    """

    process_errors: list[Any]
    data: Any
    pattern: re.Pattern[str]
    message: Any

    def convert(self, raw: str) -> Any:
        raise NotImplementedError

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Parse the submitted text; empty leaves None for Optional/InputRequired to judge."""
        if not valuelist:
            return
        raw = str(valuelist[0]).strip()
        self.data = None
        if not raw:
            return
        if not self.pattern.fullmatch(raw):
            raise ValueError(self.message)
        self.data = self.convert(raw)

    def pre_validate(self, form: Any) -> None:
        """Skip the validators after a parse error: the range check has nothing to check."""
        if self.process_errors:
            raise StopValidation()


class WholeNumberField(_ParsedOnce, IntegerField):
    """An integer typed as plain digits; nan, inf, 1e3, 2,5 or a 5,000-digit number is an error."""

    pattern = _WHOLE
    message = _l("Please enter a whole number.")

    def convert(self, raw: str) -> int:
        return int(raw)


class DecimalCommaField(_ParsedOnce, FloatField):
    """A decimal number typed as 2,5 or 2.5; nan, inf, exponents and overflow are errors."""

    widget = TextInput()
    pattern = _DECIMAL
    message = _l("Please enter a number such as 2,5.")

    def convert(self, raw: str) -> float:
        return float(raw.replace(",", "."))


class DurationField(_ParsedOnce, IntegerField):
    """A duration in minutes typed as 90, 1:30, 1,5 or 1,5 h; anything else is an error."""

    widget = TextInput()
    message = _l("Please enter a duration such as 1:30, 1,5 h or 90 (minutes), at most 24 hours.")

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Parse the typed duration into minutes; empty leaves None for the validators."""
        if not valuelist:
            return
        raw = str(valuelist[0]).strip()
        self.data = None
        if not raw:
            return
        minutes = parse_duration(raw)
        if minutes is None:
            raise ValueError(self.message)
        self.data = minutes

    def _value(self) -> str:
        # Shown back as hours:minutes, the way the page lists durations; typed text that did
        # not parse is shown as typed, so nothing is lost.
        if self.raw_data:
            return str(self.raw_data[0])
        if isinstance(self.data, int):
            return f"{self.data // 60}:{self.data % 60:02d}"
        return ""


class Filled(InputRequired):
    """InputRequired that also takes blank text as missing (unlike DataRequired, 0 counts)."""

    def __call__(self, form: Any, field: Any) -> None:
        """Stop the chain with the message when nothing but spaces was entered."""
        if field.raw_data and str(field.raw_data[0]).strip():
            return
        field.errors[:] = []
        raise StopValidation(self.message or _l("This field is required."))


class Mailable:
    """Refuses an e-mail address the relay cannot deliver (non-ASCII before the @ without
    CRM_SMTPUTF8), so that no address is accepted here and then never mailed."""

    def __call__(self, form: Any, field: Any) -> None:
        """Raise the German message for an address with special characters in its local part."""
        if field.data and not mailable(str(field.data)):
            raise ValidationError(str(mailable_message))


class Form(FlaskForm):
    """The base of every form: refuses values the database cannot store, for every field.

    A NUL character, an integer beyond the database's INTEGER or a date outside the accepted
    range gets a field error before any validator runs, because validators may query the
    database with the value (and PostgreSQL would answer with an error, i.e. a 500).
    """

    def validate(self, extra_validators: Any = None) -> bool:
        """Refuse unstorable values first; then run the form's own validation."""
        refused = False
        for field in _leaf_fields(self):
            message = refusal(field)
            if message is not None:
                field.errors = [message]
                refused = True
        if refused:
            return False
        return super().validate(extra_validators)

    def hidden_tag(self, *fields: Any) -> Markup:
        """The hidden fields without their ids, so several forms on one page repeat no id."""
        chosen = [getattr(self, f) if isinstance(f, str) else f for f in fields] or list(self)
        hidden = [f(id=False) for f in chosen if isinstance(f.widget, HiddenInput)]
        return Markup("\n").join(hidden)


def _leaf_fields(form: Any) -> Iterator[Field]:
    for field in form:
        if isinstance(field, FormField):
            yield from _leaf_fields(field.form)
        elif isinstance(field, FieldList):
            yield from _leaf_fields(field.entries)
        else:
            yield field


def refusal(field: Field) -> str | None:
    """Why the database could not store the field's value, or None if it can."""
    if any(has_nul(raw) for raw in field.raw_data or ()):
        return nul_message()
    data = field.data
    for value in data if isinstance(data, list | tuple) else (data,):
        if isinstance(value, int) and not isinstance(value, bool) and not int_in_range(value):
            return int_range_message()
        if isinstance(value, date) and not date_in_range(value):
            return date_range_message()
    return None
