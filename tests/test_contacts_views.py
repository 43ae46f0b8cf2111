"""Contacts pages: lists, search, duplicates, activities, timeline, merge, export, permissions."""

from __future__ import annotations

import csv
import functools
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.contacts import service
from crm.contacts.models import Activity, Affiliation, Organisation, Person, QualificationNeed
from tests import factories

ROLES = ("admin", "lead", "counsellor", "staff", "readonly")
EDITORS = {"admin", "lead", "counsellor", "staff"}
MERGERS = {"admin", "lead", "staff"}


# This file's firm and person: "Müller Bau GmbH" in Magdeburg and "Jürgen Müller" without an
# e-mail address, unless a test says otherwise.
make_org = functools.partial(
    factories.make_org, name="Müller Bau GmbH", kind="employer", city="Magdeburg", postcode="39104"
)
make_person = functools.partial(
    factories.make_person, first_name="Jürgen", last_name="Müller", email=""
)


def names_in_table(response) -> list[str]:
    """The link texts of the first column of the results table."""
    html = response.get_data(as_text=True)
    body = html.split('id="results-table"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr>\s*<td><a href="/kontakte/[a-z]+/\d+">([^<]+)</a>', body)


def audit_actions(session, entity_type, entity_id=None) -> list[str]:
    stmt = sa.select(AuditEntry.action).where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    return list(session.scalars(stmt.order_by(AuditEntry.id)))


@pytest.fixture
def staff(client_as):
    return client_as("staff")


# --- lists, search, filters, sorting ------------------------------------------------------------


def test_the_organisation_list_shows_kind_place_owner_tags_and_last_contact(db_session, staff):
    owner = factories.make_user(db_session, role="counsellor", display_name="Olga Owner")
    org = make_org(db_session, owner_id=owner.id, tags=["Haus der Wirtschaft"])
    service.log_activity(
        db_session,
        kind="call",
        occurred_at=datetime(2026, 3, 4, 9, 30, tzinfo=UTC),
        organisation=org,
    )
    db_session.commit()
    html = staff.get("/kontakte/organisationen").get_data(as_text=True)
    assert "Müller Bau GmbH" in html
    assert "39104 Magdeburg" in html
    assert "Olga Owner" in html
    assert "Haus der Wirtschaft" in html
    assert "04.03.2026" in html


@pytest.mark.parametrize("query", ["mueller", "MÜLLER", "Muel", "müll bau"])
def test_umlaut_search_through_the_page_finds_mueller(db_session, staff, query):
    make_org(db_session)
    make_org(db_session, name="Schmidt Logistik")
    db_session.commit()
    response = staff.get("/kontakte/organisationen", query_string={"q": query})
    assert names_in_table(response) == ["Müller Bau GmbH"]


def test_the_person_list_finds_people_by_their_organisation_and_shows_it(db_session, staff):
    org = make_org(db_session, name="Bäckerei Schäfer")
    make_person(db_session, first_name="Anna", last_name="Berg", org=org, function="Personal")
    make_person(db_session, first_name="Karl", last_name="Anders")
    db_session.commit()
    response = staff.get("/kontakte/personen", query_string={"q": "baeckerei"})
    assert names_in_table(response) == ["Berg, Anna"]
    assert "Bäckerei Schäfer" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"art": "chamber"}, ["IHK Magdeburg"]),
        ({"region": "Salzlandkreis"}, ["Autohaus Aschersleben"]),
        ({"schlagwort": "Messe"}, ["Autohaus Aschersleben", "IHK Magdeburg"]),
        ({"art": "employer", "schlagwort": "Messe"}, ["Autohaus Aschersleben"]),
    ],
)
def test_the_organisation_list_filters_by_kind_region_and_tag(db_session, staff, args, expected):
    make_org(db_session, name="IHK Magdeburg", kind="chamber", tags=["Messe"])
    make_org(db_session, name="Autohaus Aschersleben", region="Salzlandkreis", tags=["Messe"])
    make_org(db_session, name="Bäckerei Burg", region="Jerichower Land")
    db_session.commit()
    assert names_in_table(staff.get("/kontakte/organisationen", query_string=args)) == expected


def test_the_organisation_list_filters_by_responsible_staff_member(db_session, staff):
    owner = factories.make_user(db_session, role="staff")
    make_org(db_session, name="Mine", owner_id=owner.id)
    make_org(db_session, name="Not mine")
    db_session.commit()
    response = staff.get("/kontakte/organisationen", query_string={"zustaendig": owner.id})
    assert names_in_table(response) == ["Mine"]


def test_no_contact_for_more_than_90_days_lists_stale_and_never_contacted(db_session, staff):
    now = datetime.now(UTC)
    recent, stale = make_org(db_session, name="Recent"), make_org(db_session, name="Stale")
    make_org(db_session, name="Never")
    service.log_activity(
        db_session, kind="call", occurred_at=now - timedelta(days=5), organisation=recent
    )
    service.log_activity(
        db_session, kind="call", occurred_at=now - timedelta(days=120), organisation=stale
    )
    db_session.commit()
    page = staff.get("/kontakte/organisationen")
    assert 'id="preset-no-contact"' in page.get_data(as_text=True)
    assert "ohne_kontakt=90" in page.get_data(as_text=True)
    response = staff.get("/kontakte/organisationen", query_string={"ohne_kontakt": 90})
    assert sorted(names_in_table(response)) == ["Never", "Stale"]


