"""Record pickers and the global search: scoped like the lists, audited, bounded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.events.models import Event
from tests import factories
from tests.factories import make_org, make_participant, make_person


@pytest.fixture
def world(db_session):
    own, other = factories.make_office(db_session), factories.make_office(db_session)
    mine = make_participant(db_session, office=own, first_name="Amira", last_name="Haddad")
    theirs = make_participant(db_session, office=other, first_name="Amira", last_name="Hadid")
    person = make_person(db_session, first_name="Helga", last_name="Hadamer")
    org = make_org(db_session, name="Hafenbetriebe Magdeburg")
    event = Event(
        title="Haldensleber Jobmesse",
        starts_at=datetime(2026, 11, 3, 9, tzinfo=UTC),
        ends_at=datetime(2026, 11, 3, 15, tzinfo=UTC),
    )
    db_session.add(event)
    db_session.commit()
    return dict(own=own, other=other, mine=mine, theirs=theirs, person=person, org=org, event=event)


def _hit_ids(html: bytes) -> set[str]:
    import re

    return set(re.findall(r'data-url="([^"]+)"', html.decode()))


def _participant_audits(db_session, participant_id: int) -> int:
    return db_session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.entity_type == "participant", AuditEntry.entity_id == participant_id)
        .where(AuditEntry.action == "search_hit")
    )


def test_a_counsellor_picks_only_participants_of_her_own_office(client_as, world, db_session):
    c = client_as("counsellor", office=world["own"])
    response = c.get("/suche/auswahl/participant?q=amira")
    assert response.status_code == 200
    urls = _hit_ids(response.data)
    assert f"/teilnehmende/{world['mine'].id}" in urls
    assert f"/teilnehmende/{world['theirs'].id}" not in urls
    assert b"Hadid" not in response.data
    # Not by number either.
    response = c.get(f"/suche/auswahl/participant?q=%23{world['theirs'].id}")
    assert b"Hadid" not in response.data


def test_each_participant_in_the_hits_is_audited_and_no_one_else(client_as, world, db_session):
    c = client_as("counsellor", office=world["own"])
    c.get("/suche/auswahl/participant?q=amira")
    assert _participant_audits(db_session, world["mine"].id) == 1
    assert _participant_audits(db_session, world["theirs"].id) == 0
    c.get("/suche/?q=amira")
    assert _participant_audits(db_session, world["mine"].id) == 2
    assert _participant_audits(db_session, world["theirs"].id) == 0


def test_the_global_search_groups_every_kind_the_user_may_see(client_as, world):
    c = client_as("lead")
    response = c.get("/suche/?q=ha")
    assert response.status_code == 200
    for group in ("person", "organisation", "participant", "event"):
        assert f'id="search-group-{group}"'.encode() in response.data
    for name in (b"Haddad", b"Hadid", b"Hadamer", b"Hafenbetriebe", b"Haldensleber"):
        assert name in response.data


def test_the_global_search_of_a_counsellor_leaves_other_offices_out(client_as, world):
    c = client_as("counsellor", office=world["own"])
    response = c.get("/suche/?q=amira")
    assert b"Haddad" in response.data
    assert b"Hadid" not in response.data
    suggest = c.get("/suche/vorschlag?q=amira")
    assert b"Haddad" in suggest.data
    assert b"Hadid" not in suggest.data


@pytest.mark.parametrize("role", ["staff", "readonly"])
def test_roles_without_participant_rights_find_contacts_but_no_participant(
    client_as, world, db_session, role
):
    c = client_as(role)
    response = c.get("/suche/?q=ha")
    assert b"Hadamer" in response.data
    assert b"Haldensleber" in response.data
    assert b"Haddad" not in response.data
    assert b"Hadid" not in response.data
    assert b'id="search-group-participant"' not in response.data
    picker = c.get("/suche/auswahl/participant?q=amira")
    assert picker.status_code == 200
    assert b"data-url" not in picker.data
    assert _participant_audits(db_session, world["mine"].id) == 0


def test_a_picker_offers_at_most_twenty_records(client_as, db_session):
    for n in range(25):
        make_person(db_session, first_name="Zora", last_name=f"Zander{n:02d}")
    db_session.commit()
    c = client_as("staff")
    response = c.get("/suche/auswahl/person?q=zora")
    assert response.data.count(b'role="option"') == 20


@pytest.mark.parametrize(
    "query",
    [
        "",
        " ",
        "%",
        "_",
        "'; drop table person; --",
        '"*',
        "a" * 5000,
        "#99999999999999999999",
        "#0",
        "ä\u0301",
        "NEAR(a b)",
        "*",
    ],
)
@pytest.mark.parametrize("kind", ["person", "organisation", "participant", "event"])
def test_odd_input_never_breaks_a_picker(admin_client, world, kind, query):
    response = admin_client.get(f"/suche/auswahl/{kind}", query_string={"q": query})
    assert response.status_code in (200, 204)


@pytest.mark.parametrize("query", ["", "%", "a" * 5000, "#99999999999999999999", '"'])
def test_odd_input_never_breaks_the_global_search(admin_client, world, query):
    assert admin_client.get("/suche/", query_string={"q": query}).status_code == 200
    assert admin_client.get("/suche/vorschlag", query_string={"q": query}).status_code in (200, 204)


def test_an_unknown_kind_of_record_is_not_found(admin_client):
    assert admin_client.get("/suche/auswahl/user?q=a").status_code == 404


def test_the_search_box_is_in_the_navigation_bar(admin_client):
    html = admin_client.get("/").data
    assert b'id="global-search"' in html
    assert b"/static/js/picker." in html  # picker.<content hash>.js


def test_anonymous_users_are_sent_to_the_login(client):
    assert client.get("/suche/?q=a").status_code == 302
    assert client.get("/suche/auswahl/person?q=a").status_code == 302


def test_the_merge_page_picks_the_other_record_by_name(client_as, db_session):
    keep = make_person(db_session, first_name="Jana", last_name="Merkelbach")
    db_session.commit()
    html = client_as("admin").get(f"/kontakte/personen/{keep.id}/zusammenfuehren").data.decode()
    assert 'data-source="/suche/auswahl/person"' in html
    assert f'data-url-template="/kontakte/personen/{keep.id}/zusammenfuehren/{{id}}"' in html


def test_the_global_search_sends_the_same_number_of_queries_for_one_or_many_hits(
    client_as, db_session, count_queries
):
    c = client_as("lead")
    make_person(db_session, first_name="Quirin", last_name="Einzeln")
    for n in range(12):
        make_person(db_session, first_name="Vielfach", last_name=f"Name{n}")
        make_participant(db_session, first_name="Vielfach", last_name=f"Teil{n}")
    db_session.commit()
    c.get("/suche/?q=quirin")  # warm up (login, caches)
    with count_queries() as one:
        c.get("/suche/?q=quirin")
    with count_queries() as many:
        page = c.get("/suche/?q=vielfach")
    assert page.data.count(b"Vielfach") >= 2 * 8
    assert len(many) <= len(one) + 1


def test_the_art15_report_names_search_hits_in_german(client_as, world, db_session):
    counsellor = client_as("counsellor", office=world["own"])
    counsellor.get("/suche/auswahl/participant?q=haddad")
    admin = client_as("admin")
    report = admin.get(f"/datenschutz/auskunft/bericht?r=participant:{world['mine'].id}")
    assert report.status_code == 200
    html = report.get_data(as_text=True)
    assert "in einer Suche angezeigt" in html
    assert "search_hit" not in html


@pytest.mark.parametrize("query", ["%", "_", "#", "--", "*"])
def test_a_query_without_a_searchable_word_offers_no_contacts(client_as, world, query):
    c = client_as("lead")
    for kind in ("person", "organisation"):
        response = c.get(f"/suche/auswahl/{kind}", query_string={"q": query})
        assert response.status_code in (200, 204)
        assert b"data-url" not in response.data


def test_the_participant_number_shown_beside_a_hit_finds_the_participant(client_as, world):
    """The pseudonym (TN-…) shown in the hits, on the record and in exports is searchable."""
    c = client_as("counsellor", office=world["own"])
    mine, theirs = world["mine"].pseudonym, world["theirs"].pseudonym
    for query in (mine, mine.lower(), f" {mine.upper()} ", mine.removeprefix("TN-")):
        response = c.get("/suche/", query_string={"q": query})
        assert f"/teilnehmende/{world['mine'].id}".encode() in response.data, query
        listed = c.get("/teilnehmende/", query_string={"q": query})
        assert b"Haddad" in listed.data, query
    # Another office's participant stays hidden, by number as by name.
    assert b"Hadid" not in c.get("/suche/", query_string={"q": theirs}).data
    assert b"Hadid" not in c.get("/teilnehmende/", query_string={"q": theirs}).data
