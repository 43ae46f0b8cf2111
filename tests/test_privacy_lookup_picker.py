"""The data-protection lookup offers people and participants by name while typing (a record
picker that opens the record's access page); the full search stays the no-JavaScript way."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.database import utcnow
from tests import factories
from tests.factories import make_participant, make_person


@pytest.fixture
def world(db_session):
    one, two = factories.make_office(db_session), factories.make_office(db_session)
    first = make_participant(db_session, office=one, first_name="Darina", last_name="Okonkwo")
    second = make_participant(db_session, office=two, first_name="Dario", last_name="Okonkwo")
    person = make_person(db_session, first_name="Dora", last_name="Okonkwo")
    db_session.commit()
    return dict(first=first, second=second, person=person)


def _urls(response) -> list[str]:
    return re.findall(r'data-url="([^"]+)"', response.get_data(as_text=True))


def test_the_picker_offers_people_and_participants_of_every_office_to_an_admin(client_as, world):
    admin = client_as("admin")
    response = admin.get("/datenschutz/auswahl?q=okonkwo")
    assert response.status_code == 200
    urls = _urls(response)
    assert f"/datenschutz/teilnehmende/{world['first'].id}/auskunft" in urls
    assert f"/datenschutz/teilnehmende/{world['second'].id}/auskunft" in urls
    assert f"/datenschutz/personen/{world['person'].id}/auskunft" in urls
    assert len(urls) == 3
    # Grouped, and the options are what the access page opens (no other page's address).
    html = response.get_data(as_text=True)
    assert 'id="privacy-group-person"' in html
    assert 'id="privacy-group-participant"' in html


def test_the_picker_finds_a_record_by_its_number(client_as, world):
    admin = client_as("admin")
    response = admin.get(f"/datenschutz/auswahl?q=%23{world['second'].id}")
    assert f"/datenschutz/teilnehmende/{world['second'].id}/auskunft" in _urls(response)


def test_each_participant_offered_is_audited_and_no_one_else(client_as, world, db_session):
    admin = client_as("admin")
    admin.get("/datenschutz/auswahl?q=darina")
    audited = db_session.scalars(
        sa.select(AuditEntry.entity_id).where(
            AuditEntry.action == "search_hit", AuditEntry.entity_type == "participant"
        )
    ).all()
    assert audited == [world["first"].id]


def test_an_erased_participant_is_not_offered(client_as, world, db_session):
    world["first"].erased_at = utcnow()
    db_session.commit()
    response = client_as("admin").get("/datenschutz/auswahl?q=okonkwo")
    urls = _urls(response)
    assert f"/datenschutz/teilnehmende/{world['first'].id}/auskunft" not in urls
    assert f"/datenschutz/teilnehmende/{world['second'].id}/auskunft" in urls


@pytest.mark.parametrize("role", ["lead", "counsellor", "staff", "readonly"])
def test_only_the_privacy_role_may_use_the_picker(client_as, world, db_session, role):
    response = client_as(role).get("/datenschutz/auswahl?q=okonkwo")
    assert response.status_code == 403
    assert b"Okonkwo" not in response.data
    audited = db_session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "search_hit")
    )
    assert audited == 0


def test_an_anonymous_visitor_gets_no_options(client, world):
    response = client.get("/datenschutz/auswahl?q=okonkwo")
    assert response.status_code in (302, 401)
    assert b"Okonkwo" not in response.data


def test_nothing_typed_answers_no_content(client_as):
    assert client_as("admin").get("/datenschutz/auswahl?q=+++").status_code == 204


@pytest.mark.parametrize(
    "query",
    ["%", "_", "#", "#0", "#-1", "#99999999999999999999999", "a" * 5000, "\x00", "ä' OR 1=1 --"],
)
def test_odd_input_never_fails(client_as, world, query):
    response = client_as("admin").get("/datenschutz/auswahl", query_string={"q": query})
    assert response.status_code in (200, 204, 400)  # NUL characters are refused app-wide
    assert "Okonkwo" not in response.get_data(as_text=True)


def test_nothing_found_points_to_the_full_search(client_as, world):
    response = client_as("admin").get("/datenschutz/auswahl?q=Zzyzxwq")
    assert response.status_code == 200
    assert "Alle Datensätze durchsuchen" in response.get_data(as_text=True)
    assert _urls(response) == []


@pytest.mark.parametrize("url", ["/datenschutz/", "/datenschutz/auskunft?q=Okonkwo"])
def test_the_lookup_fields_are_record_pickers_over_the_full_search(client_as, world, url):
    page = client_as("admin").get(url).get_data(as_text=True)
    assert 'data-source="/datenschutz/auswahl"' in page
    assert "data-navigate" in page
    # Without JavaScript the same field submits to the search across every domain.
    assert 'action="/datenschutz/auskunft"' in page


def test_without_javascript_the_typed_name_lists_every_matching_record(client_as, world):
    page = client_as("admin").get("/datenschutz/auskunft?q=Okonkwo").get_data(as_text=True)
    for record in (world["first"], world["second"]):
        assert f'href="/datenschutz/teilnehmende/{record.id}/auskunft"' in page
    assert f'href="/datenschutz/personen/{world["person"].id}/auskunft"' in page