def test_a_sortable_column_sorts_both_ways_and_announces_it_with_aria_sort(db_session, staff):
    for name in ("Beta", "Alpha", "Gamma"):
        make_org(db_session, name=name)
    db_session.commit()
    ascending = staff.get("/kontakte/organisationen")
    assert names_in_table(ascending) == ["Alpha", "Beta", "Gamma"]
    assert 'aria-sort="ascending"' in ascending.get_data(as_text=True)
    descending = staff.get("/kontakte/organisationen?sortierung=name&richtung=desc")
    assert names_in_table(descending) == ["Gamma", "Beta", "Alpha"]
    assert 'aria-sort="descending"' in descending.get_data(as_text=True)


def test_lists_are_paginated_with_a_choice_of_25_50_or_100_rows(db_session, staff):
    for i in range(30):
        make_org(db_session, name=f"Firma {i:02d}")
    db_session.commit()
    assert len(names_in_table(staff.get("/kontakte/organisationen"))) == 25
    second = staff.get("/kontakte/organisationen?seite=2")
    assert names_in_table(second) == [f"Firma {i:02d}" for i in range(25, 30)]
    assert len(names_in_table(staff.get("/kontakte/organisationen?pro_seite=50"))) == 30
    # An unknown page size falls back to 25 rather than letting anyone ask for 10,000.
    assert len(names_in_table(staff.get("/kontakte/organisationen?pro_seite=10000"))) == 25


