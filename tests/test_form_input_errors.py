"""Malformed form input gets a German form error, never a 500 or a half-written row.

Duplicate names of newsletter lists, audiences and templates (on create and on rename), and
numbers that are not finite, negative, out of range or overflow a float.
"""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict
from wtforms import DecimalField, FloatField, IntegerField
from wtforms.fields.core import UnboundField
from wtforms.validators import NumberRange

from crm.forms import DurationField
from crm.newsletters.models import Audience, NewsletterList, NewsletterTemplate
from tests.factories import make_list

# --- duplicate names -------------------------------------------------------------------------


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_a_second_newsletter_list_with_the_same_name_is_a_form_error(client_as, db_session):
    make_list(db_session, name="Newsletter Burg", slug="burg")
    db_session.commit()
    c = client_as("staff")
    before = _count(db_session, NewsletterList)

    response = c.post(
        "/newsletter/listen/neu",
        data={"name": "Newsletter Burg", "slug": "burg-neu", "consent_text": "Ja, bitte."},
    )

    assert response.status_code == 200
    assert "Einen Newsletter mit diesem Namen gibt es schon." in _text(response)
    assert _count(db_session, NewsletterList) == before
    assert c.get("/newsletter/").status_code == 200


def test_a_newsletter_list_written_by_someone_else_after_the_check_is_a_form_error(app_ctx):
    from crm.newsletters import service

    session = app_ctx()
    raced = []

    def other_request_was_faster(sess, _context, _instances):
        # The other request's row lands between our name check and our insert.
        if not raced and any(isinstance(o, NewsletterList) for o in sess.new):
            raced.append(True)
            sess.connection().execute(
                sa.insert(NewsletterList.__table__).values(name="Newsletter Genthin", slug="gt")
            )

    sa.event.listen(session, "before_flush", other_request_was_faster)
    try:
        with pytest.raises(service.ListNameTaken):
            service.create_list(
                session, name="Newsletter Genthin", slug="genthin", consent_text="Ja"
            )
    finally:
        sa.event.remove(session, "before_flush", other_request_was_faster)

    assert raced
    # The transaction is still usable (on PostgreSQL a failed statement would abort it).
    assert session.scalar(sa.select(sa.func.count()).select_from(NewsletterList)) == 0


def _audience_data(lst, name: str) -> dict:
    return {"name": name, "list_id": lst.id, "kind": "subscribers", "contact_list_id": 0}


def _template_data(name: str) -> dict:
    return {"name": name, "subject": "Hallo", "body_text": "Text"}


@pytest.mark.parametrize("action", ["create", "rename"])
def test_a_duplicate_audience_name_is_a_form_error(client_as, db_session, action):
    lst = make_list(db_session)
    db_session.commit()
    c = client_as("staff")
    assert (
        c.post("/newsletter/zielgruppen/neu", data=_audience_data(lst, "Alle")).status_code == 302
    )
    url = "/newsletter/zielgruppen/neu"
    if action == "rename":
        assert c.post(url, data=_audience_data(lst, "Andere")).status_code == 302
        other = db_session.scalar(sa.select(Audience).where(Audience.name == "Andere"))
        url = f"/newsletter/zielgruppen/{other.id}"
    before = _count(db_session, Audience)

    response = c.post(url, data=_audience_data(lst, "Alle"))

    assert response.status_code == 200
    assert "Eine Zielgruppe mit diesem Namen gibt es schon." in _text(response)
    assert _count(db_session, Audience) == before
    names = set(db_session.scalars(sa.select(Audience.name)))
    assert names == ({"Alle", "Andere"} if action == "rename" else {"Alle"})


@pytest.mark.parametrize("action", ["create", "rename"])
def test_a_duplicate_template_name_is_a_form_error(client_as, db_session, action):
    c = client_as("staff")
    assert c.post("/newsletter/vorlagen/neu", data=_template_data("Juni")).status_code == 302
    url = "/newsletter/vorlagen/neu"
    if action == "rename":
        assert c.post(url, data=_template_data("Juli")).status_code == 302
        other = db_session.scalar(
            sa.select(NewsletterTemplate).where(NewsletterTemplate.name == "Juli")
        )
        url = f"/newsletter/vorlagen/{other.id}"
    before = _count(db_session, NewsletterTemplate)

    response = c.post(url, data=_template_data("Juni"))

    assert response.status_code == 200
    assert "Eine Vorlage mit diesem Namen gibt es schon." in _text(response)
    assert _count(db_session, NewsletterTemplate) == before


# --- numbers ---------------------------------------------------------------------------------

NOT_A_NUMBER = ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "1e3", "0x10", "1_000", "١٢"]
OUT_OF_RANGE = ["-1", "-0,5", "10000", "99999999999999", "9" * 15]
TARGET_ERRORS = {
    "not a number": "Bitte geben Sie eine Zahl ein, z. B. 2,5.",
    "out of range": "Bitte geben Sie ein Wochenziel von 0 bis 9999 ein.",
    "empty": "Bitte geben Sie ein Wochenziel ein.",
}


