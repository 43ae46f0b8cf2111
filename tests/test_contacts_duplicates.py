"""The duplicates page: pairs of records that look like one, a click from the merge page."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.contacts import service
from crm.contacts.models import DistinctPair
from tests.factories import make_org, make_person


def test_people_with_the_same_name_at_one_firm_or_one_address_are_paired(db_session: Any) -> None:
    hotel = make_org(db_session, name="Hotel zur Börde")
    other = make_org(db_session, name="Anderswo GmbH")
    first = make_person(db_session, first_name="Franziska", last_name="Bär", org=hotel)
    second = make_person(db_session, first_name="Franziska", last_name="Baer", org=hotel)
    # Same name elsewhere: a different person, not a pair.
    make_person(db_session, first_name="Franziska", last_name="Bär", org=other)
    mail_a = make_person(db_session, first_name="Jan", last_name="Nowak", email="jan@example.org")
    mail_b = make_person(
        db_session,
        first_name="J.",
        last_name="Nowak",
        email="x@example.org",
        email_alt="jan@example.org",
    )
    pairs = {
        (p.first.id, p.second.id): p.reasons
        for p in service.find_duplicate_pairs(db_session, "person")
    }
    assert pairs == {
        (first.id, second.id): ["name_at_organisation"],
        (mail_a.id, mail_b.id): ["email"],
    }


def test_colleagues_sharing_the_firms_switchboard_or_mailbox_are_not_paired(
    db_session: Any,
) -> None:
    firm = make_org(db_session, name="Großbetrieb")
    shared = [
        make_person(db_session, org=firm, email="info@gross.example", phone="0391 5550")
        for _ in range(4)
    ]
    pair = [make_person(db_session, email="", phone="0391 777888") for _ in range(2)]
    pairs = {
        (p.first.id, p.second.id): p.reasons
        for p in service.find_duplicate_pairs(db_session, "person")
    }
    assert pairs == {(pair[0].id, pair[1].id): ["phone"]}
    assert not {shared[0].id, shared[1].id} & {i for ids in pairs for i in ids}


def test_organisations_with_the_same_name_and_postcode_or_phone_are_paired(db_session: Any) -> None:
    a = make_org(db_session, name="Bäckerei Schulze", postcode="39104", phone="0391 1234567")
    b = make_org(db_session, name="Baeckerei Schulze", postcode="39104")
    c = make_org(db_session, name="Backstube am Markt", phone="+49 391 1234567")
    make_org(db_session, name="Bäckerei Schulze", postcode="06108")
    pairs = {
        (p.first.id, p.second.id): p.reasons
        for p in service.find_duplicate_pairs(db_session, "organisation")
    }
    assert pairs == {(a.id, b.id): ["name_and_postcode"], (a.id, c.id): ["phone"]}


def test_the_page_is_a_tab_of_the_contacts_and_leads_to_the_merge_page(
    client_as: Any, db_session: Any
) -> None:
    hotel = make_org(db_session, name="Hotel zur Börde")
    first = make_person(db_session, first_name="Franziska", last_name="Bär", org=hotel)
    second = make_person(db_session, first_name="Franziska", last_name="Bär", org=hotel)
    db_session.commit()
    staff = client_as("staff")
    people = staff.get("/kontakte/personen").get_data(as_text=True)
    assert 'href="/kontakte/dubletten"' in people
    page = staff.get("/kontakte/dubletten").get_data(as_text=True)
    merge = f"/kontakte/personen/{first.id}/zusammenfuehren/{second.id}"
    assert merge in page
    assert "gleicher Name bei derselben Organisation" in page
    assert staff.get(merge).status_code == 200
    orgs = staff.get("/kontakte/dubletten?art=organisationen")
    assert orgs.status_code == 200
    assert 'id="no-duplicates"' in orgs.get_data(as_text=True)


def test_users_who_may_not_merge_neither_see_the_tab_nor_the_page(client_as: Any) -> None:
    reader = client_as("readonly")
    assert "/kontakte/dubletten" not in reader.get("/kontakte/personen").get_data(as_text=True)
    assert reader.get("/kontakte/dubletten").status_code == 403


def test_a_pair_marked_as_different_is_no_longer_offered_but_its_group_still_is(
    client_as: Any, db_session: Any
) -> None:
    firm = make_org(db_session, name="Stadtwerke")
    a, b, c = (
        make_person(db_session, first_name="Anna", last_name="Schmidt", org=firm) for _ in range(3)
    )
    db_session.commit()
    staff = client_as("staff")
    page = staff.get("/kontakte/dubletten").get_data(as_text=True)
    assert 'name="erster"' in page
    assert "Keine Dublette" in page
    staff.post(
        "/kontakte/dubletten/verschieden",
        data={"art": "personen", "erster": b.id, "zweiter": a.id},
    )
    pairs = {(p.first.id, p.second.id) for p in service.find_duplicate_pairs(db_session, "person")}
    assert pairs == {(a.id, c.id), (b.id, c.id)}
    # Merging c into a: c's marks go, a's stay; the pair a/b stays hidden.
    service.merge_people(db_session, a, c, user=None)
    db_session.flush()
    assert service.find_duplicate_pairs(db_session, "person") == []


def test_marking_needs_the_merge_right_csrf_and_two_existing_records(
    client_as: Any, db_session: Any
) -> None:
    x, y = make_org(db_session, name="Eins GmbH"), make_org(db_session, name="Zwei GmbH")
    db_session.commit()
    data = {"art": "organisationen", "erster": x.id, "zweiter": y.id}
    assert (
        client_as("readonly").post("/kontakte/dubletten/verschieden", data=data).status_code == 403
    )
    staff = client_as("staff")
    assert (
        staff.post("/kontakte/dubletten/verschieden", data={**data, "zweiter": 999999}).status_code
        == 404
    )
    assert (
        staff.post("/kontakte/dubletten/verschieden", data={**data, "zweiter": "x"}).status_code
        == 404
    )
    assert (
        staff.post("/kontakte/dubletten/verschieden", data={**data, "zweiter": x.id}).status_code
        == 404
    )
    assert staff.post("/kontakte/dubletten/verschieden", data=data, csrf=False).status_code == 400
    response = staff.post("/kontakte/dubletten/verschieden", data=data)
    assert response.status_code == 302
    assert "art=organisationen" in response.headers["Location"]
    # Deleting one of them removes the mark with it.
    service.delete_organisation(db_session, y, user=None)
    db_session.flush()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(DistinctPair)) == 0


def test_an_organisation_pair_names_postcode_and_town_only_where_there_are_some(
    client_as: Any, db_session: Any
) -> None:
    make_org(db_session, name="Agentur für Arbeit Magdeburg", city="Magdeburg")
    make_org(db_session, name="Agentur für Arbeit Magdeburg", city="Magdeburg")
    make_org(db_session, name="Hof Lindner", phone="0391 9876543")
    make_org(db_session, name="Lindner Hof", phone="0391 9876543")
    db_session.commit()
    page = client_as("staff").get("/kontakte/dubletten?art=organisationen").get_data(as_text=True)
    assert "(Magdeburg)" in page
    assert "( Magdeburg)" not in page
    # No address at all: no empty brackets.
    assert "( )" not in page
    assert "()" not in page.split('id="duplicate-pairs"', 1)[1]