def test_an_htmx_search_gets_only_the_results_and_the_live_count(db_session, staff):
    make_org(db_session)
    make_org(db_session, name="Schmidt Logistik")
    db_session.commit()
    response = staff.get("/kontakte/organisationen?q=mueller", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert 'id="results-table"' in html
    assert 'id="result-count" data-hx-swap-oob="innerHTML"' in html
    assert names_in_table(response) == ["Müller Bau GmbH"]
    assert "HX-Request" in response.headers["Vary"]


def test_the_list_page_works_without_javascript_and_wires_up_htmx(db_session, staff):
    html = staff.get("/kontakte/organisationen").get_data(as_text=True)
    form = html.split('id="list-filters"', 1)[1].split("</form>", 1)[0]
    assert 'method="get"' in html.split('id="list-filters"', 1)[0].rsplit("<form", 1)[1]
    assert 'data-hx-get="/kontakte/organisationen"' in form
    assert 'data-hx-trigger="input changed delay:250ms, search"' in form
    assert 'data-hx-target="#results"' in form
    assert 'data-hx-push-url="true"' in form
    assert 'aria-live="polite"' in html
    for field_id in ("q", "f-art", "f-region", "f-schlagwort", "f-zustaendig", "f-ohne-kontakt"):
        assert f'for="{field_id}"' in form
    assert "<script>" not in html
    assert " style=" not in html


def test_an_htmx_history_restore_gets_the_whole_page(staff):
    response = staff.get(
        "/kontakte/organisationen",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in response.get_data(as_text=True)


# --- create, edit, delete, duplicates -----------------------------------------------------------

ORG_FORM = {
    "name": "Müller Bau GmbH",
    "kind": "employer",
    "size_class": "10-49",
    "postcode": "39104",
    "city": "Magdeburg",
    "email": "info@mueller-bau.example",
    "tags": "Haus der Wirtschaft, Messe",
    "owner_id": "0",
    "notes": "Sucht Fachkräfte",
}


def test_creating_an_organisation_saves_it_with_tags_and_audits_it(db_session, staff):
    response = staff.post("/kontakte/organisationen/neu", data=ORG_FORM)
    assert response.status_code == 302
    org = db_session.scalar(sa.select(Organisation))
    assert response.headers["Location"] == f"/kontakte/organisationen/{org.id}"
    assert [t.name for t in org.tags] == ["Haus der Wirtschaft", "Messe"]
    assert org.owner_id is None
    assert audit_actions(db_session, "organisation", org.id) == ["create"]


def test_a_look_alike_organisation_is_only_created_after_confirmation(db_session, staff):
    existing = make_org(db_session, name="Müller Bau", postcode="39104")
    db_session.commit()
    data = {**ORG_FORM, "name": "Mueller Bau GmbH"}
    response = staff.post("/kontakte/organisationen/neu", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="duplicate-warning"' in html
    assert f'href="/kontakte/organisationen/{existing.id}"' in html
    assert 'name="confirm"' in html
    # Nothing saved, nothing the user typed lost.
    assert db_session.scalar(sa.select(sa.func.count(Organisation.id))) == 1
    assert 'value="Mueller Bau GmbH"' in html
    assert 'value="Haus der Wirtschaft, Messe"' in html
    assert "Sucht Fachkräfte" in html
    confirmed = staff.post("/kontakte/organisationen/neu", data={**data, "confirm": "y"})
    assert confirmed.status_code == 302
    assert db_session.scalar(sa.select(sa.func.count(Organisation.id))) == 2


@pytest.mark.parametrize("postcode", ["3910", "00999", "39104a", "٣٩١٠٤"])
def test_an_invalid_german_postcode_is_refused(db_session, staff, postcode):
    response = staff.post("/kontakte/organisationen/neu", data={**ORG_FORM, "postcode": postcode})
    assert response.status_code == 200
    assert 'id="postcode-errors"' in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(Organisation.id))) == 0


def test_an_invalid_email_address_is_refused(db_session, staff):
    response = staff.post("/kontakte/personen/neu", data={"last_name": "Berg", "email": "nope"})
    assert 'id="email-errors"' in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 0


def test_editing_and_deleting_an_organisation_are_audited(db_session, staff):
    org = make_org(db_session)
    db_session.commit()
    form = staff.get(f"/kontakte/organisationen/{org.id}/bearbeiten").get_data(as_text=True)
    assert 'value="Müller Bau GmbH"' in form
    response = staff.post(
        f"/kontakte/organisationen/{org.id}/bearbeiten",
        data={**ORG_FORM, "name": "Müller Hochbau GmbH", "kind": "association"},
    )
    assert response.status_code == 302
    db_session.refresh(org)
    assert (org.name, org.kind) == ("Müller Hochbau GmbH", "association")
    org_id = org.id
    assert staff.get(f"/kontakte/organisationen/{org_id}/loeschen").status_code == 200
    assert staff.post(f"/kontakte/organisationen/{org_id}/loeschen").status_code == 302
    db_session.expire_all()
    assert db_session.get(Organisation, org_id) is None
    assert audit_actions(db_session, "organisation", org_id) == ["create", "update", "delete"]


def test_deleting_an_organisation_keeps_its_people_and_forgets_the_link(db_session, staff):
    org = make_org(db_session, name="Weg GmbH")
    person = make_person(db_session, org=org)
    db_session.commit()
    staff.post(f"/kontakte/organisationen/{org.id}/loeschen")
    db_session.expire_all()
    person = db_session.get(Person, person.id)
    assert person.affiliations == []
    assert "weg" not in person.search_text


def test_creating_a_person_at_an_organisation_links_them(db_session, staff):
    org = make_org(db_session)
    db_session.commit()
    form = staff.get(f"/kontakte/personen/neu?organisation={org.id}").get_data(as_text=True)
    assert f'value="{org.id}"' in form
    response = staff.post(
        "/kontakte/personen/neu",
        data={
            "salutation": "frau",
            "first_name": "Anja",
            "last_name": "Köhler",
            "email": "A.Koehler@Example.org",
            "language": "de",
            "owner_id": "0",
            "organisation": str(org.id),
            "function": "Personal",
            "tags": "Messe",
        },
    )
    assert response.status_code == 302
    person = db_session.scalar(sa.select(Person))
    assert person.email == "a.koehler@example.org"
    assert [(a.organisation_id, a.function) for a in person.affiliations] == [(org.id, "Personal")]
    assert audit_actions(db_session, "person", person.id) == ["create"]


def test_a_person_with_the_same_name_at_the_same_organisation_warns_first(db_session, staff):
    org = make_org(db_session)
    existing = make_person(db_session, first_name="Hans-Jürgen", last_name="Müller", org=org)
    db_session.commit()
    data = {
        "first_name": "Hans Jürgen",
        "last_name": "Mueller",
        "organisation": "Müller Bau GmbH",
        "function": "Geschäftsführung",
        "salutation": "herr",
        "language": "de",
        "owner_id": "0",
    }
    response = staff.post("/kontakte/personen/neu", data=data)
    html = response.get_data(as_text=True)
    assert 'id="duplicate-warning"' in html
    assert f'href="/kontakte/personen/{existing.id}"' in html
    assert 'value="Hans Jürgen"' in html
    assert 'value="Geschäftsführung"' in html
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 1
    staff.post("/kontakte/personen/neu", data={**data, "confirm": "y"})
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 2


def test_a_person_with_a_known_email_address_warns_first(db_session, staff):
    make_person(db_session, email="info@example.org")
    db_session.commit()
    data = {"last_name": "Anders", "email": "INFO@example.org", "language": "de", "owner_id": "0"}
    assert 'id="duplicate-warning"' in staff.post("/kontakte/personen/neu", data=data).get_data(
        as_text=True
    )
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 1


def test_an_unknown_organisation_in_the_person_form_is_an_error_not_a_silent_drop(
    db_session, staff
):
    data = {"last_name": "Anders", "organisation": "Gibt es nicht", "language": "de"}
    response = staff.post("/kontakte/personen/neu", data={**data, "owner_id": "0"})
    assert 'id="organisation-errors"' in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count(Person.id))) == 0


def test_editing_and_deleting_a_person_are_audited(db_session, staff):
    person = make_person(db_session, tags=["Messe"])
    db_session.commit()
    form = staff.get(f"/kontakte/personen/{person.id}/bearbeiten").get_data(as_text=True)
    assert 'value="Messe"' in form
    response = staff.post(
        f"/kontakte/personen/{person.id}/bearbeiten",
        data={
            "last_name": "Müller-Lüdenscheidt",
            "first_name": "Jürgen",
            "language": "en",
            "salutation": "divers",
            "owner_id": "0",
            "tags": "",
        },
    )
    assert response.status_code == 302
    db_session.refresh(person)
    assert (person.last_name, person.salutation, person.tags) == (
        "Müller-Lüdenscheidt",
        "divers",
        [],
    )
    person_id = person.id
    assert staff.post(f"/kontakte/personen/{person_id}/loeschen").status_code == 302
    assert audit_actions(db_session, "person", person_id) == ["create", "update", "delete"]