def _target_cases():
    for value in [*NOT_A_NUMBER, "9" * 5000, "2,5,5", "abc", "2.5e1"]:
        yield pytest.param(value, "not a number", id=f"nan-{value[:12]}")
    for value in OUT_OF_RANGE:
        yield pytest.param(value, "out of range", id=f"range-{value[:12]}")
    yield pytest.param("   ", "empty", id="empty")


@pytest.mark.parametrize(("field", "other"), [("entries", "exits"), ("exits", "entries")])
@pytest.mark.parametrize(("value", "problem"), list(_target_cases()))
def test_a_weekly_target_that_is_not_a_plain_number_in_range_is_a_form_error(
    client_as, db_session, field, other, value, problem
):
    from tests.factories import make_office

    office = make_office(db_session, weekly_entries=3, weekly_exits=3)
    c = client_as("lead")

    response = c.post(
        "/auswertung/ziele",
        data={"jahr": 2026, f"{field}_{office.id}": value, f"{other}_{office.id}": "1"},
    )

    assert response.status_code == 200
    page = _text(response)
    assert TARGET_ERRORS[problem] in page
    assert 'aria-invalid="true"' in page
    db_session.refresh(office)
    assert (office.weekly_entries, office.weekly_exits) == (3, 3)


def test_weekly_targets_with_a_comma_or_a_point_are_saved(client_as, db_session):
    from tests.factories import make_office

    office = make_office(db_session)
    c = client_as("lead")
    for entries, exits in (("2,5", "0"), (" 9999 ", "0.25")):
        response = c.post(
            "/auswertung/ziele",
            data={"jahr": 2026, f"entries_{office.id}": entries, f"exits_{office.id}": exits},
        )
        assert response.status_code == 302
    db_session.refresh(office)
    assert (office.weekly_entries, office.weekly_exits) == (9999, 0.25)


def test_setting_targets_for_an_impossible_year_is_not_found(client_as):
    c = client_as("lead")
    for year in ("1999", "2101", "x", "9" * 30):
        response = c.post("/auswertung/ziele", data={"jahr": year, "entries": "1", "exits": "1"})
        assert response.status_code == 404


def _number_fields() -> list:
    """Every number field of every form in the app, found from the app's form classes."""
    import importlib
    import pkgutil

    from flask_wtf import FlaskForm

    import crm

    for module in pkgutil.walk_packages(crm.__path__, "crm."):
        importlib.import_module(module.name)
    found = []
    pending = list(FlaskForm.__subclasses__())
    while pending:
        form_class = pending.pop()
        pending.extend(form_class.__subclasses__())
        if not form_class.__module__.startswith("crm."):
            continue
        for name in dir(form_class):
            unbound = getattr(form_class, name)
            if not isinstance(unbound, UnboundField):
                continue
            if issubclass(unbound.field_class, IntegerField | FloatField | DecimalField):
                found.append(pytest.param(form_class, name, id=f"{form_class.__name__}.{name}"))
    return found


NUMBER_FIELDS = _number_fields()
WHOLE_NUMBER_ERROR = "Bitte geben Sie eine ganze Zahl ein."
DECIMAL_ERROR = "Bitte geben Sie eine Zahl ein, z. B. 2,5."
DURATION_ERROR = (
    "Bitte eine Dauer wie 1:30, 1,5 h oder 90 (Minuten) eingeben, höchstens 24 Stunden."
)


def test_the_sweep_finds_the_number_fields_of_every_domain():
    ids = {p.id for p in NUMBER_FIELDS}
    assert {
        "OfficeForm.weekly_entries",
        "OfficeForm.weekly_exits",
        "SessionForm.minutes",
        "ParticipantForm.birth_year",
        "ActivityForm.duration_minutes",
        "NeedForm.count",
        "EditForm.repeat_every",
    } <= ids


def _submitted(form_class, name: str, value: str):
    """The field of a fresh form after `value` was submitted for it, validated."""
    form = form_class(meta={"csrf": False})
    field = form[name]
    field.process(MultiDict({name: value}))
    field.validate(form)
    return field


@pytest.mark.parametrize(("form_class", "name"), NUMBER_FIELDS)
def test_every_number_field_answers_nan_inf_and_overflow_with_a_german_form_error(
    app, form_class, name
):
    unbound = getattr(form_class, name)
    (bounds,) = [v for v in unbound.kwargs["validators"] if isinstance(v, NumberRange)]
    assert bounds.min is not None
    assert bounds.max is not None
    whole = issubclass(unbound.field_class, IntegerField)
    duration = issubclass(unbound.field_class, DurationField)
    expected = DURATION_ERROR if duration else WHOLE_NUMBER_ERROR if whole else DECIMAL_ERROR
    with app.test_request_context(method="POST"):
        for value in [*NOT_A_NUMBER, "9" * 5000, "12abc", " "]:
            field = _submitted(form_class, name, value)
            assert field.data is None, value
            if value.strip():
                assert field.errors == [expected], value
        for value in (str(bounds.min - 1), str(bounds.max + 1), "9" * 15, "-" + "9" * 15):
            field = _submitted(form_class, name, value)
            assert field.errors, value
            words = ("Zahl", "ziel", "Dauer")
            assert all(any(w in str(e) for w in words) for e in field.errors), field.errors
        field = _submitted(form_class, name, f" {bounds.max} ")
        assert field.errors == []
        assert field.data == bounds.max
