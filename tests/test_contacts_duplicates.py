"""The duplicates page: pairs of records that look like one, a click from the merge page."""

from __future__ import annotations

from typing import Any

from crm.contacts import service
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