def test_a_person_is_linked_to_and_unlinked_from_organisations(db_session, staff):
    person = make_person(db_session)
    org = make_org(db_session, name="IHK Magdeburg", kind="chamber")
    db_session.commit()
    response = staff.post(
        f"/kontakte/personen/{person.id}/zugehoerigkeit",
        data={
            "organisation": "IHK Magdeburg",
            "function": "Ansprechpartner",
            "since": "2024-01-01",
        },
    )
    assert response.status_code == 302
    aff = db_session.scalar(sa.select(Affiliation))
    assert (aff.organisation_id, aff.function, str(aff.since)) == (
        org.id,
        "Ansprechpartner",
        "2024-01-01",
    )
    assert "IHK Magdeburg" in staff.get(f"/kontakte/organisationen/{org.id}").get_data(as_text=True)
    assert staff.post(f"/kontakte/zugehoerigkeiten/{aff.id}/loeschen").status_code == 302
    assert db_session.scalar(sa.select(sa.func.count(Affiliation.id))) == 0


def test_qualification_needs_are_added_and_deleted_on_the_organisation_page(db_session, staff):
    org = make_org(db_session)
    db_session.commit()
    response = staff.post(
        f"/kontakte/organisationen/{org.id}/bedarf",
        data={
            "occupation": "Berufskraftfahrer/in",
            "count": "3",
            "needed_since": "2026-01-01",
            "surveyed_on": "2026-06-15",
            "note": "Halbjahresabfrage",
        },
    )
    assert response.status_code == 302
    need = db_session.scalar(sa.select(QualificationNeed))
    assert (need.occupation, need.count, str(need.surveyed_on)) == (
        "Berufskraftfahrer/in",
        3,
        "2026-06-15",
    )
    page = staff.get(f"/kontakte/organisationen/{org.id}").get_data(as_text=True)
    assert "Berufskraftfahrer/in" in page
    assert "15.06.2026" in page
    bad = staff.post(
        f"/kontakte/organisationen/{org.id}/bedarf", data={"occupation": "", "count": "x"}
    )
    assert bad.status_code == 400
    assert 'id="occupation-errors"' in bad.get_data(as_text=True)
    assert staff.post(f"/kontakte/bedarfe/{need.id}/loeschen").status_code == 302
    assert db_session.scalar(sa.select(sa.func.count(QualificationNeed.id))) == 0


# --- activities and timeline ------------------------------------------------------------------


def test_logging_an_activity_stores_berlin_time_as_utc_and_updates_last_contact_in_the_list(
    db_session, staff
):
    org = make_org(db_session)
    person = make_person(db_session, org=org)
    db_session.commit()
    form = staff.get(f"/kontakte/personen/{person.id}/aktivitaet").get_data(as_text=True)
    # The current user is the default staff member.
    assert re.search(rf'<option selected value="{staff.user.id}">', form)
    response = staff.post(
        f"/kontakte/personen/{person.id}/aktivitaet",
        data={
            "kind": "call",
            "day": "2026-07-01",
            "time": "14:30",
            "duration_minutes": "15",
            "user_id": str(staff.user.id),
            "subject": "Rückruf",
            "text": "Praktikum ab August",
        },
    )
    assert response.status_code == 302
    activity = db_session.scalar(sa.select(Activity))
    # 14:30 in Berlin summer time is 12:30 UTC.
    assert activity.occurred_at == datetime(2026, 7, 1, 12, 30, tzinfo=UTC)
    assert (activity.kind, activity.duration_minutes, activity.user_id) == (
        "call",
        15,
        staff.user.id,
    )
    for path in ("/kontakte/personen", "/kontakte/organisationen"):
        html = staff.get(path).get_data(as_text=True)
        assert 'data-last-contact="2026-07-01T12:30:00+00:00">01.07.2026<' in html, path
    assert audit_actions(db_session, "activity") == ["create"]


