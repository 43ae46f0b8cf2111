"""Bulk actions on the people and organisation lists: tags, owner, static list, newsletter with
a recorded consent source, export of the selection; select-all-matching, permissions, audit."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.contacts.models import ContactList, ContactListMember, Person, Tag, person_tag
from crm.newsletters.models import ConsentEvent, Subscription
from tests.factories import (
    make_list,
    make_office,
    make_org,
    make_participant,
    make_person,
    make_user,
)
from tests.newsletter_sending_helpers import subscribe


def _tagged(db_session: Any, name: str) -> set[int]:
    return set(
        db_session.scalars(
            sa.select(person_tag.c.person_id)
            .join(Tag, Tag.id == person_tag.c.tag_id)
            .where(Tag.name == name)
        )
    )


def _flashes(client: Any) -> str:
    with client.session_transaction() as session:
        return " ".join(str(m) for _c, m in session.get("_flashes", []))


def _people(db_session: Any, stem: str, n: int, **data: Any) -> list[Person]:
    return [make_person(db_session, last_name=f"{stem}{i}", **data) for i in range(n)]


def test_the_people_list_offers_a_checkbox_per_row_and_the_actions_the_role_may_run(
    client_as: Any, db_session: Any
) -> None:
    _people(db_session, "Wolkenstein", 3)
    db_session.commit()
    page = client_as("staff").get("/kontakte/personen?q=Wolkenstein").get_data(True)
    assert page.count('name="ids"') == 3
    assert "Alle 3 Treffer auswählen" in page
    for value in ("tag_add", "tag_remove", "owner", "list", "newsletter", "export_csv"):
        assert f'value="{value}"' in page
    counsellor = client_as("counsellor").get("/kontakte/personen?q=Wolkenstein").get_data(True)
    assert 'value="newsletter"' not in counsellor  # no newsletters.edit
    assert 'value="tag_add"' in counsellor
    readonly = client_as("readonly").get("/kontakte/personen?q=Wolkenstein").get_data(True)
    assert 'name="ids"' not in readonly
    assert "bulk-form" not in readonly


def test_ticked_people_get_a_tag_and_lose_it_again_with_one_audit_entry_each(
    client_as: Any, db_session: Any
) -> None:
    a, b, c = _people(db_session, "Tagmann", 3)
    db_session.commit()
    client = client_as("staff")
    step_one = client.post(
        "/sammelaktionen/personen", data={"action": "tag_add", "ids": [a.id, b.id]}
    )
    assert step_one.status_code == 200
    assert "2 Personen ausgewählt" in step_one.get_data(True)
    assert _tagged(db_session, "Messe 2026") == set()

    done = client.post(
        "/sammelaktionen/personen",
        data={"action": "tag_add", "ids": [a.id, b.id], "confirmed": "1", "tag": "Messe 2026"},
    )
    assert done.status_code == 302
    assert _tagged(db_session, "Messe 2026") == {a.id, b.id}
    assert "Schlagwort „Messe 2026“ an 2 Datensätze vergeben." in _flashes(client)
    entries = db_session.scalars(
        sa.select(AuditEntry.entity_id).where(AuditEntry.action == "bulk_tag_add")
    ).all()
    assert sorted(entries) == sorted([a.id, b.id])

    client.post(
        "/sammelaktionen/personen",
        data={"action": "tag_remove", "ids": [a.id, c.id], "confirmed": "1", "tag": "Messe 2026"},
    )
    assert _tagged(db_session, "Messe 2026") == {b.id}


def test_select_all_matching_reruns_the_filter_on_the_server(
    client_as: Any, db_session: Any
) -> None:
    matching = _people(db_session, "Filterbach", 4)
    other = make_person(db_session, last_name="Anderswo")
    db_session.commit()
    client = client_as("staff")
    client.post(
        "/sammelaktionen/personen",
        data={
            "action": "tag_add",
            "all_matching": "y",
            "filter": "q=Filterbach&seite=2",
            "confirmed": "1",
            "tag": "Alle",
        },
    )
    assert _tagged(db_session, "Alle") == {p.id for p in matching}
    assert other.id not in _tagged(db_session, "Alle")


def test_an_owner_is_assigned_to_organisations_and_audited(client_as: Any, db_session: Any) -> None:
    owner = make_user(db_session, role="staff", display_name="Olga Owner")
    orgs = [make_org(db_session, name=f"Bulkfirma {i}") for i in range(3)]
    db_session.commit()
    client = client_as("staff")
    response = client.post(
        "/sammelaktionen/organisationen",
        data={
            "action": "owner",
            "ids": [o.id for o in orgs[:2]],
            "confirmed": "1",
            "owner_id": owner.id,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/kontakte/organisationen")
    db_session.expire_all()
    assert [o.owner_id for o in orgs] == [owner.id, owner.id, None]
    assert (
        db_session.scalar(
            sa.select(sa.func.count()).where(
                AuditEntry.action == "bulk_owner", AuditEntry.entity_type == "organisation"
            )
        )
        == 2
    )


def test_organisations_add_the_people_working_there_to_a_list_and_a_newsletter(
    client_as: Any, db_session: Any
) -> None:
    from crm.contacts import service as contacts

    org = make_org(db_session, name="Belegschaft GmbH")
    empty = make_org(db_session, name="Leere GmbH")
    works = make_person(db_session, last_name="Arbeitet", org=org)
    left = make_person(db_session, last_name="Gegangen")
    contacts.add_affiliation(db_session, left, org, until=date(2020, 1, 31))
    nl = make_list(db_session, name="Newsletter Firmen")
    db_session.commit()
    client = client_as("staff")

    step_one = client.post(
        "/sammelaktionen/organisationen", data={"action": "list", "ids": [org.id, empty.id]}
    )
    assert step_one.status_code == 200
    assert "auf die 1 Person, die dort arbeitet" in step_one.get_data(True)
    client.post(
        "/sammelaktionen/organisationen",
        data={
            "action": "list",
            "ids": [org.id, empty.id],
            "confirmed": "1",
            "list_id": "0",
            "new_name": "Firmenkontakte",
        },
    )
    contact_list = db_session.scalar(
        sa.select(ContactList).where(ContactList.name == "Firmenkontakte")
    )
    members = db_session.scalars(
        sa.select(ContactListMember.person_id).where(ContactListMember.list_id == contact_list.id)
    ).all()
    assert members == [works.id]

    client.post(
        "/sammelaktionen/organisationen",
        data={
            "action": "newsletter",
            "ids": [org.id],
            "confirmed": "1",
            "list_id": nl.id,
            "method": "existing_business_contact",
            "source": "Kooperationsvertrag 2026",
            "consented_on": "2026-11-02",
        },
    )
    subscribed = db_session.scalars(
        sa.select(Subscription.person_id).where(Subscription.list_id == nl.id)
    ).all()
    assert subscribed == [works.id]

    nobody = client.post(
        "/sammelaktionen/organisationen", data={"action": "list", "ids": [empty.id]}
    )
    assert nobody.status_code == 302
    assert "Bei den ausgewählten Organisationen arbeitet niemand." in _flashes(client)


def test_people_are_added_to_a_new_static_list_created_on_the_way(
    client_as: Any, db_session: Any
) -> None:
    people = _people(db_session, "Listig", 3)
    db_session.commit()
    client = client_as("staff")
    response = client.post(
        "/sammelaktionen/personen",
        data={
            "action": "list",
            "all_matching": "y",
            "filter": "q=Listig",
            "confirmed": "1",
            "list_id": "0",
            "new_name": "Messe Halle 3",
        },
    )
    assert response.status_code == 302
    contact_list = db_session.scalar(
        sa.select(ContactList).where(ContactList.name == "Messe Halle 3")
    )
    assert response.headers["Location"] == f"/kontakte/listen/{contact_list.id}"
    members = set(
        db_session.scalars(
            sa.select(ContactListMember.person_id).where(
                ContactListMember.list_id == contact_list.id
            )
        )
    )
    assert members == {p.id for p in people}
    assert "3 Personen zu „Messe Halle 3“ hinzugefügt" in _flashes(client)


def test_a_list_action_without_a_list_or_name_keeps_the_selection_and_explains(
    client_as: Any, db_session: Any
) -> None:
    (person,) = _people(db_session, "Ohneliste", 1)
    db_session.commit()
    response = client_as("staff").post(
        "/sammelaktionen/personen",
        data={"action": "list", "ids": [person.id], "confirmed": "1", "list_id": "0"},
    )
    assert response.status_code == 400
    page = response.get_data(True)
    assert f'name="ids" value="{person.id}"' in page
    assert "Bitte einen Namen für die neue Liste eingeben" in page


def test_adding_to_a_newsletter_records_the_consent_source_and_skips_the_unsubscribed(
    client_as: Any, db_session: Any
) -> None:
    nl = make_list(db_session, name="Newsletter Sammel")
    fresh = _people(db_session, "Konsens", 2)
    gone = make_person(db_session, last_name="Konsensweg")
    subscribe(db_session, nl, gone, status="unsubscribed")
    already = make_person(db_session, last_name="Konsensda")
    subscribe(db_session, nl, already)
    mailless = make_person(db_session, last_name="Konsensohne", email="")
    db_session.commit()
    client = client_as("staff")
    ids = [p.id for p in (*fresh, gone, already, mailless)]

    missing_source = client.post(
        "/sammelaktionen/personen",
        data={
            "action": "newsletter",
            "ids": ids,
            "confirmed": "1",
            "list_id": nl.id,
            "method": "paper",
            "consented_on": "2026-11-20",
        },
    )
    assert missing_source.status_code == 400
    assert db_session.scalar(sa.select(sa.func.count()).where(Subscription.list_id == nl.id)) == 2

    response = client.post(
        "/sammelaktionen/personen",
        data={
            "action": "newsletter",
            "ids": ids,
            "confirmed": "1",
            "list_id": nl.id,
            "method": "paper",
            "source": "schriftliche Einwilligung auf Messe",
            "consented_on": "2026-11-20",
        },
    )
    assert response.status_code == 302
    message = _flashes(client)
    assert "2 Personen zu „Newsletter Sammel“ hinzugefügt" in message
    assert "1 übersprungen (abgemeldet)" in message
    assert "1 übersprungen (bereits angemeldet)" in message
    assert "1 übersprungen (keine E-Mail-Adresse)" in message

    statuses = dict(
        db_session.execute(
            sa.select(Subscription.person_id, Subscription.status).where(
                Subscription.list_id == nl.id
            )
        ).all()
    )
    assert statuses == {
        fresh[0].id: "confirmed",
        fresh[1].id: "confirmed",
        gone.id: "unsubscribed",
        already.id: "confirmed",
    }
    events = db_session.scalars(
        sa.select(ConsentEvent).where(
            ConsentEvent.list_id == nl.id, ConsentEvent.person_id.in_([p.id for p in fresh])
        )
    ).all()
    assert len(events) == 2
    for event in events:
        assert event.action == "confirmed"
        assert event.channel == "paper"
        assert event.actor_id == client.user.id
        assert "schriftliche Einwilligung auf Messe" in event.note
        assert "20.11.2026" in event.note
        assert event.consent_text_id is not None
    sub = db_session.scalar(
        sa.select(Subscription).where(
            Subscription.list_id == nl.id, Subscription.person_id == fresh[0].id
        )
    )
    assert sub.confirmed_at.date() == date(2026, 11, 20)


def test_only_roles_with_the_permissions_may_run_each_action(
    client_as: Any, db_session: Any
) -> None:
    nl = make_list(db_session)
    (person,) = _people(db_session, "Rechte", 1)
    db_session.commit()
    newsletter = {
        "action": "newsletter",
        "ids": [person.id],
        "confirmed": "1",
        "list_id": nl.id,
        "method": "paper",
        "source": "Vertrag",
        "consented_on": "2026-11-20",
    }
    assert (
        client_as("counsellor").post("/sammelaktionen/personen", data=newsletter).status_code == 403
    )
    readonly = client_as("readonly")
    for action in ("tag_add", "owner", "list", "newsletter", "export_csv"):
        data = {**newsletter, "action": action, "tag": "x", "owner_id": 0}
        assert readonly.post("/sammelaktionen/personen", data=data).status_code == 403, action
    # Counsellors are assigned to participants, not to organisations.
    org = make_org(db_session)
    db_session.commit()
    response = client_as("lead").post(
        "/sammelaktionen/organisationen", data={"action": "counsellor", "ids": [org.id]}
    )
    assert response.status_code == 404
    assert db_session.scalar(sa.select(sa.func.count()).where(Subscription.list_id == nl.id)) == 0


def test_bad_ids_and_inputs_get_a_german_message_not_an_error_page(
    client_as: Any, db_session: Any
) -> None:
    client = client_as("staff")
    cases = [
        {"action": "tag_add"},
        {"action": "tag_add", "ids": ["abc", "-1", "99999999999999999999", "0", "²", "9" * 5000]},
        {"action": "nonsense", "ids": ["1"]},
        {"action": "tag_add", "all_matching": "y", "filter": "q=%0d%0a&seite=x&pro_seite=-4"},
        {"action": "tag_add", "all_matching": "y", "filter": "schlagwort=%00&region=a%00"},
        {"action": "tag_add", "all_matching": "y", "filter": "zustaendig=99999999999999999999"},
        {"action": "owner", "ids": ["1"], "confirmed": "1", "owner_id": "abc"},
    ]
    for data in cases:
        response = client.post("/sammelaktionen/personen", data=data)
        assert response.status_code in (302, 400), (data, response.status_code)
        if response.status_code == 302:
            assert "\n" not in response.headers["Location"]
            assert "Bitte" in _flashes(client), data
    no_csrf = client.post(
        "/sammelaktionen/personen", data={"action": "tag_add", "csrf_token": "forged"}
    )
    assert no_csrf.status_code == 400


def test_the_selection_is_exported_as_csv_and_xlsx_with_formulas_neutralised(
    client_as: Any, db_session: Any
) -> None:
    evil = make_person(db_session, first_name="=HYPERLINK(1)", last_name="Exportfall")
    other = make_person(db_session, last_name="Nichtdabei")
    db_session.commit()
    client = client_as("staff")
    csv = client.post("/sammelaktionen/personen", data={"action": "export_csv", "ids": [evil.id]})
    assert csv.status_code == 200
    assert csv.headers["Content-Type"].startswith("text/csv")
    text = csv.get_data().decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text
    assert "Nichtdabei" not in text
    xlsx = client.post(
        "/sammelaktionen/personen", data={"action": "export_xlsx", "ids": [evil.id, other.id]}
    )
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "'=HYPERLINK(1)" in values
    assert "Nichtdabei" in values
    assert (
        db_session.scalar(
            sa.select(sa.func.count()).where(
                AuditEntry.action == "export", AuditEntry.summary.like("%selection%")
            )
        )
        == 2
    )


# --- participants -------------------------------------------------------------------------------


def _counsellor_of(db_session: Any, participant_id: int) -> int:
    from crm.participants.models import Participant

    return db_session.scalar(
        sa.select(Participant.counsellor_id).where(Participant.id == participant_id)
    )


def test_a_counsellor_reassigns_participants_of_her_office_only(
    client_as: Any, db_session: Any
) -> None:
    office, elsewhere = make_office(db_session), make_office(db_session)
    colleague = make_user(db_session, role="counsellor", office=office, display_name="Kim Kollegin")
    stranger = make_user(db_session, role="counsellor", office=elsewhere)
    own = [make_participant(db_session, office=office, last_name=f"Eigen{i}") for i in range(2)]
    foreign = make_participant(db_session, office=elsewhere, counsellor=stranger)
    db_session.commit()
    client = client_as("counsellor", office=office)

    page = client.get("/teilnehmende/").get_data(True)
    assert page.count('name="ids"') == 2
    assert 'value="counsellor"' in page
    step_one = client.post(
        "/sammelaktionen/teilnehmende",
        data={"action": "counsellor", "ids": [p.id for p in own] + [foreign.id]},
    )
    assert step_one.status_code == 200
    assert "2 Teilnehmende ausgewählt" in step_one.get_data(True)
    # The counsellor of another office is not on offer.
    outsider = client.post(
        "/sammelaktionen/teilnehmende",
        data={
            "action": "counsellor",
            "ids": [own[0].id],
            "confirmed": "1",
            "counsellor_id": stranger.id,
        },
    )
    assert outsider.status_code == 400
    assert _counsellor_of(db_session, own[0].id) != stranger.id

    done = client.post(
        "/sammelaktionen/teilnehmende",
        data={
            "action": "counsellor",
            "ids": [p.id for p in own] + [foreign.id],
            "confirmed": "1",
            "counsellor_id": colleague.id,
        },
    )
    assert done.status_code == 302
    assert "2 Teilnehmende jetzt bei Kim Kollegin in Beratung." in _flashes(client)
    assert [_counsellor_of(db_session, p.id) for p in own] == [colleague.id, colleague.id]
    assert _counsellor_of(db_session, foreign.id) == stranger.id
    audited = db_session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "participant",
            AuditEntry.action == "update",
            AuditEntry.entity_id.in_([p.id for p in own]),
        )
    ).all()
    assert len(audited) == 2
    assert all("counsellor_id" in (entry.changes or {}).get("fields", []) for entry in audited)


def test_a_lead_assigns_all_matching_participants_and_hears_who_was_skipped(
    client_as: Any, db_session: Any
) -> None:
    office, elsewhere = make_office(db_session), make_office(db_session)
    counsellor = make_user(db_session, role="counsellor", office=office, display_name="Udo Umzug")
    here = [make_participant(db_session, office=office, last_name="Wechselhof") for _ in range(2)]
    there = make_participant(db_session, office=elsewhere, last_name="Wechselhof")
    untouched = make_participant(db_session, office=office, last_name="Bleibtreu")
    before = _counsellor_of(db_session, untouched.id)
    db_session.commit()
    client = client_as("lead")
    response = client.post(
        "/sammelaktionen/teilnehmende",
        data={
            "action": "counsellor",
            "all_matching": "y",
            "filter": "q=Wechselhof",
            "confirmed": "1",
            "counsellor_id": counsellor.id,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/teilnehmende/?q=Wechselhof")
    assert [_counsellor_of(db_session, p.id) for p in here] == [counsellor.id] * 2
    assert _counsellor_of(db_session, there.id) != counsellor.id
    assert _counsellor_of(db_session, untouched.id) == before
    assert "1 übersprungen (Udo Umzug arbeitet nicht in deren Geschäftsstelle)" in _flashes(client)


def test_staff_may_not_reassign_participants(client_as: Any, db_session: Any) -> None:
    from tests.factories import make_participant

    participant = make_participant(db_session)
    db_session.commit()
    response = client_as("staff").post(
        "/sammelaktionen/teilnehmende",
        data={"action": "counsellor", "ids": [participant.id], "confirmed": "1"},
    )
    assert response.status_code == 403


def test_every_second_step_page_is_valid_html_also_with_errors(
    client_as: Any, db_session: Any
) -> None:
    from scripts import validate_html as vnu
    from tests.vnu_helpers import missing_validator

    if reason := missing_validator():
        pytest.skip(reason)
    make_list(db_session)
    office = make_office(db_session)
    (person,) = _people(db_session, "Gueltig", 1)
    participant = make_participant(db_session, office=office)
    db_session.commit()
    lead = client_as("lead", office=office)
    pages = {}
    for action in ("tag_add", "owner", "list", "newsletter"):
        for confirmed in ("", "1"):
            response = lead.post(
                "/sammelaktionen/personen",
                data={"action": action, "ids": [person.id], "confirmed": confirmed},
            )
            assert response.status_code == (400 if confirmed else 200), action
            pages[f"{action} {confirmed}"] = response.get_data(True)
    for confirmed in ("", "1"):
        response = lead.post(
            "/sammelaktionen/teilnehmende",
            data={"action": "counsellor", "ids": [participant.id], "confirmed": confirmed},
        )
        pages[f"counsellor {confirmed}"] = response.get_data(True)
    messages = vnu.validate(pages)
    assert [m for m in messages if m.kind == "error"] == []


def test_a_selection_beyond_the_limit_is_refused_with_a_hint_to_narrow_the_filter(
    client_as: Any, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm.bulk import service

    _people(db_session, "Grenzfall", 3)
    db_session.commit()
    monkeypatch.setattr(service, "MAX_BULK", 2)
    client = client_as("staff")
    response = client.post(
        "/sammelaktionen/personen",
        data={
            "action": "tag_add",
            "all_matching": "y",
            "filter": "q=Grenzfall",
            "confirmed": "1",
            "tag": "Zuviel",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/kontakte/personen?q=Grenzfall"
    assert "Mehr als 2 Datensätze ausgewählt" in _flashes(client)
    assert _tagged(db_session, "Zuviel") == set()


def test_all_matching_exits_without_an_outcome_reach_only_those(
    client_as: Any, db_session: Any
) -> None:
    # The funder report links "exits without an outcome" as `verbleib=` (blank): the filter
    # must survive the round trip through the bulk form, or every exit would be reassigned.
    office = make_office(db_session)
    counsellor = make_user(db_session, role="counsellor", office=office, display_name="Olga Offen")
    open_outcome = make_participant(
        db_session, office=office, exit_on=date(2026, 5, 4), outcome="", last_name="Ohneverbleib"
    )
    employed = make_participant(
        db_session, office=office, exit_on=date(2026, 5, 4), outcome="employment"
    )
    db_session.commit()
    page = client_as("lead").get(
        "/teilnehmende/?kennzahl=austritt&von=2026-05-01&bis=2026-05-31&verbleib="
    )
    listed = page.get_data(True)
    assert f'data-participant-id="{open_outcome.id}"' in listed
    assert f'data-participant-id="{employed.id}"' not in listed
    client = client_as("lead")
    response = client.post(
        "/sammelaktionen/teilnehmende",
        data={
            "action": "counsellor",
            "all_matching": "y",
            "filter": "kennzahl=austritt&von=2026-05-01&bis=2026-05-31&verbleib=",
            "confirmed": "1",
            "counsellor_id": counsellor.id,
        },
    )
    assert response.status_code == 302
    assert _counsellor_of(db_session, open_outcome.id) == counsellor.id
    assert _counsellor_of(db_session, employed.id) != counsellor.id
