"""Helpers shared by the forms of every domain."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import FloatField, IntegerField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, StopValidation
from wtforms.widgets import TextInput

# Plain digits only: Python's int() and float() also take "nan", "inf", "1e309", "1_000" and
# digits of other scripts, and any number of digits, which no form here means.
_WHOLE = re.compile(r"[+-]?[0-9]{1,15}")
_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}(?:[.,][0-9]{1,6})?")


def choices(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """SelectField choices from (value, label) pairs (WTForms 3.3 deprecates bare tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


class _ParsedOnce:
    """A field whose parse error is its only error: the range check has nothing to check."""

    process_errors: list[Any]

    def pre_validate(self, form: Any) -> None:
        """Skip the validators after a parse error."""
        if self.process_errors:
            raise StopValidation()


class WholeNumberField(_ParsedOnce, IntegerField):
    """An integer typed as plain digits; nan, inf, 1e3, 2,5 or a 5,000-digit number is an error."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Parse the submitted text; empty leaves None for Optional/InputRequired to judge."""
        if not valuelist:
            return
        raw = str(valuelist[0]).strip()
        self.data = None
        if not raw:
            return
        if not _WHOLE.fullmatch(raw):
            raise ValueError(_l("Please enter a whole number."))
        self.data = int(raw)


class DecimalCommaField(_ParsedOnce, FloatField):
    """A decimal number typed as 2,5 or 2.5; nan, inf, exponents and overflow are errors."""

    widget = TextInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Parse the submitted text; empty leaves None for Optional/InputRequired to judge."""
        if not valuelist:
            return
        raw = str(valuelist[0]).strip()
        self.data = None
        if not raw:
            return
        if not _DECIMAL.fullmatch(raw):
            raise ValueError(_l("Please enter a number such as 2,5."))
        self.data = float(raw.replace(",", "."))


class Filled(InputRequired):
    """InputRequired that also takes blank text as missing (unlike DataRequired, 0 counts)."""

    def __call__(self, form: Any, field: Any) -> None:
        """Stop the chain with the message when nothing but spaces was entered."""
        if field.raw_data and str(field.raw_data[0]).strip():
            return
        field.errors[:] = []
        raise StopValidation(self.message or _l("This field is required."))
