"""Helpers shared by the forms of every domain, and the base class of every form."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, FieldList, FormField
from wtforms.fields.choices import SelectChoice

from crm.database import int_in_range
from crm.inputs import (
    date_in_range,
    date_range_message,
    has_nul,
    int_range_message,
    nul_message,
)


def choices(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """SelectField choices from (value, label) pairs (WTForms 3.3 deprecates bare tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


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