def test_the_activity_staff_picker_offers_staff_who_can_act_not_readers_or_former_staff(
    db_session, staff
):
    person = make_person(db_session, org=make_org(db_session))
    factories.make_user(db_session, role="counsellor", display_name="Cora Kollegin")
    reader = factories.make_user(db_session, role="readonly", display_name="Rita Leserin")
    gone = factories.make_user(db_session, role="staff", display_name="Gero Gegangen")
    gone.is_active_flag = False
    db_session.commit()
    form = staff.get(f"/kontakte/personen/{person.id}/aktivitaet").get_data(as_text=True)
    picker = form[form.index('id="user_id"') :].split("</select>", 1)[0]
    assert "Cora Kollegin" in picker
    assert "Rita Leserin" not in picker
    assert "Gero Gegangen" not in picker
    # A forged reader id is refused in German, and what was typed stays.
    response = staff.post(
        f"/kontakte/personen/{person.id}/aktivitaet",
        data={
            "kind": "call",
            "day": "2026-07-01",
            "time": "09:15",
            "user_id": str(reader.id),
            "subject": "Rückruf Zyx",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Rückruf Zyx" in html
    errors = html[html.index('id="user_id-errors"') :][:120]
    assert "Keine gültige Auswahl." in errors
    assert db_session.scalar(sa.select(sa.func.count(Activity.id))) == 0


@pytest.mark.parametrize(("typed", "minutes"), [("0:15", 15), ("1,5 h", 90), ("20", 20)])
def test_a_calls_duration_is_typed_as_on_the_participants_contact_log(
    db_session, staff, typed, minutes
):
    person = make_person(db_session, org=make_org(db_session))
    db_session.commit()
    data = {
        "kind": "call",
        "day": "2026-07-01",
        "time": "09:15",
        "duration_minutes": typed,
        "user_id": str(staff.user.id),
        "subject": "Praktikum besprochen",
        "text": "",
    }
    response = staff.post(f"/kontakte/personen/{person.id}/aktivitaet", data=data)
    assert response.status_code == 302
    assert db_session.scalar(sa.select(Activity.duration_minutes)) == minutes


def test_a_duration_that_is_no_duration_is_refused_and_kept(db_session, staff):
    person = make_person(db_session, org=make_org(db_session))
    db_session.commit()
    response = staff.post(
        f"/kontakte/personen/{person.id}/aktivitaet",
        data={
            "kind": "call",
            "day": "2026-07-01",
            "time": "09:15",
            "duration_minutes": "eine Viertelstunde",
            "user_id": str(staff.user.id),
            "subject": "Zyxanruf",
        },
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="duration_minutes-errors"' in html
    assert 'value="eine Viertelstunde"' in html
    assert "Zyxanruf" in html
    assert db_session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_an_activity_needs_a_subject_and_a_valid_date(db_session, staff):
    org = make_org(db_session)
    db_session.commit()
    response = staff.post(
        f"/kontakte/organisationen/{org.id}/aktivitaet",
        data={"kind": "call", "day": "31.02.2026", "time": "25:00", "user_id": "0", "subject": ""},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="subject-errors"' in html
    assert 'id="day-errors"' in html
    assert db_session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_the_organisation_timeline_shows_its_own_and_its_peoples_activities_newest_first(
    db_session, staff
):
    org = make_org(db_session)
    person = make_person(db_session, first_name="Anna", last_name="Berg", org=org)
    other = make_person(db_session, first_name="Nicht", last_name="Dabei")
    t = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    service.log_activity(
        db_session, kind="meeting", occurred_at=t, subject="Org-Termin", organisation=org
    )
    service.log_activity(
        db_session,
        kind="call",
        occurred_at=t + timedelta(days=1),
        subject="Anruf Anna",
        person=person,
    )
    service.log_activity(
        db_session, kind="call", occurred_at=t + timedelta(days=2), subject="Fremd", person=other
    )
    db_session.commit()
    html = staff.get(f"/kontakte/organisationen/{org.id}").get_data(as_text=True)
    timeline = html.split('id="timeline"', 1)[1]
    assert timeline.index("Anruf Anna") < timeline.index("Org-Termin")
    assert "Fremd" not in html
    assert f'href="/kontakte/personen/{person.id}"' in timeline


def test_the_timeline_is_paginated(db_session, staff):
    org = make_org(db_session)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(30):
        service.log_activity(
            db_session,
            kind="note",
            occurred_at=t + timedelta(hours=i),
            subject=f"Notiz {i:02d}",
            organisation=org,
        )
    db_session.commit()
    first = staff.get(f"/kontakte/organisationen/{org.id}").get_data(as_text=True)
    second = staff.get(f"/kontakte/organisationen/{org.id}?seite=2").get_data(as_text=True)
    assert first.count("data-activity-id=") == 25
    assert "Notiz 29" in first
    assert second.count("data-activity-id=") == 5
    assert "Notiz 00" in second


def test_deleting_an_activity_moves_last_contact_back(db_session, staff):
    org = make_org(db_session)
    old = service.log_activity(
        db_session, kind="note", occurred_at=datetime(2026, 1, 1, tzinfo=UTC), organisation=org
    )
    new = service.log_activity(
        db_session, kind="call", occurred_at=datetime(2026, 2, 1, tzinfo=UTC), organisation=org
    )
    db_session.commit()
    response = staff.post(
        f"/kontakte/aktivitaeten/{new.id}/loeschen?next=/kontakte/organisationen/{org.id}"
    )
    assert response.headers["Location"] == f"/kontakte/organisationen/{org.id}"
    db_session.expire_all()
    assert db_session.get(Organisation, org.id).last_contact_at == old.occurred_at
    # An off-site `next` is ignored.
    evil = staff.post(f"/kontakte/aktivitaeten/{old.id}/loeschen?next=https://evil.example/")
    assert evil.headers["Location"] == f"/kontakte/organisationen/{org.id}"


# --- merge --------------------------------------------------------------------------------------


def test_people_are_merged_through_the_ui_with_their_activities_and_an_audit_entry(
    db_session, staff
):
    org = make_org(db_session)
    keep = make_person(db_session, email="j.mueller@example.org", org=org)
    drop = make_person(
        db_session, first_name="Juergen", last_name="Mueller", phone="0391 123", tags=["Messe"]
    )
    service.log_activity(db_session, kind="call", subject="Beim Duplikat", person=drop)
    db_session.commit()
    drop_id = drop.id
    chooser = staff.get(f"/kontakte/personen/{keep.id}/zusammenfuehren?q={drop.id}")
    assert f'/kontakte/personen/{keep.id}/zusammenfuehren/{drop.id}"' in chooser.get_data(
        as_text=True
    )
    by_name = staff.get(f"/kontakte/personen/{keep.id}/zusammenfuehren?q=mueller").get_data(
        as_text=True
    )
    assert f"/zusammenfuehren/{drop.id}" in by_name
    assert f"/zusammenfuehren/{keep.id}" not in by_name
    confirm = staff.get(f"/kontakte/personen/{keep.id}/zusammenfuehren/{drop.id}").get_data(
        as_text=True
    )
    assert "j.mueller@example.org" in confirm
    assert "0391 123" in confirm
    response = staff.post(
        f"/kontakte/personen/{keep.id}/zusammenfuehren/{drop.id}", data={"keep": str(keep.id)}
    )
    assert response.headers["Location"] == f"/kontakte/personen/{keep.id}"
    db_session.expire_all()
    assert db_session.get(Person, drop_id) is None
    kept = db_session.get(Person, keep.id)
    assert kept.phone == "0391 123"
    assert [t.name for t in kept.tags] == ["Messe"]
    assert db_session.scalar(sa.select(Activity.person_id)) == keep.id
    assert "merge" in audit_actions(db_session, "person", keep.id)


def test_organisations_are_merged_keeping_the_one_chosen(db_session, staff):
    first = make_org(db_session, name="Müller Bau")
    second = make_org(db_session, name="Mueller Bau GmbH", phone="0391 1")
    make_person(db_session, org=first)
    db_session.commit()
    first_id = first.id
    response = staff.post(
        f"/kontakte/organisationen/{first.id}/zusammenfuehren/{second.id}",
        data={"keep": str(second.id)},
    )
    assert response.headers["Location"] == f"/kontakte/organisationen/{second.id}"
    db_session.expire_all()
    assert db_session.get(Organisation, first_id) is None
    assert len(db_session.get(Organisation, second.id).affiliations) == 1


def test_a_record_cannot_be_merged_with_itself(db_session, staff):
    org = make_org(db_session)
    db_session.commit()
    assert (
        staff.post(
            f"/kontakte/organisationen/{org.id}/zusammenfuehren/{org.id}",
            data={"keep": str(org.id)},
        ).status_code
        == 404
    )


# --- export -------------------------------------------------------------------------------------


def _export_fixture(session):
    make_org(session, name="=cmd|' /C calc'!A0", city="+Magdeburg", tags=["Messe"])
    make_org(session, name="Bäckerei Schäfer", tags=["Messe"])
    make_org(session, name="Nicht im Filter")
    session.commit()


def test_the_csv_export_has_a_bom_semicolons_the_current_filter_and_no_formulas(db_session, staff):
    _export_fixture(db_session)
    response = staff.get("/kontakte/organisationen/export.csv?schlagwort=Messe&sortierung=name")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.search(
        r'filename="organisationen-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"]
    )
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 3  # header + the two tagged organisations
    names = [r[1] for r in rows[1:]]
    # In dictionary order punctuation does not count: "=cmd…" sorts as "cmd", after "B".
    assert names == ["Bäckerei Schäfer", "'=cmd|' /C calc'!A0"]
    assert "'+Magdeburg" in rows[2]
    entry = db_session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "export"))
    assert (entry.entity_type, entry.actor_id) == ("organisation", staff.user.id)
    assert entry.summary.startswith("2 rows")


def test_the_xlsx_export_opens_in_openpyxl_and_holds_no_formula_cell(db_session, staff):
    _export_fixture(db_session)
    response = staff.get("/kontakte/organisationen/export.xlsx?schlagwort=Messe")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3
    assert {r[1] for r in rows[1:]} == {"'=cmd|' /C calc'!A0", "Bäckerei Schäfer"}
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_the_person_export_lists_their_organisations(db_session, staff):
    org = make_org(db_session)
    make_person(db_session, org=org, function="Personal")
    db_session.commit()
    body = staff.get("/kontakte/personen/export.csv").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body), delimiter=";"))
    assert "Müller Bau GmbH (Personal)" in rows[1]


