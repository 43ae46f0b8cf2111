"""Malformed input gets a clear answer, never a 500 (issue 12, finding 4, the generic part)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_wtf import FlaskForm

from crm.contacts.models import Organisation
from crm.events.models import Event

GERMAN_DATE_RANGE = "Bitte geben Sie ein Datum zwischen dem 01.01.1900 und dem 31.12.2200 ein."
GERMAN_NUL = "Dieses Feld enthält ein Zeichen, das nicht gespeichert werden kann (NUL)."


def _count(db_session, model) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(model))


# --- integers beyond the database's range ------------------------------------------------


@pytest.mark.parametrize("value", ["2147483648", str(2**63), "9" * 5000])
@pytest.mark.parametrize(
    "path", ["/kontakte/personen/{}", "/teilnehmende/{}", "/termine/{}/bearbeiten"]
)
def test_an_id_beyond_the_database_integer_range_in_the_path_is_a_404(admin_client, path, value):
    response = admin_client.get(path.format(value))
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", [2**31, 2**63, -(2**63)])
def test_an_integer_query_value_beyond_the_database_range_is_treated_as_no_value(
    admin_client, value
):
    for query in (f"datensatz={value}", f"benutzer={value}", f"seite={value}"):
        response = admin_client.get(f"/verwaltung/protokoll/?{query}")
        assert response.status_code == 200, query


# --- dates outside a sane range ------------------------------------------------------------


@pytest.mark.parametrize("query", ["von=0001-01-01", "bis=9999-12-31", "von=1899-12-31"])
def test_an_audit_date_filter_outside_1900_to_2200_gets_a_german_validation_message(
    admin_client, query
):
    response = admin_client.get(f"/verwaltung/protokoll/?{query}")
    assert response.status_code == 200
    assert GERMAN_DATE_RANGE in response.get_data(as_text=True)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_form_date_outside_1900_to_2200_is_refused_with_a_german_message(
    admin_client, db_session, day
):
    before = _count(db_session, Event)
    response = admin_client.post(
        "/termine/neu",
        data={
            "title": "Jobmesse",
            "kind": "fair",
            "start_date": day,
            "pattern": "none",
            "responsible_id": str(admin_client.user.id),
        },
    )
    assert response.status_code == 200
    assert GERMAN_DATE_RANGE in response.get_data(as_text=True)
    assert _count(db_session, Event) == before


# --- NUL characters ---------------------------------------------------------------------------


def test_a_nul_character_in_a_text_field_is_refused_with_a_german_form_message(
    admin_client, db_session
):
    before = _count(db_session, Organisation)
    response = admin_client.post(
        "/kontakte/organisationen/neu",
        data={"name": "Elbe\x00Werk GmbH", "kind": "employer", "owner_id": "0"},
    )
    assert response.status_code == 200
    assert GERMAN_NUL in response.get_data(as_text=True)
    assert _count(db_session, Organisation) == before


@pytest.mark.parametrize(
    "path", ["/kontakte/organisationen?q=Elbe%00Werk", "/newsletter/abmelden/abc%00def"]
)
def test_a_nul_character_in_the_address_is_refused_with_a_german_message(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 400
    assert "Die Adresse enthält ein Zeichen, das nicht verarbeitet werden kann (NUL)." in (
        response.get_data(as_text=True)
    )


def test_every_form_of_the_app_derives_from_the_base_form_that_refuses_unstorable_values(app):
    """A new form that skips crm.forms.Form would also skip the NUL/range/date checks."""
    from crm.forms import Form

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    forms = {cls for cls in subclasses(FlaskForm) if cls.__module__.startswith("crm.")} - {Form}
    assert len(forms) > 30
    strays = sorted(cls.__qualname__ for cls in forms if not issubclass(cls, Form))
    assert strays == []


# --- found by the property-based tests (tests/test_fuzz.py) -------------------------------


@pytest.mark.parametrize("typed", ["2147483648", "9223372036854775808", "²³", "#٣"])
def test_a_record_number_beyond_the_database_range_typed_into_a_picker_finds_nothing(
    admin_client, db_session, typed
):
    from tests.factories import make_org

    org = make_org(db_session, name="Elbe-Werk GmbH")
    db_session.commit()
    response = admin_client.get(
        f"/kontakte/organisationen/{org.id}/zusammenfuehren", query_string={"q": typed}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["2147483648", "9223372036854775808"])
def test_a_follow_up_prefilled_with_a_record_number_beyond_the_database_range_opens(
    admin_client, value
):
    for name in ("organisation_id", "person_id"):
        response = admin_client.get("/wiedervorlagen/neu", query_string={name: value})
        assert response.status_code in (200, 404), name
