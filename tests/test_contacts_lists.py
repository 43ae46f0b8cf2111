"""Static contact lists: create, view, rename, delete, add and remove members; permissions
and audit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.contacts.models import ContactList, ContactListMember, Person
from crm.newsletters.models import Audience
from tests.factories import make_list, make_person


def _members(db_session: Any, list_id: int) -> set[int]:
    return set(
        db_session.scalars(
            sa.select(ContactListMember.person_id).where(ContactListMember.list_id == list_id)
        )
    )


def test_staff_build_a_list_by_searching_and_adding_people(client_as: Any, db_session: Any) -> None:
    anna = make_person(db_session, first_name="Anna", last_name="Zabel")
    bernd = make_person(db_session, first_name="Bernd", last_name="Zabel")
    make_person(db_session, first_name="Carla", last_name="Other")
    db_session.commit()
    client = client_as("staff")

    response = client.post("/kontakte/listen/neu", data={"name": "Messe Magdeburg"})
    assert response.status_code == 302
    contact_list = db_session.scalar(
        sa.select(ContactList).where(ContactList.name == "Messe Magdeburg")
    )
    hits = client.get(f"/kontakte/listen/{contact_list.id}?q=Zabel").get_data(True)
    assert f'data-person-id="{anna.id}"' in hits
    assert f'data-person-id="{bernd.id}"' in hits
    assert "Carla" not in hits
    for person in (anna, bernd, anna):  # adding twice changes nothing
        response = client.post(
            f"/kontakte/listen/{contact_list.id}/mitglieder", data={"person_id": person.id}
        )
        assert response.status_code == 302
    assert _members(db_session, contact_list.id) == {anna.id, bernd.id}
    page = client.get(f"/kontakte/listen/{contact_list.id}").get_data(True)
    assert 'id="member-count">2<' in page
    index = client.get("/kontakte/listen/").get_data(True)
    assert 'data-members="2"' in index

    client.post(
        f"/kontakte/listen/{contact_list.id}/mitglieder/entfernen", data={"person_id": anna.id}
    )
    assert _members(db_session, contact_list.id) == {bernd.id}
    assert db_session.get(Person, anna.id) is not None  # only the membership goes

    actions = db_session.execute(
        sa.select(AuditEntry.action, AuditEntry.entity_type, AuditEntry.entity_id).where(
            AuditEntry.action.in_(("create", "list_add", "list_remove"))
        )
    ).all()
    assert ("create", "contact_list", contact_list.id) in actions
    assert ("list_add", "person", anna.id) in actions
    assert ("list_add", "person", bernd.id) in actions
    assert ("list_remove", "person", anna.id) in actions
    assert sum(1 for a in actions if a[0] == "list_add") == 2


def test_a_list_is_renamed_and_names_stay_unique(client_as: Any, db_session: Any) -> None:
    first = ContactList(name="Erste")
    second = ContactList(name="Zweite")
    db_session.add_all([first, second])
    db_session.commit()
    client = client_as("staff")
    taken = client.post(f"/kontakte/listen/{first.id}/bearbeiten", data={"name": "zweite"})
    assert taken.status_code == 200
    assert "gibt es schon" in taken.get_data(True)
    assert (
        client.post(
            f"/kontakte/listen/{first.id}/bearbeiten", data={"name": "Neuer Name"}
        ).status_code
        == 302
    )
    db_session.refresh(first)
    assert first.name == "Neuer Name"


def test_deleting_a_list_keeps_its_people_and_is_refused_while_an_audience_uses_it(
    client_as: Any, db_session: Any
) -> None:
    person = make_person(db_session)
    used = ContactList(name="Benutzt")
    free = ContactList(name="Frei")
    db_session.add_all([used, free])
    db_session.flush()
    db_session.add_all(
        [
            ContactListMember(list_id=used.id, person_id=person.id),
            ContactListMember(list_id=free.id, person_id=person.id),
        ]
    )
    nl = make_list(db_session)
    db_session.add(Audience(name="Z", list_id=nl.id, kind="static", contact_list_id=used.id))
    db_session.commit()
    used_id, free_id, person_id = used.id, free.id, person.id
    client = client_as("staff")

    refused = client.post(f"/kontakte/listen/{used_id}/loeschen")
    assert refused.status_code == 200
    assert "kann nicht gelöscht werden" in refused.get_data(True)
    assert db_session.get(ContactList, used_id) is not None
    assert _members(db_session, used_id) == {person_id}

    assert client.post(f"/kontakte/listen/{free_id}/loeschen").status_code == 302
    db_session.expire_all()
    assert db_session.get(ContactList, free_id) is None
    assert db_session.get(Person, person_id) is not None
    assert _members(db_session, used_id) == {person_id}
    assert _members(db_session, free_id) == set()


def test_read_only_users_see_lists_but_cannot_change_them(client_as: Any, db_session: Any) -> None:
    person = make_person(db_session)
    contact_list = ContactList(name="Nur lesen")
    db_session.add(contact_list)
    db_session.commit()
    client = client_as("readonly")
    assert client.get("/kontakte/listen/").status_code == 200
    page = client.get(f"/kontakte/listen/{contact_list.id}?q=x")
    assert page.status_code == 200
    assert "member-search" not in page.get_data(True)
    assert client.get("/kontakte/listen/neu").status_code == 403
    for url, data in (
        ("/kontakte/listen/neu", {"name": "X"}),
        (f"/kontakte/listen/{contact_list.id}/bearbeiten", {"name": "X"}),
        (f"/kontakte/listen/{contact_list.id}/loeschen", {}),
        (f"/kontakte/listen/{contact_list.id}/mitglieder", {"person_id": person.id}),
        (f"/kontakte/listen/{contact_list.id}/mitglieder/entfernen", {"person_id": person.id}),
    ):
        assert client.post(url, data=data).status_code == 403, url
    assert _members(db_session, contact_list.id) == set()


def test_bad_member_input_is_refused_without_an_error_page(client_as: Any, db_session: Any) -> None:
    contact_list = ContactList(name="Robust")
    db_session.add(contact_list)
    db_session.commit()
    client = client_as("staff")
    base = f"/kontakte/listen/{contact_list.id}/mitglieder"
    assert client.post(base, data={"person_id": "abc"}).status_code == 400
    assert client.post(base, data={"person_id": "-3"}).status_code == 400
    assert client.post(base, data={"person_id": "999999"}).status_code == 302
    assert (
        client.post("/kontakte/listen/999999/mitglieder", data={"person_id": 1}).status_code == 404
    )
    assert client.get(f"/kontakte/listen/{contact_list.id}?q=Zabel&seite=x").status_code == 200
    assert client.get(f"/kontakte/listen/{contact_list.id}?q=%00").status_code == 400
    assert _members(db_session, contact_list.id) == set()


def test_the_people_list_adds_ticked_people_or_all_matching_to_a_list(
    client_as: Any, db_session: Any
) -> None:
    matching = [make_person(db_session, last_name=f"Brettschneider{i}") for i in range(3)]
    other = make_person(db_session, last_name="Anders")
    contact_list = ContactList(name="Sammel")
    db_session.add(contact_list)
    db_session.commit()
    list_id = contact_list.id
    client = client_as("staff")

    page = client.get("/kontakte/personen?q=Brettschneider").get_data(True)
    assert 'id="bulk-form"' in page
    assert page.count('name="ids"') == 3
    # The bulk bar's "add to contact list" (crm.bulk) on ticked people ...
    response = client.post(
        "/sammelaktionen/personen",
        data={
            "action": "list",
            "confirmed": "1",
            "list_id": list_id,
            "ids": [matching[0].id],
            "filter": "q=Brettschneider",
        },
    )
    assert response.status_code == 302
    assert _members(db_session, list_id) == {matching[0].id}

    # ... or on everybody the filter matches.
    client.post(
        "/sammelaktionen/personen",
        data={
            "action": "list",
            "confirmed": "1",
            "list_id": list_id,
            "all_matching": "y",
            "filter": "q=Brettschneider",
        },
    )
    assert _members(db_session, list_id) == {p.id for p in matching}
    assert other.id not in _members(db_session, list_id)

    assert client_as("readonly").get("/kontakte/personen").get_data(True).count("bulk-form") == 0
    refused = client.post(
        "/sammelaktionen/personen",
        data={"action": "list", "confirmed": "1", "list_id": list_id, "filter": "q=%0d%0a"},
    )
    assert refused.status_code == 302
    assert "\n" not in refused.headers["Location"]