def test_a_person_downloads_as_a_vcard(db_session, staff):
    org = make_org(db_session, street="Breiter Weg 1")
    person = make_person(
        db_session, org=org, function="Personal", email="j@example.org", salutation="herr"
    )
    db_session.commit()
    response = staff.get(f"/kontakte/personen/{person.id}/vcard")
    assert response.headers["Content-Type"] == "text/vcard; charset=utf-8"
    text = response.get_data().decode("utf-8")
    assert text.startswith("BEGIN:VCARD\r\n")
    assert "N:Müller;Jürgen;;Herr;" in text
    assert "ORG:Müller Bau GmbH" in text
    assert "TITLE:Personal" in text
    assert "EMAIL;TYPE=INTERNET:j@example.org" in text
    assert "export" in audit_actions(db_session, "person", person.id)


def _vcards(text: str) -> list:
    """Every vCard in text as vobject (an independent reader) parses and validates it."""
    import vobject

    cards = list(vobject.readComponents(text, validate=True))
    for card in cards:
        card.validate(raiseException=True)
    return cards


def _person_with_two_current_organisations(session):
    first = make_org(session, street="Breiter Weg 1")
    second = make_org(session, name="Handwerkskammer Magdeburg", postcode="39106")
    former = make_org(session, name="Alte Firma KG")
    person = make_person(
        session, org=first, function="Personal", notes="Rückruf erbeten; nur vormittags"
    )
    service.add_affiliation(session, person, second, function="Prüfer")
    yesterday = datetime.now(UTC).date() - timedelta(days=2)
    service.add_affiliation(session, person, former, function="Azubi", until=yesterday)
    session.commit()
    return person


