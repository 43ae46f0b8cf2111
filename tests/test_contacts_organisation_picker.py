"""A person's organisation (new person, "link to an organisation") is chosen with the record
picker; without JavaScript a typed name or number must find exactly one organisation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.contacts.models import Affiliation, Person
from tests.factories import make_org, make_person


@pytest.fixture
def staff(client_as):
    return client_as("staff")


def _new_person(c, **extra):
    data = {"last_name": "Wendland", "language": "de", "owner_id": "0", **extra}
    return c.post("/kontakte/personen/neu", data=data)


def _link(c, person, **extra):
    return c.post(f"/kontakte/personen/{person.id}/zugehoerigkeit", data={"function": "", **extra})


def test_the_new_person_form_from_an_organisation_shows_its_name_in_a_picker(db_session, staff):
    org = make_org(db_session, name="Elbe Logistik GmbH")
    db_session.commit()
    form = staff.get(f"/kontakte/personen/neu?organisation={org.id}").get_data(as_text=True)
    assert 'value="Elbe Logistik GmbH"' in form
    assert f'name="organisation_id" id="organisation_id" value="{org.id}"' in form
    assert 'data-source="/suche/auswahl/organisation"' in form


def test_a_new_person_is_linked_to_the_picked_one_of_two_namesakes(db_session, staff):
    make_org(db_session, name="Stadtwerke Burg")
    second = make_org(db_session, name="Stadtwerke Burg")
    db_session.commit()
    typed = _new_person(staff, organisation="Stadtwerke Burg")
    page = typed.get_data(as_text=True)
    assert 'id="organisation-errors"' in page
    assert 'value="Stadtwerke Burg"' in page
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 0
    picked = _new_person(staff, organisation="Stadtwerke Burg", organisation_id=str(second.id))
    assert picked.status_code == 302
    assert db_session.scalars(sa.select(Affiliation.organisation_id)).all() == [second.id]


def test_an_affiliation_is_made_to_the_picked_organisation(db_session, staff):
    person = make_person(db_session)
    make_org(db_session, name="Handwerkskammer Halle")
    second = make_org(db_session, name="Handwerkskammer Halle")
    db_session.commit()
    typed = _link(staff, person, organisation="Handwerkskammer Halle")
    assert typed.status_code == 400
    assert 'aria-invalid="true"' in typed.get_data(as_text=True)
    picked = _link(
        staff, person, organisation="Handwerkskammer Halle", organisation_id=str(second.id)
    )
    assert picked.status_code == 302
    assert db_session.scalars(sa.select(Affiliation.organisation_id)).all() == [second.id]


def test_a_changed_text_overrules_a_stale_chosen_id(db_session, staff):
    person = make_person(db_session)
    old = make_org(db_session, name="Zuckerfabrik Klein Wanzleben")
    new = make_org(db_session, name="Salzlandsparkasse")
    db_session.commit()
    response = _link(staff, person, organisation="Salzlandsparkasse", organisation_id=str(old.id))
    assert response.status_code == 302
    assert db_session.scalars(sa.select(Affiliation.organisation_id)).all() == [new.id]


@pytest.mark.parametrize("bad_id", ["x", "-1", "0", "123456789012345678901234567890", " 7 "])
def test_a_malformed_chosen_id_falls_back_to_the_typed_name(db_session, staff, bad_id):
    person = make_person(db_session)
    org = make_org(db_session, name="Harzer Schmalspurbahnen")
    db_session.commit()
    response = _link(staff, person, organisation="Harzer Schmalspurbahnen", organisation_id=bad_id)
    assert response.status_code == 302
    assert db_session.scalars(sa.select(Affiliation.organisation_id)).all() == [org.id]


def test_a_new_person_without_an_organisation_ignores_a_leftover_id(db_session, staff):
    org = make_org(db_session)
    db_session.commit()
    response = _new_person(staff, organisation="", organisation_id=str(org.id))
    assert response.status_code == 302
    assert db_session.scalar(sa.select(sa.func.count(Affiliation.id))) == 0


def test_a_read_only_user_cannot_link_an_organisation(db_session, client_as):
    person = make_person(db_session)
    org = make_org(db_session)
    db_session.commit()
    response = _link(
        client_as("readonly"), person, organisation=org.name, organisation_id=str(org.id)
    )
    assert response.status_code == 403
    assert db_session.scalar(sa.select(sa.func.count(Affiliation.id))) == 0
