"""Event organiser and invitees are records chosen with the record picker (or typed)."""

from __future__ import annotations

import sqlalchemy as sa

from crm.events.models import Event, EventContact
from tests.factories import make_org, make_person


def _new_event(c, **extra):
    data = {
        "kind": "fair",
        "title": "Ausbildungsmesse Genthin",
        "start_date": "2027-05-12",
        "start_time": "09:00",
        "end_date": "2027-05-12",
        "end_time": "16:00",
        "responsible_id": str(c.user.id),
        "pattern": "none",
        **extra,
    }
    return c.post("/termine/neu", data=data)


def test_the_organiser_picked_by_id_is_stored_even_when_names_are_alike(client_as, db_session):
    # Two organisations of the same name: typing it cannot decide, picking it can.
    first = make_org(db_session, name="Stadtverwaltung Genthin")
    make_org(db_session, name="Stadtverwaltung Genthin")
    db_session.commit()
    c = client_as("staff")
    typed = _new_event(c, organiser="Stadtverwaltung Genthin")
    assert typed.status_code == 200
    picked = _new_event(c, organiser="Stadtverwaltung Genthin", organiser_id=str(first.id))
    assert picked.status_code == 302, picked.data
    event = db_session.scalar(sa.select(Event).where(Event.title == "Ausbildungsmesse Genthin"))
    assert event.organiser_id == first.id
    form = c.get(f"/termine/{event.id}/bearbeiten").get_data(as_text=True)
    assert 'value="Stadtverwaltung Genthin"' in form
    assert 'data-source="/suche/auswahl/organisation"' in form


def test_an_invitee_picked_by_id_is_added(client_as, db_session):
    one = make_person(db_session, first_name="Karl", last_name="Lindner")
    make_person(db_session, first_name="Karl", last_name="Lindner")
    db_session.commit()
    c = client_as("staff")
    assert _new_event(c).status_code == 302
    event = db_session.scalar(sa.select(Event).where(Event.title == "Ausbildungsmesse Genthin"))
    url = f"/termine/{event.id}/kontakte"
    assert c.post(url, data={"person": "Karl Lindner", "status": "invited"}).status_code == 400
    response = c.post(
        url, data={"person": "Karl Lindner", "person_id": str(one.id), "status": "invited"}
    )
    assert response.status_code == 302
    invited = db_session.scalars(sa.select(EventContact).where(EventContact.event_id == event.id))
    assert [c.person_id for c in invited] == [one.id]


def test_adding_or_changing_an_invitee_confirms_it_with_a_message(client_as, db_session):
    person = make_person(db_session, first_name="Karl", last_name="Lindner")
    db_session.commit()
    c = client_as("staff")
    assert _new_event(c).status_code == 302
    event = db_session.scalar(sa.select(Event).where(Event.title == "Ausbildungsmesse Genthin"))
    url = f"/termine/{event.id}/kontakte"
    for status, label in (("invited", "eingeladen"), ("attended", "teilgenommen")):
        response = c.post(
            url, data={"person": "Karl Lindner", "person_id": str(person.id), "status": status}
        )
        page = c.get(response.headers["Location"]).get_data(as_text=True)
        assert f"Karl Lindner ist als „{label}“ eingetragen." in page


def test_an_unknown_organiser_is_explained_with_what_to_do_and_the_typed_values_stay(
    client_as, db_session
):
    make_org(db_session, name="Stadtverwaltung Genthin")
    make_org(db_session, name="Stadtverwaltung Genthin")
    db_session.commit()
    c = client_as("staff")

    page = _new_event(c, organiser="IQ Netzwerk").get_data(as_text=True)
    assert "Keine Organisation hat diesen Namen oder diese Nummer." in page
    assert "unter Kontakte an oder lassen Sie das Feld leer" in page
    assert 'value="Ausbildungsmesse Genthin"' in page
    assert 'value="IQ Netzwerk"' in page

    page = _new_event(c, organiser="Stadtverwaltung Genthin").get_data(as_text=True)
    assert "2 Organisationen passen." in page