def test_a_persons_vcard_holds_every_current_organisation_and_the_notes(db_session, staff):
    person = _person_with_two_current_organisations(db_session)
    text = staff.get(f"/kontakte/personen/{person.id}/vcard").get_data(as_text=True)
    (card,) = _vcards(text)
    assert sorted(o.value[0] for o in card.contents["org"]) == [
        "Handwerkskammer Magdeburg",
        "Müller Bau GmbH",
    ]
    assert sorted(t.value for t in card.contents["title"]) == ["Personal", "Prüfer"]
    assert card.note.value == "Rückruf erbeten; nur vormittags"
    assert {a.value.country for a in card.contents["adr"]} == {"Deutschland"}


def test_a_vcard_leaves_out_future_organisations_and_falls_back_to_the_last_employer(
    db_session,
):
    today = datetime.now(UTC).date()
    person = make_person(db_session)
    earlier = make_org(db_session, name="Frühere GmbH")
    later = make_org(db_session, name="Letzte GmbH")
    future = make_org(db_session, name="Künftige GmbH")
    service.add_affiliation(db_session, person, earlier, until=today - timedelta(days=400))
    service.add_affiliation(db_session, person, later, until=today - timedelta(days=30))
    service.add_affiliation(db_session, person, future, since=today + timedelta(days=30))
    db_session.commit()
    (card,) = _vcards(service.person_card(person, today=today))
    assert [o.value[0] for o in card.contents["org"]] == ["Letzte GmbH"]


def test_the_bulk_vcard_export_holds_one_valid_card_per_listed_person(db_session, staff):
    _person_with_two_current_organisations(db_session)
    make_person(db_session, first_name="Zweite", last_name="Person", notes="")
    db_session.commit()
    response = staff.get("/kontakte/personen/export.vcf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/vcard; charset=utf-8"
    cards = {c.fn.value: c for c in _vcards(response.get_data(as_text=True))}
    assert set(cards) == {"Jürgen Müller", "Zweite Person"}
    assert len(cards["Jürgen Müller"].contents["org"]) == 2
    assert cards["Jürgen Müller"].note.value == "Rückruf erbeten; nur vormittags"
    assert "org" not in cards["Zweite Person"].contents
    assert "export" in audit_actions(db_session, "person")


# --- permissions --------------------------------------------------------------------------------


@pytest.fixture
def records(db_session):
    org = make_org(db_session)
    other_org = make_org(db_session, name="Zweite GmbH")
    person = make_person(db_session, org=org)
    other = make_person(db_session, first_name="Zweite", last_name="Person")
    db_session.commit()
    return {"org": org.id, "org2": other_org.id, "person": person.id, "person2": other.id}


# route (GET) -> roles that may open it; everyone else logged in gets 403.
ROUTE_TABLE = {
    "/kontakte/": set(ROLES),
    "/kontakte/organisationen": set(ROLES),
    "/kontakte/personen": set(ROLES),
    "/kontakte/organisationen/{org}": set(ROLES),
    "/kontakte/personen/{person}": set(ROLES),
    "/kontakte/organisationen/neu": EDITORS,
    "/kontakte/personen/neu": EDITORS,
    "/kontakte/organisationen/{org}/bearbeiten": EDITORS,
    "/kontakte/personen/{person}/bearbeiten": EDITORS,
    "/kontakte/organisationen/{org}/loeschen": EDITORS,
    "/kontakte/personen/{person}/loeschen": EDITORS,
    "/kontakte/organisationen/{org}/aktivitaet": EDITORS,
    "/kontakte/personen/{person}/aktivitaet": EDITORS,
    "/kontakte/organisationen/export.csv": EDITORS,
    "/kontakte/organisationen/export.xlsx": EDITORS,
    "/kontakte/personen/export.csv": EDITORS,
    "/kontakte/personen/export.xlsx": EDITORS,
    "/kontakte/personen/{person}/vcard": EDITORS,
    "/kontakte/organisationen/{org}/zusammenfuehren": MERGERS,
    "/kontakte/organisationen/{org}/zusammenfuehren/{org2}": MERGERS,
    "/kontakte/personen/{person}/zusammenfuehren": MERGERS,
    "/kontakte/personen/{person}/zusammenfuehren/{person2}": MERGERS,
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(ROUTE_TABLE))
def test_role_gets_exactly_the_contact_routes_in_the_table(client_as, records, role, path):
    response = client_as(role).get(path.format(**records))
    expected = ROUTE_TABLE[path]
    if role in expected:
        assert response.status_code in (200, 302), f"{role} {path}"
    else:
        assert response.status_code == 403, f"{role} {path}"


@pytest.mark.parametrize("path", ["/kontakte/organisationen", "/kontakte/personen/{person}"])
def test_anonymous_visitors_are_sent_to_the_login_from_contacts(client, records, path):
    response = client.get(path.format(**records))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/anmelden?next=")


def test_read_only_users_see_no_edit_buttons_and_cannot_change_anything_by_post(
    db_session, client_as, records
):
    c = client_as("readonly")
    html = c.get(f"/kontakte/organisationen/{records['org']}").get_data(as_text=True)
    for marker in (
        'id="edit-record"',
        'id="log-activity"',
        'id="delete-record"',
        'id="merge-record"',
    ):
        assert marker not in html
    assert 'id="export-csv"' not in c.get("/kontakte/organisationen").get_data(as_text=True)
    posts = [
        ("/kontakte/organisationen/neu", ORG_FORM),
        (f"/kontakte/organisationen/{records['org']}/bearbeiten", ORG_FORM),
        (f"/kontakte/organisationen/{records['org']}/loeschen", {}),
        (f"/kontakte/personen/{records['person']}/loeschen", {}),
        (f"/kontakte/organisationen/{records['org']}/bedarf", {"occupation": "x", "count": "1"}),
        (f"/kontakte/personen/{records['person']}/aktivitaet", {"kind": "call", "subject": "x"}),
    ]
    for path, data in posts:
        assert c.post(path, data=data).status_code == 403, path
    assert db_session.get(Organisation, records["org"]).name == "Müller Bau GmbH"


def test_counsellors_cannot_merge_by_post(db_session, client_as, records):
    c = client_as("counsellor")
    response = c.post(
        f"/kontakte/personen/{records['person']}/zusammenfuehren/{records['person2']}",
        data={"keep": str(records["person"])},
    )
    assert response.status_code == 403
    assert db_session.get(Person, records["person2"]) is not None


def test_changes_without_a_csrf_token_are_refused(db_session, staff, records):
    response = staff.post(f"/kontakte/organisationen/{records['org']}/loeschen", csrf=False)
    assert response.status_code == 400
    assert db_session.get(Organisation, records["org"]) is not None


# --- query counts -------------------------------------------------------------------------------


def _queries_for(count_queries, client, path) -> int:
    with count_queries() as statements:
        assert client.get(path).status_code == 200
    assert statements, "the page ran no query: the counter is not listening"
    return len(statements)


def test_the_list_pages_run_the_same_number_of_queries_for_25_and_100_rows(
    count_queries, db_session, staff
):
    owners = [factories.make_user(db_session, role="staff") for _ in range(3)]
    for i in range(120):
        org = make_org(
            db_session,
            name=f"Firma {i:03d}",
            owner_id=owners[i % 3].id,
            tags=[f"Tag {i % 7}", "Messe"],
        )
        make_person(
            db_session,
            first_name=f"Vorname{i}",
            last_name=f"Name{i}",
            org=org,
            owner_id=owners[i % 3].id,
            tags=["Messe"],
        )
    db_session.commit()
    staff.get("/kontakte/organisationen")  # warm up caches (login, first connect)
    counts = {
        n: _queries_for(count_queries, staff, f"/kontakte/organisationen?pro_seite={n}")
        for n in (25, 100)
    }
    people = {
        n: _queries_for(count_queries, staff, f"/kontakte/personen?pro_seite={n}")
        for n in (25, 100)
    }
    assert counts[25] == counts[100], counts
    assert people[25] == people[100], people


def test_the_organisation_page_runs_the_same_number_of_queries_for_5_and_50_activities(
    count_queries, db_session, staff
):
    author = factories.make_user(db_session, role="counsellor")
    pages = {}
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for n in (5, 50):
        org = make_org(db_session, name=f"Firma {n}", owner_id=author.id, tags=["Messe"])
        person = make_person(db_session, last_name=f"Person {n}", org=org)
        service.add_need(db_session, org, occupation="Koch/Köchin", count=1)
        for i in range(n):
            service.log_activity(
                db_session,
                kind="call",
                occurred_at=t + timedelta(hours=i),
                user_id=author.id,
                subject=f"Aktivität {i}",
                person=person if i % 2 else None,
                organisation=None if i % 2 else org,
            )
        pages[n] = f"/kontakte/organisationen/{org.id}"
    db_session.commit()
    staff.get(pages[5])
    counts = {n: _queries_for(count_queries, staff, path) for n, path in pages.items()}
    assert counts[5] == counts[50], counts


def test_a_person_page_offers_a_follow_up_prefilled_with_the_person(client_as, db_session):
    from crm.contacts import service as contacts

    person = contacts.save_person(db_session, {"first_name": "Ida", "last_name": "Vorlage"})
    db_session.commit()
    c = client_as("counsellor")
    page = c.get(f"/kontakte/personen/{person.id}").get_data(as_text=True)
    assert f"/wiedervorlagen/neu?person_id={person.id}" in page
    assert "Wiedervorlage anlegen" in page
    assert "create-followup" not in client_as("readonly").get(
        f"/kontakte/personen/{person.id}"
    ).get_data(as_text=True)


def test_a_broad_search_stops_counting_at_the_limit(client_as, db_session, monkeypatch):
    from crm.contacts import service as contacts
    from crm.contacts import views

    monkeypatch.setattr(views, "SEARCH_COUNT_LIMIT", 3)
    for i in range(5):
        contacts.save_organisation(db_session, {"name": f"Hafen Logistik {i}", "kind": "employer"})
    db_session.commit()
    c = client_as("staff")
    body = c.get("/kontakte/organisationen?q=hafen").get_data(as_text=True)
    assert "Mehr als 3 Treffer" in body
    assert "Hafen Logistik 4" in body or "Hafen Logistik 0" in body
    exact = c.get("/kontakte/organisationen?q=hafen+logistik+4").get_data(as_text=True)
    assert "Mehr als" not in exact
